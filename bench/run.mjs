#!/usr/bin/env node
// hoard benchmark harness: times hoard against its peers (find, rclone, sha256sum, b3sum)
// on the shared deterministic corpus, checks correctness and robustness, and writes
// bench/RESULTS.md and bench/results.json.
//
//   npm run bench                       # builds, then: node bench/run.mjs
//   node bench/run.mjs [--runs N] [--only M2,M4b] [--quick]
//
//   --runs N   timed runs per command after one warm-up (default 5); the median is reported
//   --only L   comma-separated ids (M1 M2 M3 M4a M4b M4c M5 M6 M7; "M4" = M4a,M4b,M4c)
//   --quick    10,000-file small tree only (corpus-quick/), media-dependent parts skipped
//
// Environment: HOARD_BENCH_DIR (work dir, default bench/.work, git-ignored; <dir>/corpus may
// be a symlink to an existing corpus), HOARD_CORPUS_GEN (path to make-corpus.mjs).
//
// Only ratios measured side by side mean anything on a shared machine, so every comparison
// runs hoard and its peers in the same process, interleaved round by round.
// Exit status: 0 when the report was written (even if targets fail), 1 on a correctness
// failure (M1) or a crash.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

// ---------- paths and options ----------

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH);
const BIN = path.join(REPO, 'node_modules', '.bin');
const WORK = path.resolve(process.env.HOARD_BENCH_DIR || path.join(BENCH, '.work'));
const CORPUS_GEN = path.resolve(process.env.HOARD_CORPUS_GEN || path.join(REPO, '..', 'shared', 'bench', 'make-corpus.mjs'));

const ALL_IDS = ['M1', 'M2', 'M3', 'M4a', 'M4b', 'M4c', 'M5', 'M6', 'M7'];
const opts = parseArgs(process.argv.slice(2));

// The tools under test first on PATH, then the node running this script (the tools'
// `#!/usr/bin/env node` and the `node -e 0` baseline then use the same node).
const ENV = {
  ...process.env,
  PATH: [BIN, path.dirname(process.execPath), process.env.PATH].filter(Boolean).join(':'),
  HOARD_NO_PROGRESS: '1',
  // Never touch the user's ~/.cache/hoard; items that care set their own.
  XDG_CACHE_HOME: path.join(WORK, 'cache-default'),
};
const TMP = path.join(WORK, 'tmp');

// Filled in by main(); SMALL/MEDIA are real paths so find and hoard report the same names.
let SMALL, MEDIA, CORPUS_DIR;
const missingTools = new Set();
const results = [];
let correctnessFailed = false;

function parseArgs(argv) {
  const o = { runs: 5, only: null, quick: false };
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s);
    const next = () => (value !== undefined ? value : argv[++i]);
    if (flag === '--quick') o.quick = true;
    else if (flag === '--runs') o.runs = Number(next());
    else if (flag === '--only') o.only = String(next() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    else if (flag === '--help' || flag === '-h') {
      const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else usage(`unknown argument ${argv[i]}`);
  }
  if (!(Number.isInteger(o.runs) && o.runs > 0)) usage('--runs takes a whole number above 0');
  if (o.only) {
    const wanted = o.only.map((s) => s.toLowerCase());
    o.ids = ALL_IDS.filter((id) => wanted.some((w) => id.toLowerCase() === w || id.toLowerCase().startsWith(w)));
    if (!o.ids.length) usage(`--only matches nothing; ids: ${ALL_IDS.join(', ')}`);
  } else o.ids = ALL_IDS;
  return o;
}

function usage(msg) {
  process.stderr.write(`bench: ${msg} (see node bench/run.mjs --help)\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`${msg}\n`);
/** Single-quote for bash. */
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** The first non-empty stderr line, shortened: what went wrong, in one line for the table. */
const firstLine = (s, n = 160) => (String(s).split('\n').find((l) => l.trim()) ?? '').trim().slice(0, n);
const head = (s, n = 600) => (s.length > n ? s.slice(0, n) + '…' : s).trim();
function tempDir(prefix) {
  fs.mkdirSync(TMP, { recursive: true });
  return fs.mkdtempSync(path.join(TMP, prefix));
}

// ---------- running and timing ----------

/**
 * Run `cmd` through `bash -o pipefail -c` (so a failing `hoard scan` in a pipeline is not
 * hidden by the last command). Wall time covers spawn to close, the same for every side.
 * stdout goes to /dev/null unless captured; stderr is kept (its start) for diagnostics.
 */
function runOnce(cmd, { env = ENV, capture = false, stdinFile, cwd = WORK } = {}) {
  return new Promise((resolve, reject) => {
    const stdinFd = stdinFile ? fs.openSync(stdinFile, 'r') : 'ignore';
    const t0 = process.hrtime.bigint();
    const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { env, cwd, stdio: [stdinFd, capture ? 'pipe' : 'ignore', 'pipe'] });
    if (typeof stdinFd === 'number') fs.closeSync(stdinFd);
    const out = [];
    let err = '';
    child.stdout?.on('data', (d) => out.push(d));
    // Keep the start of stderr: the first error says what went wrong; a flood adds nothing.
    child.stderr.on('data', (d) => {
      if (err.length < 1 << 16) err += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ code: code ?? 128, signal, seconds, stdout: capture ? Buffer.concat(out).toString('utf8') : '', stderr: err });
    });
  });
}

/**
 * Time several commands side by side: one warm-up each (page cache, and tells us whether it
 * works at all; one that fails is dropped and reported), then `runs` rounds that run every
 * command once, round-robin, so machine noise lands on all sides alike. Median per command.
 * Each entry: { key, cmd, env?: object | () => object (called per run, e.g. a fresh cache) }.
 */
async function timeCommands(entries, { runs = opts.runs } = {}) {
  const out = {};
  const envOf = (e) => (typeof e.env === 'function' ? e.env() : e.env ?? ENV);
  for (const e of entries) {
    log(`  warm-up  ${e.key}: ${e.cmd}`);
    const r = await runOnce(e.cmd, { env: envOf(e) });
    out[e.key] = { cmd: e.cmd, times: [], warmup: r.seconds, ok: r.code === 0, code: r.code, stderr: head(r.stderr) };
  }
  const live = entries.filter((e) => out[e.key].ok);
  for (let round = 1; round <= runs; round++) {
    for (const e of live) {
      const r = await runOnce(e.cmd, { env: envOf(e) });
      const o = out[e.key];
      if (r.code !== 0) Object.assign(o, { ok: false, code: r.code, stderr: head(r.stderr) });
      o.times.push(r.seconds);
    }
    log(`  round ${round}/${runs}: ${live.map((e) => `${e.key} ${out[e.key].times.at(-1).toFixed(3)}s`).join(', ')}`);
  }
  for (const o of Object.values(out)) o.median = o.times.length ? median(o.times) : null;
  return out;
}

/** The helper for a single command. */
async function timeCommand(cmd, { env, runs } = {}) {
  return (await timeCommands([{ key: 'cmd', cmd, env }], { runs })).cmd;
}

// ---------- results ----------

/**
 * A hoard-vs-peer row. kind 'time': ratio = hoard / peer (lower is better, target is a max);
 * kind 'throughput': ratio = peer / hoard (higher is better, target is a min).
 */
function addComparison({ id, name, hoard, peer, peerName, kind = 'time', target, note = '' }) {
  const row = { id, name, kind, hoardCmd: hoard?.cmd, hoardSeconds: hoard?.median ?? null, hoardTimes: hoard?.times ?? [], peerName, peerCmd: peer?.cmd, peerSeconds: peer?.median ?? null, peerTimes: peer?.times ?? [], ratio: null, target: target ?? null, status: 'SKIP', note };
  if (hoard && !hoard.ok) {
    row.status = 'FAIL';
    row.note = `hoard exited ${hoard.code}: ${firstLine(hoard.stderr)}`;
  } else if (peer && !peer.ok) {
    row.status = 'ERROR';
    row.note = `${peerName} exited ${peer.code}: ${firstLine(peer.stderr)}`;
  } else if (hoard && peer) {
    row.ratio = kind === 'time' ? hoard.median / peer.median : peer.median / hoard.median;
    if (target == null) row.status = 'info';
    else row.status = (kind === 'time' ? row.ratio <= target : row.ratio >= target) ? 'PASS' : 'FAIL';
  }
  results.push(row);
  return row;
}

function addCheck({ id, name, pass, note = '', details, hoardSeconds = null, peerName, peerSeconds = null, value = null, target = null }) {
  const row = { id, name, kind: 'check', status: pass ? 'PASS' : 'FAIL', note, hoardSeconds, peerName, peerSeconds, value, target, details };
  results.push(row);
  return row;
}

function skip(id, name, note) {
  results.push({ id, name, kind: 'check', status: 'SKIP', note });
}

function needTools(id, name, tools) {
  const missing = tools.filter((t) => missingTools.has(t));
  if (missing.length) skip(id, name, `skipped: ${missing.join(', ')} not installed`);
  return missing.length === 0;
}

// ---------- measurements ----------

/** M1: every line is JSON, and the (absolute path -> sha256) set equals sha256sum's, exactly. */
async function m1Correctness() {
  const name = 'M1 scan|hash --no-cache == find|xargs sha256sum';
  if (!needTools('M1', name, ['find', 'xargs', 'sha256sum'])) return;
  const dirs = MEDIA ? [SMALL, MEDIA] : [SMALL];
  const hoardOut = path.join(WORK, 'm1-hoard.jsonl');
  const peerOut = path.join(WORK, 'm1-sha256sum.txt');
  const dirArgs = dirs.map(q).join(' ');
  log(`M1: hoard scan ${dirs.join(' ')} | hoard hash --no-cache`);
  const h = await runOnce(`hoard scan ${dirArgs} | hoard hash --no-cache > ${q(hoardOut)}`);
  log(`M1: find | xargs -0 sha256sum`);
  const p = await runOnce(`find ${dirArgs} -type f -print0 | xargs -0 sha256sum > ${q(peerOut)}`);

  const problems = [];
  if (h.code !== 0) problems.push(`hoard exited ${h.code}: ${firstLine(h.stderr)}`);
  if (p.code !== 0) problems.push(`find|sha256sum exited ${p.code}: ${firstLine(p.stderr)}`);

  // hoard side: absolute path = root + '/' + path; symlinks are not regular files (find -type f skips them).
  const hoard = new Map();
  const types = {};
  let badJson = 0, noHash = 0, dupPaths = 0, symlinks = 0, lines = 0;
  const firstBad = [];
  for await (const line of readline.createInterface({ input: fs.createReadStream(hoardOut), crlfDelay: Infinity })) {
    lines++;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch {
      badJson++;
      if (firstBad.length < 3) firstBad.push(`line ${lines}: ${line.slice(0, 80)}`);
      continue;
    }
    const type = rec && typeof rec === 'object' && !Array.isArray(rec) ? String(rec.type) : '(not an object)';
    types[type] = (types[type] ?? 0) + 1;
    if (type !== 'file') continue;
    if (rec.kind === 'symlink') { symlinks++; continue; }
    const abs = `${rec.root}/${rec.path}`;
    const m = /^sha256:([0-9a-f]{64})$/.exec(String(rec.hash ?? ''));
    if (!m) noHash++;
    if (hoard.has(abs)) dupPaths++;
    hoard.set(abs, m ? m[1] : null);
  }

  // sha256sum side: "HEX  PATH"; a leading backslash means PATH has \\ / \n escapes.
  const peer = new Map();
  let peerLines = 0, peerUnparsed = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(peerOut), crlfDelay: Infinity })) {
    peerLines++;
    const m = /^(\\?)([0-9a-f]{64}) [ *](.*)$/s.exec(line);
    if (!m) { peerUnparsed++; continue; }
    const p2 = m[1] ? m[3].replace(/\\(\\|n)/g, (_, c) => (c === 'n' ? '\n' : '\\')) : m[3];
    peer.set(p2, m[2]);
  }

  let missing = 0, extra = 0, differ = 0;
  const examples = [];
  for (const [p2, hex] of peer) {
    if (!hoard.has(p2)) { missing++; if (examples.length < 5) examples.push(`missing: ${p2}`); }
    else if (hoard.get(p2) !== hex) { differ++; if (examples.length < 5) examples.push(`differs: ${p2}`); }
  }
  for (const p2 of hoard.keys()) if (!peer.has(p2)) { extra++; if (examples.length < 5) examples.push(`extra: ${p2}`); }

  if (badJson) problems.push(`${badJson} stdout lines are not JSON (${firstBad.join('; ')})`);
  if (noHash) problems.push(`${noHash} file records without a sha256 hash`);
  if (dupPaths) problems.push(`${dupPaths} paths listed twice`);
  if (peerUnparsed) problems.push(`${peerUnparsed} sha256sum lines not understood`);
  if (missing || extra || differ) problems.push(`${missing} missing, ${extra} extra, ${differ} different hashes (${examples.join('; ')})`);

  const counts = `hoard: ${lines} lines (${Object.entries(types).map(([t, n]) => `${n} ${t}`).join(', ')}${symlinks ? `; ${symlinks} symlinks not compared` : ''}); sha256sum: ${peerLines} files`;
  const pass = problems.length === 0;
  // Keep the two outputs only when they disagree, for inspection.
  if (!pass) correctnessFailed = true;
  else for (const f of [hoardOut, peerOut]) fs.rmSync(f, { force: true });
  addCheck({
    id: 'M1', name, pass, hoardSeconds: h.seconds, peerName: 'find|xargs sha256sum', peerSeconds: p.seconds,
    note: pass ? `${counts}; identical` : `${counts}; ${problems.join('; ')}`,
    details: { hoardLines: lines, types, hoardFiles: hoard.size, peerFiles: peerLines, missing, extra, differ, badJson, noHash, hoardSeconds: h.seconds, peerSeconds: p.seconds, dirs },
  });
}

/** M2: listing speed against find (the floor) and rclone lsjson (a peer that also emits JSON). */
async function m2Scan() {
  const entries = [{ key: 'hoard', cmd: `hoard scan ${q(SMALL)}` }];
  if (!missingTools.has('find')) entries.push({ key: 'find', cmd: `find ${q(SMALL)} -type f -printf '%s %T@ %p\\n'` });
  if (!missingTools.has('rclone')) entries.push({ key: 'rclone', cmd: `rclone lsjson -R --files-only ${q(SMALL)}` });
  log('M2: scan of small');
  const t = await timeCommands(entries);
  if (t.find) addComparison({ id: 'M2', name: 'M2 scan small vs find -printf', hoard: t.hoard, peer: t.find, peerName: 'find -printf', target: 2.5 });
  else skip('M2', 'M2 scan small vs find -printf', 'skipped: find not installed');
  if (t.rclone) addComparison({ id: 'M2', name: 'M2 scan small vs rclone lsjson', hoard: t.hoard, peer: t.rclone, peerName: 'rclone lsjson -R', target: 0.6 });
  else skip('M2', 'M2 scan small vs rclone lsjson', 'skipped: rclone not installed');
}

/** M3: sha256 throughput against sha256sum; the fastest other algo against b3sum. */
async function m3Media() {
  if (!MEDIA) {
    skip('M3', 'M3 sha256 of media vs sha256sum', 'skipped: no media tree (--quick)');
    skip('M3', 'M3 fastest algo vs b3sum', 'skipped: no media tree (--quick)');
    return;
  }
  const scan = `hoard scan ${q(MEDIA)}`;
  const files = `${q(MEDIA)}/*/*`;

  if (needTools('M3', 'M3 sha256 of media vs sha256sum', ['sha256sum'])) {
    log('M3: sha256 of media');
    const t = await timeCommands([
      { key: 'hoard', cmd: `${scan} | hoard hash --no-cache` },
      { key: 'sha256sum', cmd: `sha256sum ${files}` },
    ]);
    addComparison({ id: 'M3', name: 'M3 sha256 of media vs sha256sum', kind: 'throughput', hoard: t.hoard, peer: t.sha256sum, peerName: 'sha256sum', target: 2.5 });
  }

  const name = 'M3 fastest algo vs b3sum';
  if (!needTools('M3', name, ['b3sum'])) return;
  log('M3: fast algorithms of media');
  const algos = ['xxh3', 'xxh64', 'blake3'];
  const t = await timeCommands([
    ...algos.map((a) => ({ key: a, cmd: `${scan} | hoard hash --no-cache --algo ${a}` })),
    { key: 'b3sum', cmd: `b3sum ${files}` },
  ]);
  const failed = algos.filter((a) => !t[a].ok);
  const okAlgos = algos.filter((a) => t[a].ok).sort((a, b) => t[a].median - t[b].median);
  const failNote = failed.map((a) => `--algo ${a} skipped (exit ${t[a].code}: ${firstLine(t[a].stderr, 100)})`).join('; ');
  if (!okAlgos.length) {
    addCheck({ id: 'M3', name, pass: false, peerName: 'b3sum', peerSeconds: t.b3sum.median, note: `every algo failed; ${failNote}` });
    return;
  }
  const best = okAlgos[0];
  addComparison({ id: 'M3', name: `M3 fastest algo (${best}) vs b3sum`, kind: 'throughput', hoard: t[best], peer: t.b3sum, peerName: 'b3sum', target: 0.33, note: failNote });
  for (const a of okAlgos.slice(1)) addComparison({ id: 'M3', name: `M3 --algo ${a} vs b3sum`, kind: 'throughput', hoard: t[a], peer: t.b3sum, peerName: 'b3sum' });
}

/** M4a: a first hash of small, cache empty every run, against find|xargs sha256sum. */
async function m4aFirstRun() {
  const name = 'M4a scan|hash small, cold cache vs find|xargs sha256sum';
  if (!needTools('M4a', name, ['find', 'xargs', 'sha256sum'])) return;
  log('M4a: first run with an empty cache');
  const caches = [];
  // A new empty XDG_CACHE_HOME per run: every timed run is a true first run.
  const fresh = () => {
    const d = tempDir('m4a-cache-');
    caches.push(d);
    return { ...ENV, XDG_CACHE_HOME: d };
  };
  const t = await timeCommands([
    { key: 'hoard', cmd: `hoard scan ${q(SMALL)} | hoard hash`, env: fresh },
    { key: 'sha256sum', cmd: `find ${q(SMALL)} -type f -print0 | xargs -0 sha256sum` },
  ]);
  for (const d of caches) fs.rmSync(d, { recursive: true, force: true });
  addComparison({ id: 'M4a', name, hoard: t.hoard, peer: t.sha256sum, peerName: 'find|xargs sha256sum', target: 0.8 });
}

/** One cache primed by a full hash of small, shared by M4b and M7 (primed once per run of this script). */
const WARM_CACHE = path.join(WORK, 'cache-warm');
let warmCacheReady = null;
function ensureWarmCache() {
  warmCacheReady ??= (async () => {
    fs.rmSync(WARM_CACHE, { recursive: true, force: true });
    fs.mkdirSync(WARM_CACHE, { recursive: true });
    log('  priming the hash cache (hoard scan small | hoard hash)');
    const r = await runOnce(`hoard scan ${q(SMALL)} | hoard hash`, { env: { ...ENV, XDG_CACHE_HOME: WARM_CACHE } });
    if (r.code !== 0) throw new Error(`priming the cache failed (exit ${r.code}): ${head(r.stderr)}`);
  })();
  return warmCacheReady;
}

/** M4b: with a warm cache, hashing should cost little more than listing. */
async function m4bWarmRun() {
  log('M4b: second run with a warm cache');
  await ensureWarmCache();
  const env = { ...ENV, XDG_CACHE_HOME: WARM_CACHE };
  const t = await timeCommands([
    { key: 'hoard', cmd: `hoard scan ${q(SMALL)} | hoard hash`, env },
    { key: 'scan', cmd: `hoard scan ${q(SMALL)}`, env },
  ]);
  addComparison({ id: 'M4b', name: 'M4b scan|hash small, warm cache vs scan alone', hoard: t.hoard, peer: t.scan, peerName: 'hoard scan', target: 1.2 });
}

/**
 * M4c: the racy case. A file rewritten with the same size and its mtime put back exactly
 * must not get its old hash from the cache. The mtime is set to a whole second first (at
 * the start of a fresh second, so write, hash and rewrite share it): a whole second is the
 * one value utimes can restore to the nanosecond, so nothing but the content changes
 * in size/mtime (ctime does change; the kernel leaves no way to restore it).
 */
async function m4cRacy() {
  const name = 'M4c racy rewrite (same size, same mtime) rehashed';
  log('M4c: racy rewrite');
  const dir = tempDir('m4c-');
  const env = { ...ENV, XDG_CACHE_HOME: tempDir('m4c-cache-') };
  const f = path.join(dir, 'f');
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  const before = crypto.randomBytes(4096);
  fs.writeFileSync(f, before);
  const sec = Math.floor(Date.now() / 1000);
  fs.utimesSync(f, sec, sec);
  const st = fs.statSync(f);
  const stNs = fs.statSync(f, { bigint: true });

  const hashOf = async () => {
    const r = await runOnce(`hoard scan ${q(dir)} | hoard hash`, { env, capture: true });
    const rec = r.stdout.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((x) => x?.type === 'file' && x.path === 'f');
    return { r, hash: rec?.hash };
  };
  const first = await hashOf();
  let after;
  do after = crypto.randomBytes(4096); while (after.equals(before));
  fs.writeFileSync(f, after);
  fs.utimesSync(f, st.atime, st.mtime);
  const stNs2 = fs.statSync(f, { bigint: true });
  const exact = stNs2.mtimeNs === stNs.mtimeNs && stNs2.size === stNs.size;
  const sameSecond = Math.floor(Date.now() / 1000) === sec;
  const second = await hashOf();

  const want1 = `sha256:${crypto.createHash('sha256').update(before).digest('hex')}`;
  const want2 = `sha256:${crypto.createHash('sha256').update(after).digest('hex')}`;
  const problems = [];
  if (first.r.code !== 0) problems.push(`first run exited ${first.r.code}: ${firstLine(first.r.stderr)}`);
  if (first.hash !== want1) problems.push(`first hash ${first.hash} != ${want1}`);
  if (second.r.code !== 0) problems.push(`second run exited ${second.r.code}: ${firstLine(second.r.stderr)}`);
  if (second.hash === want1) problems.push('second run reported the OLD content hash (stale cache)');
  else if (second.hash !== want2) problems.push(`second hash ${second.hash} != ${want2}`);
  addCheck({
    id: 'M4c', name, pass: problems.length === 0,
    note: [`size+mtime restored exactly: ${exact ? 'yes' : 'NO (test weaker)'}; rewrite in the same second: ${sameSecond ? 'yes' : 'no'}`, ...problems].join('; '),
    details: { exactRestore: exact, sameSecond, firstHash: first.hash, secondHash: second.hash, expected: want2 },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/** M5: start-up cost of a tool against bare node; short, so more runs. */
async function m5Startup() {
  log('M5: start-up');
  const t = await timeCommands([
    { key: 'hoard', cmd: 'hoard-hash --version' },
    { key: 'node', cmd: 'node -e 0' },
  ], { runs: Math.max(20, opts.runs) });
  addComparison({ id: 'M5', name: 'M5 hoard-hash --version vs node -e 0', hoard: t.hoard, peer: t.node, peerName: 'node -e 0', target: 1.5 });
}

/** M6: bad input on line 2 after a good line: clean message with the line number, no stack, good line still out. */
async function m6BadInput() {
  log('M6: bad input');
  const dir = tempDir('m6-');
  const env = { ...ENV, XDG_CACHE_HOME: tempDir('m6-cache-') };
  fs.mkdirSync(path.join(dir, 'tree'));
  fs.writeFileSync(path.join(dir, 'tree', 'good.txt'), 'hello, hoard\n');
  const scan = await runOnce(`hoard scan ${q(path.join(dir, 'tree'))}`, { capture: true, env });
  const goodLine = scan.stdout.split('\n').find((l) => { try { return JSON.parse(l).type === 'file'; } catch { return false; } });
  if (!goodLine) {
    addCheck({ id: 'M6', name: 'M6 bad input', pass: false, note: `could not get a file record from hoard scan (exit ${scan.code}: ${firstLine(scan.stderr)})` });
    return;
  }
  const good = JSON.parse(goodLine);
  const cases = [
    ['not json', 'not json'],
    ['[1,2]', '[1,2]'],
    ['path ../x', JSON.stringify({ ...good, path: '../x' })],
    ['path /etc/passwd', JSON.stringify({ ...good, path: '/etc/passwd' })],
  ];
  for (const [label, bad] of cases) {
    const input = path.join(dir, 'input.jsonl');
    fs.writeFileSync(input, `${goodLine}\n${bad}\n`);
    const r = await runOnce('hoard hash', { capture: true, stdinFile: input, env });
    const problems = [];
    if (r.code !== 1 && r.code !== 2) problems.push(`exit ${r.code} (want 1 or 2)`);
    if (!r.stderr.includes('stdin:2')) problems.push(`stderr lacks "stdin:2": ${JSON.stringify(firstLine(r.stderr, 150))}`);
    if (/^\s+at /m.test(r.stderr)) problems.push('stderr has a stack trace');
    let first;
    try { first = JSON.parse(r.stdout.split('\n')[0]); } catch { /* checked below */ }
    if (!(first && first.type === 'file' && typeof first.hash === 'string' && first.path === good.path)) problems.push(`first stdout line is not the hashed good record: ${JSON.stringify(r.stdout.split('\n')[0].slice(0, 100))}`);
    addCheck({
      id: 'M6', name: `M6 bad input: ${label}`, pass: problems.length === 0,
      note: problems.length ? problems.join('; ') : `exit ${r.code}; ${r.stderr.split('\n')[0].slice(0, 110)}`,
      details: { exit: r.code, stderr: head(r.stderr, 400) },
    });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/**
 * The M7 input: the small tree's file records, 10 times over (1,000,000 lines for the full
 * tree). Written once per corpus, streamed, never held in memory.
 */
async function bigRecordFile() {
  const file = path.join(WORK, `m7-${path.basename(CORPUS_DIR)}-records.jsonl`);
  const stamp = `${file}.ok`;
  const wantStamp = `${SMALL}\n`;
  if (fs.existsSync(file) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wantStamp) return file;
  log(`  writing ${file}`);
  const scanOut = path.join(WORK, 'm7-scan.jsonl');
  const once = path.join(WORK, 'm7-files-once.jsonl');
  const r = await runOnce(`hoard scan ${q(SMALL)} > ${q(scanOut)}`);
  if (r.code !== 0) throw new Error(`hoard scan for M7 failed (exit ${r.code}): ${head(r.stderr)}`);
  // Keep `type: file` lines only (no scan/note records), as they are.
  const w = fs.createWriteStream(once);
  for await (const line of readline.createInterface({ input: fs.createReadStream(scanOut), crlfDelay: Infinity })) {
    let type;
    try { type = JSON.parse(line).type; } catch { continue; }
    if (type === 'file' && !w.write(`${line}\n`)) await new Promise((res) => w.once('drain', res));
  }
  await new Promise((res, rej) => w.end((err) => (err ? rej(err) : res())));
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  for (let i = 0; i < 10; i++) await pipeline(fs.createReadStream(once), fs.createWriteStream(tmp, { flags: 'a' }));
  fs.renameSync(tmp, file);
  fs.rmSync(scanOut, { force: true });
  fs.rmSync(once, { force: true });
  fs.writeFileSync(stamp, wantStamp);
  return file;
}

async function countLines(file) {
  let n = 0;
  for await (const chunk of fs.createReadStream(file)) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/** M7: peak memory of streaming tools over a large input must stay flat (< 200 MB). */
async function m7Memory() {
  const TIME = '/usr/bin/time';
  const LIMIT_BYTES = 200e6;
  if (!fs.existsSync(TIME)) {
    skip('M7', 'M7 memory: hoard hash', `skipped: ${TIME} missing (install package \`time\`)`);
    skip('M7', 'M7 memory: hoard validate', `skipped: ${TIME} missing (install package \`time\`)`);
    return;
  }
  log('M7: memory over a large input');
  const big = await bigRecordFile();
  const records = await countLines(big);
  await ensureWarmCache();
  const env = { ...ENV, XDG_CACHE_HOME: WARM_CACHE };

  const measure = async (id, name, cmd) => {
    const out = path.join(WORK, 'm7-time.txt');
    fs.rmSync(out, { force: true });
    log(`  ${cmd} < ${path.basename(big)}`);
    const r = await runOnce(`${TIME} -f '%M %e' -o ${q(out)} ${cmd} < ${q(big)} > /dev/null`, { env });
    const [kb, secs] = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n').at(-1).split(' ').map(Number) : [NaN, NaN];
    const problems = [];
    if (r.code !== 0) problems.push(`exit ${r.code}: ${firstLine(r.stderr)}`);
    if (!Number.isFinite(kb)) problems.push('no %M figure from /usr/bin/time');
    const mb = (kb * 1024) / 1e6;
    addCheck({
      id, name, pass: problems.length === 0 && kb * 1024 < LIMIT_BYTES, hoardSeconds: Number.isFinite(secs) ? secs : r.seconds,
      value: Number.isFinite(kb) ? `${mb.toFixed(1)} MB` : null, target: '< 200 MB',
      note: [`peak RSS ${kb} KB over ${records.toLocaleString('en-US')} records`, ...problems].join('; '),
      details: { peakKB: kb, wallSeconds: secs, records, exit: r.code },
    });
  };
  await measure('M7', 'M7 memory: hoard hash (warm cache)', 'hoard hash');
  // hoard validate may land later than this harness: probe before measuring.
  const probe = await runOnce('hoard validate --help');
  if (probe.code !== 0 && !fs.existsSync(path.join(BIN, 'hoard-validate'))) skip('M7', 'M7 memory: hoard validate', 'skipped (tool missing)');
  else await measure('M7', 'M7 memory: hoard validate', 'hoard validate');
}

// ---------- setup ----------

/** The corpus: reuse <work>/corpus (or corpus-quick), generating whatever tree is missing. */
function ensureCorpus() {
  CORPUS_DIR = path.join(WORK, opts.quick ? 'corpus-quick' : 'corpus');
  const trees = opts.quick ? ['small'] : ['small', 'media'];
  const missing = trees.filter((t) => !fs.existsSync(path.join(CORPUS_DIR, t)));
  if (missing.length) {
    if (!fs.existsSync(CORPUS_GEN)) throw new Error(`corpus generator not found at ${CORPUS_GEN} (set HOARD_CORPUS_GEN)`);
    const args = ['gen', '--seed', '1', '--out', CORPUS_DIR];
    if (opts.quick) args.push('--only', 'small', '--small-files', '10000');
    // Generate only the missing tree(s): gen refuses to overwrite an existing one.
    const runs = opts.quick || missing.length === trees.length ? [args] : missing.map((t) => [...args, '--only', t]);
    for (const a of runs) {
      log(`generating corpus: node ${CORPUS_GEN} ${a.join(' ')}`);
      const r = spawnSync(process.execPath, [CORPUS_GEN, ...a], { stdio: ['ignore', 2, 2] });
      if (r.status !== 0) throw new Error(`corpus generation failed (exit ${r.status})`);
    }
  }
  SMALL = fs.realpathSync(path.join(CORPUS_DIR, 'small'));
  MEDIA = opts.quick ? null : fs.realpathSync(path.join(CORPUS_DIR, 'media'));
}

function checkTools() {
  for (const t of ['hoard', 'hoard-scan', 'hoard-hash']) {
    if (!fs.existsSync(path.join(BIN, t))) throw new Error(`${path.join(BIN, t)} missing: run npm install && npm run build (or npm run bench)`);
  }
  for (const t of ['find', 'rclone', 'sha256sum', 'b3sum', 'xargs']) {
    if (spawnSync('bash', ['-c', `command -v ${t}`], { env: ENV, stdio: 'ignore' }).status !== 0) missingTools.add(t);
  }
  if (missingTools.size) {
    log(`missing peer tools: ${[...missingTools].join(', ')}; \`bash scripts/install-deps.sh\` installs them. Comparisons needing them are skipped.`);
  }
}

function corpusSummary(dir) {
  if (!dir) return null;
  const r = spawnSync(process.execPath, [CORPUS_GEN, 'summary', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : dir;
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    cpu,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

// ---------- report ----------

const fmtS = (s) => (s == null ? '' : s.toFixed(3));
const fmtTarget = (r) => (r.target == null ? '' : typeof r.target === 'string' ? r.target : `${r.kind === 'throughput' ? '>=' : '<='} ${r.target}`);
const fmtRatio = (r) => (r.ratio != null ? r.ratio.toFixed(2) + (r.kind === 'throughput' ? 'x' : '') : r.value ?? '');

function printTable() {
  const rows = [['check', 'hoard s', 'peer s', 'ratio', 'target', 'result'], ...results.map((r) => [r.name, fmtS(r.hoardSeconds), fmtS(r.peerSeconds), fmtRatio(r), fmtTarget(r), r.status])];
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  process.stdout.write(`\n${line(rows[0])}\n${w.map((n) => '-'.repeat(n)).join('  ')}\n${rows.slice(1).map(line).join('\n')}\n`);
  const notes = results.filter((r) => r.note);
  if (notes.length) process.stdout.write(`\nnotes:\n${notes.map((r) => `  ${r.name}: ${r.note}`).join('\n')}\n\n`);
}

function writeReports(meta) {
  const md = [];
  const esc = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  md.push('# hoard benchmark results', '');
  md.push(`- date: ${meta.date}`);
  md.push(`- machine: ${meta.machine.nproc} cores (${meta.machine.cpu}), ${meta.machine.memoryGiB} GiB memory, node ${meta.machine.node}, ${meta.machine.os}`);
  md.push(`- run: \`node bench/run.mjs${meta.argv.length ? ' ' + meta.argv.join(' ') : ''}\`: median of ${meta.runs} timed runs after one warm-up (M5: ${Math.max(20, meta.runs)}), hoard and peers interleaved round by round`);
  md.push(`- corpus (make-corpus.mjs gen --seed 1${meta.quick ? ' --only small --small-files 10000' : ''}):`);
  if (meta.corpus.small) md.push(`  - small: ${meta.corpus.small}`);
  if (meta.corpus.media) md.push(`  - media: ${meta.corpus.media}`);
  if (meta.missingTools.length) md.push(`- missing peer tools (skipped): ${meta.missingTools.join(', ')}; \`bash scripts/install-deps.sh\` installs them`);
  if (meta.crash) md.push(`- **CRASHED**: ${esc(meta.crash)}`);
  md.push('', 'Ratios: time ratio = hoard / peer (target is a maximum); throughput ratio (marked x) = peer time / hoard time (target is a minimum).', '');
  md.push('| check | hoard s | peer | peer s | ratio | target | result | notes |', '|---|--:|---|--:|--:|--:|:-:|---|');
  for (const r of results) md.push(`| ${esc(r.name)} | ${fmtS(r.hoardSeconds)} | ${esc(r.peerName)} | ${fmtS(r.peerSeconds)} | ${esc(fmtRatio(r))} | ${esc(fmtTarget(r))} | ${r.status} | ${esc(r.note)} |`);
  const timed = results.filter((r) => r.hoardTimes?.length || r.peerTimes?.length);
  if (timed.length) {
    md.push('', '## Commands and all timings (seconds)', '');
    for (const r of timed) {
      md.push(`- ${r.name}`);
      if (r.hoardCmd) md.push(`  - hoard: \`${r.hoardCmd}\`: median ${fmtS(r.hoardSeconds)} (${r.hoardTimes.map(fmtS).join(', ')})`);
      if (r.peerCmd) md.push(`  - ${r.peerName}: \`${r.peerCmd}\`: median ${fmtS(r.peerSeconds)} (${r.peerTimes.map(fmtS).join(', ')})`);
    }
  }
  md.push('');
  fs.writeFileSync(path.join(BENCH, 'RESULTS.md'), md.join('\n'));
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify({ ...meta, correctnessFailed, results }, null, 2) + '\n');
}

// ---------- main ----------

const MEASUREMENTS = { M1: m1Correctness, M2: m2Scan, M3: m3Media, M4a: m4aFirstRun, M4b: m4bWarmRun, M4c: m4cRacy, M5: m5Startup, M6: m6BadInput, M7: m7Memory };

async function main() {
  const meta = { date: new Date().toISOString(), argv: process.argv.slice(2), runs: opts.runs, quick: opts.quick, only: opts.ids, machine: machine(), corpus: {}, missingTools: [], crash: null };
  let exitCode = 0;
  try {
    fs.mkdirSync(WORK, { recursive: true });
    checkTools();
    meta.missingTools = [...missingTools];
    ensureCorpus();
    meta.corpus = { dir: CORPUS_DIR, small: corpusSummary(SMALL), media: corpusSummary(MEDIA) };
    log(`corpus: ${SMALL}${MEDIA ? `, ${MEDIA}` : ''}; ${opts.runs} runs; ${opts.ids.join(' ')}`);
    for (const id of opts.ids) await MEASUREMENTS[id]();
  } catch (err) {
    meta.crash = String(err?.stack ?? err);
    log(`bench crashed: ${meta.crash}`);
    exitCode = 1;
  } finally {
    fs.rmSync(TMP, { recursive: true, force: true });
  }
  printTable();
  writeReports(meta);
  log(`\nwrote ${path.join(BENCH, 'RESULTS.md')} and results.json`);
  if (correctnessFailed) {
    log('CORRECTNESS FAILURE (M1): see notes');
    exitCode = 1;
  }
  process.exit(exitCode);
}

main();
