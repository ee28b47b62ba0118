#!/usr/bin/env node
// hoard benchmark harness: times hoard against its peers (find, rclone, sha256sum, b3sum,
// restic, git) on the shared deterministic corpus, checks correctness and robustness, and
// writes bench/RESULTS.md and bench/results.json.
//
//   npm run bench                       # builds, then: node bench/run.mjs
//   node bench/run.mjs [--runs N] [--only M2,M4b] [--quick]
//
//   --runs N   timed runs per command after one warm-up (default 5); the median is reported
//   --only L   comma-separated ids (M1 M2 M3 M4a M4b M4c M5 M6 M7 S1 S2 S3 S4 S7 P1 P2a P2b
//              P3a P3b B1a B1b B1c B2a B2b; a prefix takes every id it starts: "M4" =
//              M4a,M4b,M4c; "S" = every S item; "P" = every P item, "P3" = P3a,P3b; "B" = every
//              B item, "B1" = B1a,B1b,B1c). Rows of the items not run are carried over from the
//              previous results.json (same --quick), marked with their date.
//   --quick    10,000-file small tree only (corpus-quick/), media-dependent parts skipped;
//              S7 uses 100,000 records instead of 1,000,000
//
// S items (issue 3, repository state) work on <work>/state-small, a copy of the small tree
// (cp -a, made afresh when an item needs it pristine); mutations never touch the corpus.
//
// P items (issue 4: push, pull, sync) work under <work>/push: a source repository src (a cp -a
// copy of the small tree, then hoard init + hoard add, the way a commit precedes git push),
// its remotes (far-local: a repository by path; far-ssh: a repository over ssh to an OpenSSH
// server on 127.0.0.1 with a throwaway key, test/support/sshd.mjs; far-tree / far-blobs: rclone
// local backend, --layout tree / blobs), fresh repositories pulled into, and the peers' copies.
// RCLONE_CONFIG is an empty file there. P2b mutates src (mutate --seed 7); P3a/P3b then copy it
// afresh. P3a/P3b run min(--runs, 2) rounds (each run ~20-80 s, fresh destination, `sync`
// first). Everything under <work>/push is removed at the end.
//
// B items (issue 5: backup and restore) work under <work>/backup: src (a cp -a copy of the
// small tree), hoard's own XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_CACHE_HOME (the default vault
// is a folder, $XDG_DATA_HOME/hoard/vault), an empty RCLONE_CONFIG, and the peer's local restic
// repository (RESTIC_PASSWORD set, its own cache). One lineage: B1a times first backups (fresh
// vault and repository, `sync` first, min(--runs, 2) rounds; the last round's vault and
// repository are kept), B1b no-op backups of the unchanged tree, B1c mutates src (mutate --seed
// 7, ground truth by sha256sum before and after) and times ONE backup of each side (a mutation
// can be backed up only once), B2a restores the whole backed-up tree (min(--runs, 2) rounds,
// fresh target and `sync` first) and compares it with src (diff -r, permission bits, mtimes to
// the ms), B2b restores version 1 of 20 files that the mutation modified. An item run alone
// makes the state it needs first, untimed. Everything under <work>/backup is removed at the end.
//
// Environment: HOARD_BENCH_DIR (work dir, default bench/.work, git-ignored; <dir>/corpus may
// be a symlink to an existing corpus), HOARD_CORPUS_GEN (path to make-corpus.mjs).
//
// Only ratios measured side by side mean anything on a shared machine, so every comparison
// runs hoard and its peers in the same process, interleaved round by round.
// Exit status: 0 when the report was written (even if targets fail), 1 on a correctness
// failure (M1, S1, S4, P1, B2a, B2b) or a crash.

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

const ALL_IDS = ['M1', 'M2', 'M3', 'M4a', 'M4b', 'M4c', 'M5', 'M6', 'M7', 'S1', 'S2', 'S3', 'S4', 'S7', 'P1', 'P2a', 'P2b', 'P3a', 'P3b', 'B1a', 'B1b', 'B1c', 'B2a', 'B2b'];
/** Report sections: rows are grouped by the first letter of their id. */
const SECTIONS = [
  { prefix: 'M', title: null },
  { prefix: 'S', title: 'Issue 3: Repository state' },
  { prefix: 'P', title: 'Issue 4: push, pull, sync' },
  { prefix: 'B', title: 'Issue 5: backup and restore' },
];
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
/** Ids of failed correctness checks (M1, S1, S4, P1, B2a, B2b): the exit status is 1 when there are any. */
const correctnessFailures = new Set();

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
/** The last non-empty stderr line, shortened: where a failing hoard command says why it gave up. */
const lastLine = (s, n = 240) => (String(s).split('\n').filter((l) => l.trim()).at(-1) ?? '').trim().slice(0, n);
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
    // The command runs in a subshell; bash's `times` then says, on fd 3, the CPU time of every
    // process it and its descendants waited for (hoard's chain of tools, rclone's threads alike).
    const script = `(\n${cmd}\n)\n__status=$?; times >&3; exit $__status`;
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { env, cwd, stdio: [stdinFd, capture ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (typeof stdinFd === 'number') fs.closeSync(stdinFd);
    const out = [];
    let err = '';
    let tail = '';
    let times = '';
    child.stdio[3].on('data', (d) => (times += d));
    child.stdout?.on('data', (d) => out.push(d));
    // Keep the start of stderr: the first error says what went wrong; a flood adds nothing.
    child.stderr.on('data', (d) => {
      if (err.length < 1 << 16) err += d;
      tail = (tail + d).slice(-4096);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ code: code ?? 128, signal, seconds, cpu: childrenCpu(times), stdout: capture ? Buffer.concat(out).toString('utf8') : '', stderr: err, stderrTail: tail });
    });
  });
}

/** User and system CPU seconds of the children, from bash's `times` (its second line: `0m1.234s 0m0.567s`). */
function childrenCpu(times) {
  const m = times.split('\n')[1]?.match(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s/);
  return m ? { user: +m[1] * 60 + +m[2], sys: +m[3] * 60 + +m[4] } : null;
}

/**
 * Time several commands side by side: one warm-up each (page cache, and tells us whether it
 * works at all; one that fails is dropped and reported), then `runs` rounds that run every
 * command once, round-robin, so machine noise lands on all sides alike. Median per command.
 * Each entry: { key, cmd, env?: object | () => object (called per run, e.g. a fresh cache),
 * before?: () => void | Promise (called before each run, outside the timing: e.g. delete a
 * repository so that every run is a first run), cwd? }.
 */
async function timeCommands(entries, { runs = opts.runs } = {}) {
  const out = {};
  const envOf = (e) => (typeof e.env === 'function' ? e.env() : e.env ?? ENV);
  for (const e of entries) {
    log(`  warm-up  ${e.key}: ${e.cmd}`);
    await e.before?.();
    const r = await runOnce(e.cmd, { env: envOf(e), cwd: e.cwd });
    out[e.key] = { cmd: e.cmd, times: [], cpu: [], warmup: r.seconds, ok: r.code === 0, code: r.code, stderr: head(r.stderr), stderrTail: r.stderrTail };
  }
  const live = entries.filter((e) => out[e.key].ok);
  for (let round = 1; round <= runs; round++) {
    for (const e of live) {
      await e.before?.();
      const r = await runOnce(e.cmd, { env: envOf(e), cwd: e.cwd });
      const o = out[e.key];
      if (r.code !== 0) Object.assign(o, { ok: false, code: r.code, stderr: head(r.stderr), stderrTail: r.stderrTail });
      o.times.push(r.seconds);
      if (r.cpu) o.cpu.push(r.cpu);
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
  const row = { id, name, kind, hoardCmd: hoard?.cmd, hoardSeconds: hoard?.median ?? null, hoardTimes: hoard?.times ?? [], hoardCpu: hoard?.cpu ?? [], peerName, peerCmd: peer?.cmd, peerSeconds: peer?.median ?? null, peerTimes: peer?.times ?? [], peerCpu: peer?.cpu ?? [], ratio: null, target: target ?? null, status: 'SKIP', note };
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
  if (!pass) correctnessFailures.add('M1');
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
  const scanOut = path.join(WORK, 'm7-scan.jsonl');
  const once = path.join(WORK, 'm7-files-once.jsonl');
  const r = await runOnce(`hoard scan ${q(SMALL)} > ${q(scanOut)}`);
  if (r.code !== 0) throw new Error(`hoard scan for M7 failed (exit ${r.code}): ${head(r.stderr)}`);
  // The records must describe the tree as it is now: anything that touched it (a hard link
  // made to a file changes its ctime) would turn the "warm cache" run into a rehash of all.
  const fingerprint = crypto.createHash('sha256');
  for await (const line of readline.createInterface({ input: fs.createReadStream(scanOut), crlfDelay: Infinity })) {
    try {
      const rec = JSON.parse(line);
      if (rec.type === 'file') fingerprint.update(`${rec.path}\0${rec.size}\0${rec.mtimeMs}\0${rec.ctimeMs}\0${rec.ino}\0${rec.nlink}\n`);
    } catch { /* not a record */ }
  }
  const wantStamp = `${SMALL}\n${fingerprint.digest('hex')}\n`;
  if (fs.existsSync(file) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wantStamp) {
    fs.rmSync(scanOut, { force: true });
    return file;
  }
  log(`  writing ${file}`);
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

// ---------- issue 3: repository state (S items) ----------

/**
 * <work>/state-small: a copy of the small tree that the S items may turn into a repository
 * and mutate. `pristine`: identical to SMALL; `recorded`: a repository whose recorded state
 * matches the tree (init + add, nothing changed since).
 */
const STATE = { dir: null, ready: false, pristine: false, recorded: false };

/** A private XDG_CACHE_HOME for one scenario. */
function scenarioEnv(prefix) {
  return { ...ENV, XDG_CACHE_HOME: tempDir(`${prefix}-cache-`) };
}

/** Run a setup command; throw (the item is reported as crashed) with command, exit and stderr if it fails. */
async function mustRun(what, cmd, runOpts = {}) {
  const r = await runOnce(cmd, { capture: true, ...runOpts });
  if (r.code !== 0) throw new Error(`${what}: \`${cmd}\` exited ${r.code}${r.signal ? ` (${r.signal})` : ''}; stderr: ${head(r.stderr, 500) || '(empty)'}; stdout: ${head(r.stdout, 300) || '(empty)'}`);
  return r;
}

/** JSONL text -> records (lines that are not JSON objects are counted, not thrown). */
function parseJsonl(text) {
  const records = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line);
      if (rec && typeof rec === 'object' && !Array.isArray(rec)) records.push(rec);
      else bad++;
    } catch {
      bad++;
    }
  }
  return { records, bad };
}

const summaryOf = (text) => parseJsonl(text).records.findLast((r) => r.type === 'summary');

/** Make <work>/state-small what the caller needs: copied afresh when it must be pristine (and on first use). */
async function ensureStateTree({ pristine = false, recorded = false, env = ENV } = {}) {
  STATE.dir ??= path.join(WORK, 'state-small');
  const dir = STATE.dir;
  if (!STATE.ready || (pristine && !STATE.pristine) || !fs.existsSync(dir)) {
    log(`  fresh copy: cp -a ${SMALL} ${dir}`);
    fs.rmSync(dir, { recursive: true, force: true });
    await mustRun('copying the small tree', `cp -a ${q(SMALL)} ${q(dir)}`);
    Object.assign(STATE, { ready: true, pristine: true, recorded: false });
  }
  if (recorded && !STATE.recorded) {
    fs.rmSync(path.join(dir, '.hoard'), { recursive: true, force: true });
    await mustRun('hoard init', `hoard init ${q(dir)}`, { env });
    log(`  hoard add ${dir}`);
    const r = await mustRun('hoard add', `hoard add --json ${q(dir)}`, { env });
    STATE.recorded = true;
    STATE.lastAdd = summaryOf(r.stdout);
  }
  return dir;
}

/**
 * Ground truth without hoard: relative path -> { hash, ino } of every regular file under
 * dir (hoard's own .hoard/ left out), from find -printf and sha256sum.
 */
async function listTree(dir) {
  const sums = await mustRun('find|sha256sum', `cd ${q(dir)} && find . -path ./.hoard -prune -o -type f -print0 | xargs -0 -r sha256sum -z --`);
  const inos = await mustRun('find -printf %i', `cd ${q(dir)} && find . -path ./.hoard -prune -o -type f -printf '%i %P\\0'`);
  const files = new Map();
  for (const rec of inos.stdout.split('\0')) {
    if (!rec) continue;
    const sp = rec.indexOf(' ');
    files.set(rec.slice(sp + 1), { ino: rec.slice(0, sp), hash: null });
  }
  let unmatched = 0;
  for (const rec of sums.stdout.split('\0')) {
    if (!rec) continue;
    const m = /^([0-9a-f]{64}) [ *]\.\/(.*)$/s.exec(rec);
    const f = m && files.get(m[2]);
    if (f) f.hash = `sha256:${m[1]}`;
    else unmatched++;
  }
  const noHash = [...files.values()].filter((f) => !f.hash).length;
  if (unmatched || noHash) throw new Error(`ground truth of ${dir}: ${unmatched} sha256sum lines without a find entry, ${noHash} files without a sha256sum line`);
  return files;
}

/**
 * The changes between two listings: same path, other content = modify; a vanished path and
 * a new path with the same inode (and the same content: a freed inode may be reused by an
 * added file) = move; other vanished = delete; other new = add.
 */
function truthChanges(before, after) {
  const changes = [];
  const gone = [];
  for (const [p, b] of before) {
    const a = after.get(p);
    if (!a) gone.push(p);
    else if (a.hash !== b.hash) changes.push({ op: 'modify', path: p });
  }
  const goneByIno = new Map();
  for (const p of gone) {
    const k = before.get(p).ino;
    goneByIno.set(k, [...(goneByIno.get(k) ?? []), p]);
  }
  const movedFrom = new Set();
  for (const [p, a] of after) {
    if (before.has(p)) continue;
    const from = (goneByIno.get(a.ino) ?? []).find((g) => !movedFrom.has(g) && before.get(g).hash === a.hash);
    if (from) {
      movedFrom.add(from);
      changes.push({ op: 'move', path: p, from });
    } else changes.push({ op: 'add', path: p });
  }
  for (const p of gone) if (!movedFrom.has(p)) changes.push({ op: 'delete', path: p });
  return changes;
}

const changeKey = (c) => (c.op === 'move' ? `move ${c.from} -> ${c.path}` : `${c.op} ${c.path}`);
const countOps = (list) => {
  const n = { modify: 0, add: 0, delete: 0, move: 0 };
  for (const c of list) n[c.op] = (n[c.op] ?? 0) + 1;
  return n;
};
const fmtOps = (n) => Object.entries(n).map(([op, k]) => `${k} ${op}`).join(', ');

/**
 * Compare hoard's output (a finished run) with the expected change set: exit 0, only change
 * (and note) records, exactly the expected keys. `allowed(c)`: extra condition on every
 * reported change (e.g. inside the folder).
 */
function compareChanges(run, expected, { allowed, allowedWhat } = {}) {
  const problems = [];
  if (run.code !== 0) problems.push(`exit ${run.code}: ${firstLine(run.stderr, 300)}`);
  const { records, bad } = parseJsonl(run.stdout);
  if (bad) problems.push(`${bad} stdout lines are not JSON objects`);
  const changes = records.filter((r) => r.type === 'change');
  const others = records.filter((r) => r.type !== 'change');
  const otherTypes = [...new Set(others.map((r) => (r.type === 'note' ? `note ${r.code}: ${r.message}` : r.type === 'error' ? `error ${r.code}: ${r.message}` : String(r.type))))];
  if (others.some((r) => r.type === 'error')) problems.push(`error records: ${otherTypes.filter((t) => t.startsWith('error')).slice(0, 3).join('; ')}`);
  const want = new Set(expected.map(changeKey));
  const got = new Map();
  let dup = 0;
  for (const c of changes) {
    const k = changeKey(c);
    if (got.has(k)) dup++;
    got.set(k, c);
  }
  const missing = [...want].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  if (missing.length) problems.push(`${missing.length} expected changes missing (e.g. ${missing.slice(0, 3).join('; ')})`);
  if (extra.length) problems.push(`${extra.length} changes reported that did not happen (e.g. ${extra.slice(0, 3).join('; ')})`);
  if (dup) problems.push(`${dup} changes reported twice`);
  let outside = 0;
  if (allowed) {
    const bad2 = changes.filter((c) => !allowed(c));
    outside = bad2.length;
    if (outside) problems.push(`${outside} changes ${allowedWhat} (e.g. ${bad2.slice(0, 3).map(changeKey).join('; ')})`);
  }
  return { problems, reported: countOps(changes), notes: otherTypes.filter((t) => t.startsWith('note')), missing: missing.length, extra: extra.length, outside };
}

/** S1: after a mutation, hoard status reports exactly what changed: whole tree, then one folder. */
async function s1Exactness() {
  log('S1: exactness of hoard status after mutate --seed 7');
  const env = scenarioEnv('s1');
  const dir = await ensureStateTree({ pristine: true, recorded: true, env });
  log('  ground truth before (find, sha256sum)');
  const before = await listTree(dir);
  log(`  node ${CORPUS_GEN} mutate --seed 7 ${dir}`);
  STATE.pristine = false;
  STATE.recorded = false;
  const mut = await mustRun('mutate', `node ${q(CORPUS_GEN)} mutate --seed 7 ${q(dir)}`);
  log('  ground truth after');
  const after = await listTree(dir);
  const truth = truthChanges(before, after);
  const truthCounts = countOps(truth);
  const mutLine = firstLine(mut.stdout, 200);

  log('  hoard status --json (whole tree)');
  const st = await runOnce(`hoard status --json`, { capture: true, env, cwd: dir });
  const whole = compareChanges(st, truth);
  const pass1 = whole.problems.length === 0 && truth.length > 0;
  if (!pass1) correctnessFailures.add('S1');
  addCheck({
    id: 'S1', name: 'S1 status after mutate == ground truth (whole tree)', pass: pass1, hoardSeconds: st.seconds,
    note: [`truth: ${fmtOps(truthCounts)} (${before.size} -> ${after.size} files); hoard: ${fmtOps(whole.reported)}`, ...(whole.notes.length ? [`notes: ${whole.notes.join('; ')}`] : []), ...whole.problems, ...(pass1 ? ['exact'] : [])].join('; '),
    details: { command: `cd ${dir} && hoard status --json`, mutate: mutLine, truth: truthCounts, reported: whole.reported, missing: whole.missing, extra: whole.extra, exit: st.code, notes: whole.notes },
  });

  // One top-level folder: the one with the most changes touching it (moves across its edge included).
  const top = (p) => p.split('/')[0];
  const touch = new Map();
  for (const c of truth) for (const p of c.op === 'move' ? [c.path, c.from] : [c.path]) if (p.includes('/')) touch.set(top(p), (touch.get(top(p)) ?? 0) + 1);
  const F = [...touch.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
  if (!F) {
    addCheck({ id: 'S1', name: 'S1 status of one folder == ground truth inside it', pass: false, note: 'no top-level folder with changes' });
    return;
  }
  const inF = (p) => p === F || p.startsWith(`${F}/`);
  // Seen from F alone, a move across F's edge is a delete (moved out) or an add (moved in).
  const truthF = [];
  let crossing = 0;
  for (const c of truth) {
    if (c.op !== 'move') {
      if (inF(c.path)) truthF.push(c);
    } else if (inF(c.path) && inF(c.from)) truthF.push(c);
    else if (inF(c.from)) { truthF.push({ op: 'delete', path: c.from }); crossing++; }
    else if (inF(c.path)) { truthF.push({ op: 'add', path: c.path }); crossing++; }
  }
  const insideF = (c) => inF(c.path) && (c.from === undefined || inF(c.from));
  const variants = [
    { label: `hoard status --json ${F}`, cmd: `hoard status --json ${q(F)}` },
    { label: `hoard scan --root . ${F} | hoard hash | hoard diff-state --under ${F}`, cmd: `hoard scan --root . ${q(F)} | hoard hash | hoard diff-state --under ${q(F)}` },
  ];
  for (const v of variants) {
    log(`  ${v.label}`);
    const r = await runOnce(v.cmd, { capture: true, env, cwd: dir });
    const cmp = compareChanges(r, truthF, { allowed: insideF, allowedWhat: `outside ${F} (or moved from outside)` });
    const pass = cmp.problems.length === 0 && truthF.length > 0;
    if (!pass) correctnessFailures.add('S1');
    addCheck({
      id: 'S1', name: `S1 ${v.label.startsWith('hoard status') ? 'status FOLDER' : 'scan --root|hash|diff-state --under'} == ground truth inside it`, pass, hoardSeconds: r.seconds,
      note: [`folder ${F}: truth ${fmtOps(countOps(truthF))} (${crossing} moves across its edge count as add/delete); hoard: ${fmtOps(cmp.reported)}; ${cmp.outside} outside`, ...(cmp.notes.length ? [`notes: ${cmp.notes.join('; ')}`] : []), ...cmp.problems, ...(pass ? ['exact'] : [])].join('; '),
      details: { command: `cd ${dir} && ${v.cmd}`, folder: F, truth: countOps(truthF), reported: cmp.reported, missing: cmp.missing, extra: cmp.extra, outside: cmp.outside, exit: r.code },
    });
  }
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/** S2: the first add against scan|hash alone; a no-op add against a no-op restic backup. */
async function s2AddTiming() {
  log('S2: hoard add, first and nothing-changed');
  const env = scenarioEnv('s2');
  const dir = await ensureStateTree({ pristine: true, env });
  const hoardDir = path.join(dir, '.hoard');
  const caches = [];
  const fresh = () => {
    const d = tempDir('s2-run-cache-');
    caches.push(d);
    return { ...ENV, XDG_CACHE_HOME: d };
  };
  // Every timed run is a first run: a new repository (init outside the timing) or, for
  // scan|hash, no repository at all (hash would use its state DB as the cache) and an empty cache.
  STATE.recorded = false;
  const t1 = await timeCommands([
    {
      key: 'add', cmd: `hoard add --json ${q(dir)}`, env: fresh,
      before: async () => {
        fs.rmSync(hoardDir, { recursive: true, force: true });
        await mustRun('hoard init', `hoard init ${q(dir)}`, { env });
      },
    },
    { key: 'scanhash', cmd: `hoard scan ${q(dir)} | hoard hash`, env: fresh, before: () => fs.rmSync(hoardDir, { recursive: true, force: true }) },
  ]);
  for (const d of caches) fs.rmSync(d, { recursive: true, force: true });
  fs.rmSync(hoardDir, { recursive: true, force: true });
  addComparison({ id: 'S2', name: 'S2 first hoard add vs scan|hash (empty cache, new repo)', hoard: t1.add, peer: t1.scanhash, peerName: 'hoard scan|hoard hash', target: 1.3 });

  if (!needTools('S2', 'S2 no-op hoard add vs no-op restic backup', ['restic'])) return;
  // One recorded add (checked), then both sides see an unchanged tree.
  await ensureStateTree({ pristine: true, recorded: true, env });
  const files = STATE.lastAdd?.files;
  const firstOk = STATE.lastAdd && STATE.lastAdd.added === files && STATE.lastAdd.complete === true;
  const resticRepo = path.join(WORK, 'state-restic');
  const resticEnv = { ...ENV, RESTIC_REPOSITORY: resticRepo, RESTIC_PASSWORD: 'x', XDG_CACHE_HOME: path.join(WORK, 'state-restic-cache') };
  fs.rmSync(resticRepo, { recursive: true, force: true });
  fs.rmSync(resticEnv.XDG_CACHE_HOME, { recursive: true, force: true });
  // .hoard is hoard's own metadata (it changes on every add): restic leaves it out, like scan does.
  const resticCmd = `restic backup --quiet --exclude .hoard ${q(dir)}`;
  await mustRun('restic init', 'restic init', { env: resticEnv });
  log(`  priming: ${resticCmd}`);
  await mustRun('restic priming backup', resticCmd, { env: resticEnv });
  const t2 = await timeCommands([
    { key: 'add', cmd: `hoard add --json ${q(dir)}`, env },
    { key: 'restic', cmd: resticCmd, env: resticEnv },
  ]);
  const check = await runOnce(`hoard add --json ${q(dir)}`, { capture: true, env });
  const s = summaryOf(check.stdout) ?? {};
  const noop = check.code === 0 && s.added === 0 && s.modified === 0 && s.deleted === 0 && s.moved === 0 && s.events === 0;
  const row = addComparison({
    id: 'S2', name: 'S2 no-op hoard add vs no-op restic backup', hoard: t2.add, peer: t2.restic, peerName: 'restic backup (no-op)', target: 0.5,
    note: [
      `first add: ${STATE.lastAdd ? `${STATE.lastAdd.added} added of ${files} files, complete ${STATE.lastAdd.complete}` : 'no summary'}${firstOk ? '' : ' (UNEXPECTED)'}`,
      `no-op add summary: ${check.code === 0 ? JSON.stringify({ added: s.added, modified: s.modified, deleted: s.deleted, moved: s.moved, events: s.events }) : `exit ${check.code}: ${firstLine(check.stderr)}`}${noop ? '' : ' (NOT a no-op)'}`,
    ].join('; '),
  });
  if ((!noop || !firstOk) && row.status === 'PASS') row.status = 'FAIL';
  fs.rmSync(resticRepo, { recursive: true, force: true });
  fs.rmSync(resticEnv.XDG_CACHE_HOME, { recursive: true, force: true });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/** S3: hoard status on an unchanged recorded tree against git status on the same tree, committed. */
async function s3Status() {
  const name = 'S3 hoard status (unchanged) vs git status --porcelain';
  if (!needTools('S3', name, ['git'])) return;
  log('S3: status of an unchanged tree');
  const env = scenarioEnv('s3');
  const dir = await ensureStateTree({ pristine: true, recorded: true, env });
  // The git directory lives outside the tree: hoard scans everything but .hoard/, so a .git/
  // inside would show up as added files.
  const gitDir = path.join(WORK, 'state-git');
  fs.rmSync(gitDir, { recursive: true, force: true });
  const git = `git --git-dir=${q(gitDir)} --work-tree=${q(dir)}`;
  await mustRun('git init', `${git} init -q`);
  fs.appendFileSync(path.join(gitDir, 'info', 'exclude'), '.hoard/\n');
  log('  git add -A && git commit (outside timing)');
  await mustRun('git add', `${git} -c gc.auto=0 add -A`);
  await mustRun('git commit', `${git} -c gc.auto=0 -c user.email=bench@hoard.invalid -c user.name=bench commit -q -m corpus`);
  await mustRun('git status (index refresh)', `${git} status --porcelain`);
  const gitCmd = `${git} status --porcelain`;
  const hoardCmd = `hoard status --json ${q(dir)}`;
  const t = await timeCommands([
    { key: 'hoard', cmd: hoardCmd, env },
    { key: 'git', cmd: gitCmd },
  ]);
  const h = await runOnce(hoardCmd, { capture: true, env });
  const g = await runOnce(gitCmd, { capture: true });
  const changes = parseJsonl(h.stdout).records.filter((r) => r.type === 'change').length;
  const gitLines = g.stdout.split('\n').filter(Boolean).length;
  const row = addComparison({ id: 'S3', name, hoard: t.hoard, peer: t.git, peerName: 'git status --porcelain', target: 3, note: `hoard status: ${changes} changes (exit ${h.code}); git status: ${gitLines} lines` });
  if ((changes !== 0 || h.code !== 0) && row.status === 'PASS') row.status = 'FAIL';
  fs.rmSync(gitDir, { recursive: true, force: true });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/** S4: three mutate+add rounds, then state rebuild and fsck --state agree with the log. */
async function s4Rebuild() {
  const name = 'S4 3x (mutate + add), state rebuild, fsck --state';
  log('S4: mutate rounds, state rebuild, fsck --state');
  const env = scenarioEnv('s4');
  const dir = await ensureStateTree({ recorded: true, env });
  const problems = [];
  const countEvents = async () => {
    const r = await runOnce(`hoard events --repo ${q(dir)} | wc -l`, { capture: true, env });
    if (r.code !== 0) problems.push(`\`hoard events --repo ${dir} | wc -l\` exited ${r.code}: ${firstLine(r.stderr)}`);
    return Number(r.stdout.trim());
  };
  const eventsBefore = await countEvents();
  let eventsAdded = 0;
  const rounds = [];
  for (const seed of [11, 12, 13]) {
    STATE.pristine = false;
    STATE.recorded = false;
    const m = await mustRun('mutate', `node ${q(CORPUS_GEN)} mutate --seed ${seed} ${q(dir)}`);
    const mm = /modified (\d+), deleted (\d+), renamed (\d+), added (\d+)/.exec(m.stdout);
    const want = mm ? { modified: +mm[1], deleted: +mm[2], moved: +mm[3], added: +mm[4] } : null;
    log(`  seed ${seed}: ${firstLine(m.stdout, 120)}; hoard add`);
    const a = await runOnce(`hoard add --json ${q(dir)}`, { capture: true, env });
    const s = summaryOf(a.stdout);
    if (a.code !== 0 || !s) {
      problems.push(`seed ${seed}: \`hoard add --json ${dir}\` exited ${a.code}: ${firstLine(a.stderr, 300)}`);
      rounds.push(`seed ${seed}: add failed`);
      continue;
    }
    STATE.recorded = true;
    eventsAdded += s.events ?? 0;
    const got = { modified: s.modified, deleted: s.deleted, moved: s.moved, added: s.added };
    const same = want && Object.keys(want).every((k) => want[k] === got[k]);
    if (!same) problems.push(`seed ${seed}: add recorded ${JSON.stringify(got)}, mutate did ${JSON.stringify(want)}`);
    if (s.complete !== true) problems.push(`seed ${seed}: add summary complete=${s.complete}`);
    rounds.push(`seed ${seed}: +${s.added} ~${s.modified} -${s.deleted} >${s.moved} (${s.events} events)`);
  }
  log('  hoard state rebuild');
  const rb = await runOnce(`hoard state rebuild --repo ${q(dir)}`, { capture: true, env });
  if (rb.code !== 0) problems.push(`\`hoard state rebuild --repo ${dir}\` exited ${rb.code}: ${firstLine(rb.stderr, 300)}`);
  log('  hoard fsck --state');
  const fk = await runOnce(`hoard fsck --state --repo ${q(dir)}`, { capture: true, env });
  const fs2 = summaryOf(fk.stdout);
  if (fk.code !== 0) problems.push(`\`hoard fsck --state --repo ${dir}\` exited ${fk.code}: ${firstLine(fk.stderr, 300)}`);
  if (!fs2) problems.push('fsck wrote no summary record');
  else if (fs2.mismatches !== 0) problems.push(`fsck mismatches: ${fs2.mismatches}`);
  const events = await countEvents();
  if (!(events >= 1000)) problems.push(`only ${events} events`);
  if (events !== eventsBefore + eventsAdded) problems.push(`events: ${events} in the log, but ${eventsBefore} before + ${eventsAdded} reported by the adds`);
  const pass = problems.length === 0;
  if (!pass) correctnessFailures.add('S4');
  addCheck({
    id: 'S4', name, pass, hoardSeconds: rb.seconds, value: `${events.toLocaleString('en-US')} events`,
    note: [`${rounds.join('; ')}; rebuild ${rb.seconds.toFixed(2)} s, fsck ${fk.seconds.toFixed(2)} s (exit ${fk.code}, ${fs2 ? JSON.stringify({ integrity: fs2.integrity, mismatches: fs2.mismatches, errors: fs2.errors }) : 'no summary'})`, ...problems].join('; '),
    details: { eventsBefore, eventsAdded, events, rounds, rebuild: { exit: rb.code, seconds: rb.seconds, stdout: head(rb.stdout, 300) }, fsck: { exit: fk.code, seconds: fk.seconds, summary: fs2 } },
  });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

/**
 * S7 input: N synthetic hashed file records with distinct paths in scan's order (fixed width,
 * so byte order = numeric order) under `root`, closed by a complete scan record. With
 * `changed`, every 100th record has another hash. Cached by a stamp of its parameters.
 */
async function syntheticRecords(root, n, changed) {
  const file = path.join(WORK, `s7-records-${n}${changed ? '-changed' : ''}.jsonl`);
  const stamp = `${file}.ok`;
  const want = `v1 ${root} ${n} ${changed}\n`;
  if (fs.existsSync(file) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return file;
  log(`  writing ${file}`);
  fs.rmSync(stamp, { force: true });
  const tmp = `${file}.tmp`;
  const w = fs.createWriteStream(tmp);
  const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
  const hex = (s) => crypto.createHash('sha256').update(s).digest('hex');
  let bytes = 0;
  for (let i = 0; i < n; i += 1000) {
    let chunk = '';
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const size = 100 + (j % 5000);
      bytes += size;
      const hash = `sha256:${hex(changed && j % 100 === 0 ? `changed:${j}` : `file:${j}`)}`;
      const p = `d${String(Math.floor(j / 1000)).padStart(4, '0')}/f${String(j).padStart(7, '0')}`;
      chunk += `${JSON.stringify({ type: 'file', root, path: p, size, mtimeMs: 1700000000000 + j, mode: 33188, ino: 1000000 + j, dev: 2049, nlink: 1, uid, gid, hash })}\n`;
    }
    if (!w.write(chunk)) await new Promise((res) => w.once('drain', res));
  }
  w.write(`${JSON.stringify({ type: 'scan', root, files: n, bytes, errors: 0, complete: true, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:00.000Z' })}\n`);
  await new Promise((res, rej) => w.end((err) => (err ? rej(err) : res())));
  fs.renameSync(tmp, file);
  fs.writeFileSync(stamp, want);
  return file;
}

/** S7: peak memory of diff-state over a 1,000,000-entry state and as many records (~1% modified). */
async function s7Memory() {
  const TIME = '/usr/bin/time';
  const n = opts.quick ? 100_000 : 1_000_000;
  const name = `S7 memory: diff-state, ${n.toLocaleString('en-US')}-entry state, 1% modified`;
  if (!fs.existsSync(TIME)) return skip('S7', name, `skipped: ${TIME} missing (install package \`time\`)`);
  log(`S7: diff-state memory over ${n} records`);
  const env = scenarioEnv('s7');
  const repoDir = path.join(WORK, 's7-repo');
  fs.rmSync(repoDir, { recursive: true, force: true });
  fs.mkdirSync(repoDir, { recursive: true });
  const root = fs.realpathSync(repoDir);
  await mustRun('hoard init', `hoard init ${q(root)}`, { env });
  const f1 = await syntheticRecords(root, n, false);
  const f2 = await syntheticRecords(root, n, true);
  log(`  recording: hoard diff-state --repo R < ${path.basename(f1)} | hoard record --repo R`);
  const rec = await runOnce(`hoard diff-state --repo ${q(root)} | hoard record --repo ${q(root)}`, { capture: true, env, stdinFile: f1 });
  const rs = summaryOf(rec.stdout);
  const problems = [];
  if (rec.code !== 0 || !rs || rs.changes !== n || rs.scanComplete !== true) {
    problems.push(`recording the state: \`hoard diff-state --repo R < ${f1} | hoard record --repo R\` exited ${rec.code}, summary ${JSON.stringify(rs ?? null)}${rec.stderr ? `; stderr: ${firstLine(rec.stderr, 300)}` : ''}`);
  }
  const timeOut = path.join(WORK, 's7-time.txt');
  const diffOut = path.join(WORK, 's7-diff.jsonl');
  fs.rmSync(timeOut, { force: true });
  const cmd = `hoard diff-state --repo ${q(root)}`;
  log(`  ${TIME} -f '%M %e' ${cmd} < ${path.basename(f2)}`);
  const r = await runOnce(`${TIME} -f '%M %e' -o ${q(timeOut)} ${cmd} > ${q(diffOut)}`, { env, stdinFile: f2 });
  const [kb, secs] = fs.existsSync(timeOut) ? fs.readFileSync(timeOut, 'utf8').trim().split('\n').at(-1).split(' ').map(Number) : [NaN, NaN];
  const ops = {};
  let other = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(diffOut), crlfDelay: Infinity })) {
    let o;
    try { o = JSON.parse(line); } catch { other++; continue; }
    if (o.type === 'change') ops[o.op] = (ops[o.op] ?? 0) + 1;
    else if (o.type !== 'scan') other++;
  }
  const wantMod = Math.ceil(n / 100);
  if (r.code !== 0) problems.push(`\`${cmd} < ${f2}\` exited ${r.code}: ${firstLine(r.stderr, 300)}`);
  if (!Number.isFinite(kb)) problems.push('no %M figure from /usr/bin/time');
  if ((ops.modify ?? 0) !== wantMod || Object.keys(ops).some((k) => k !== 'modify')) problems.push(`expected exactly ${wantMod} modify, got ${JSON.stringify(ops)}`);
  if (other) problems.push(`${other} other output lines`);
  const mb = (kb * 1024) / 1e6;
  addCheck({
    id: 'S7', name, pass: problems.length === 0 && kb * 1024 < 300e6, hoardSeconds: Number.isFinite(secs) ? secs : r.seconds,
    value: Number.isFinite(kb) ? `${mb.toFixed(1)} MB` : null, target: '< 300 MB',
    note: [`peak RSS ${kb} KB, wall ${secs} s; reported ${JSON.stringify(ops)} of ${n.toLocaleString('en-US')} records (${(((ops.modify ?? 0) / n) * 100).toFixed(2)}% modified); recording the state took ${rec.seconds.toFixed(1)} s`, ...problems].join('; '),
    details: { records: n, peakKB: kb, wallSeconds: secs, ops, recordSummary: rs, recordSeconds: rec.seconds, exit: r.code },
  });
  fs.rmSync(repoDir, { recursive: true, force: true });
  fs.rmSync(diffOut, { force: true });
  fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true });
}

// ---------- issue 4: push, pull, sync (P items) ----------

/**
 * Shared by the P items: <work>/push/src (the source repository), its remotes by kind (each
 * made and pushed to once, on first need), the env (own cache, empty rclone config).
 * `src`: 'none' | 'pristine' (a copy of SMALL, recorded) | 'mutated' (after P2b).
 */
const PUSH = { root: null, src: 'none', addSummary: null, addSeconds: null, remotes: new Map(), sshd: null };
const P_RUNS = () => Math.min(opts.runs, 2);

/** A scenario's work folder under WORK, with an empty rclone config of its own. */
function scenarioRoot(name) {
  const root = path.join(WORK, name);
  fs.mkdirSync(root, { recursive: true });
  const conf = path.join(root, 'rclone.conf');
  if (!fs.existsSync(conf)) fs.writeFileSync(conf, '');
  return root;
}

function pushRoot() {
  return (PUSH.root = scenarioRoot('push'));
}
const srcDir = () => path.join(pushRoot(), 'src');

/** The env of every P command, hoard's and the peers': own cache, an empty rclone config, the ssh fixture. */
function pushEnv() {
  const root = pushRoot();
  return {
    ...ENV,
    XDG_CACHE_HOME: path.join(root, 'cache'),
    RCLONE_CONFIG: path.join(root, 'rclone.conf'),
    ...(PUSH.sshd ? { HOARD_SSH_COMMAND: PUSH.sshd.sshCommand } : {}),
  };
}

/** Flush dirty pages (the previous run's writes, a deleted tree) so that they are not billed to the next run. */
const syncDisk = () => spawnSync('sync', { stdio: 'ignore' });

/**
 * Run a hoard command (captured, in `cwd`); `fail` says what went wrong, in one line, or is
 * null: non-zero exit (with the last stderr line), no summary record, or errors in it.
 */
async function hoardStep(cmd, { cwd, env = pushEnv(), needSummary = true } = {}) {
  const r = await runOnce(cmd, { capture: true, env, cwd });
  const summary = summaryOf(r.stdout) ?? null;
  let fail = null;
  if (r.code !== 0) fail = `\`${cmd}\` exited ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${lastLine(r.stderrTail) || '(no stderr)'}`;
  else if (needSummary && !summary) fail = `\`${cmd}\`: no summary record on stdout`;
  else if (needSummary && summary.errors) fail = `\`${cmd}\`: summary reports ${summary.errors} errors: ${lastLine(r.stderrTail) || '(no stderr)'}`;
  return { r, seconds: r.seconds, summary, fail };
}

/** Like hoardStep, but a failure throws (the item is reported as crashed, with that line). */
async function hoardMust(cmd, runOpts) {
  const s = await hoardStep(cmd, runOpts);
  if (s.fail) throw new Error(s.fail);
  return s;
}

const bytesFmt = (b) => `${(b / 1e6).toFixed(1)} MB`;
const pushFigures = (s) => (s ? `${s.filesSent} files / ${bytesFmt(s.bytesSent)} sent, ${s.checkedOut} checked out, ${s.moved} moved, ${s.trashed} trashed` : 'no summary');

/**
 * The source repository: a cp -a copy of the small tree, hoard init, hoard add (recorded before
 * any push). `pristine`: made afresh if it was mutated. A new copy forgets the remotes.
 */
async function ensurePushSource({ pristine = false } = {}) {
  const dir = srcDir();
  if (PUSH.src !== 'none' && fs.existsSync(dir) && !(pristine && PUSH.src !== 'pristine')) return dir;
  for (const kind of PUSH.remotes.keys()) fs.rmSync(path.join(pushRoot(), `far-${kind}`), { recursive: true, force: true });
  PUSH.remotes.clear();
  PUSH.src = 'none';
  fs.rmSync(dir, { recursive: true, force: true });
  log(`  source repository: cp -a ${SMALL} ${dir}; hoard init; hoard add`);
  await mustRun('copying the small tree', `cp -a ${q(SMALL)} ${q(dir)}`);
  await hoardMust('hoard init', { cwd: dir, needSummary: false });
  const add = await hoardMust('hoard add --json', { cwd: dir });
  if (add.summary.complete !== true || add.summary.files !== add.summary.added) throw new Error(`hoard add of the source: unexpected summary ${JSON.stringify(add.summary)}`);
  Object.assign(PUSH, { src: 'pristine', addSummary: add.summary, addSeconds: add.seconds });
  return dir;
}

/** The four kinds of remote: how the source adds it (and a fresh repository adds it to pull). */
const P_KINDS = {
  local: { label: 'local-path repository', url: (far) => far, layout: [] },
  ssh: { label: 'ssh:// repository on localhost', url: (far) => `ssh://${PUSH.sshd.alias}${far}`, layout: [] },
  tree: { label: 'rclone tree remote', url: (far) => `rclone:${far}`, layout: ['--layout', 'tree'] },
  blobs: { label: 'rclone blobs remote', url: (far) => `rclone:${far}`, layout: ['--layout', 'blobs'] },
};
const isRepoKind = (kind) => kind === 'local' || kind === 'ssh';
/** The remote's name in the source (and in the repositories pulled into); not `local`: that is the repository itself. */
const rname = (kind) => `far-${kind}`;
const remoteAddCmd = (kind, far, { init, name = rname(kind) }) => ['hoard remote add', name, q(P_KINDS[kind].url(far)), ...P_KINDS[kind].layout, ...(init && isRepoKind(kind) ? ['--init'] : [])].join(' ');

/**
 * Remote `kind` of the source, added and pushed to once (that first push is returned: P1
 * reports it). The remote is named after its kind; its far side is <push>/far-KIND.
 */
async function ensureRemote(kind) {
  const have = PUSH.remotes.get(kind);
  if (have) return have;
  const src = await ensurePushSource();
  const far = path.join(pushRoot(), `far-${kind}`);
  fs.rmSync(far, { recursive: true, force: true });
  await hoardStep(`hoard remote remove ${rname(kind)}`, { cwd: src, needSummary: false }); // a leftover of a failed run
  const added = await hoardStep(remoteAddCmd(kind, far, { init: true }), { cwd: src, needSummary: false });
  const rec = { kind, name: rname(kind), far, url: P_KINDS[kind].url(far), push: null, fail: added.fail };
  if (!added.fail) {
    log(`  first push: hoard push ${rname(kind)} --json`);
    syncDisk();
    rec.push = await hoardStep(`hoard push ${rname(kind)} --json`, { cwd: src });
    rec.fail = rec.push.fail;
  }
  PUSH.remotes.set(kind, rec);
  return rec;
}

async function dropRemote(kind) {
  const rec = PUSH.remotes.get(kind);
  PUSH.remotes.delete(kind);
  if (PUSH.src !== 'none') await hoardStep(`hoard remote remove ${rname(kind)}`, { cwd: srcDir(), needSummary: false });
  fs.rmSync(rec?.far ?? path.join(pushRoot(), `far-${kind}`), { recursive: true, force: true });
}

/** rel path -> { type, perm, mtimeMs (whole ms, from the ns value), size, link } of everything under dir but .hoard. */
function lstatTree(dir) {
  const out = new Map();
  const walk = (rel) => {
    for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (!rel && d.name === '.hoard') continue;
      const st = fs.lstatSync(path.join(dir, r), { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      out.set(r, { type, perm: Number(st.mode & 0o7777n), mtimeMs: st.mtimeNs / 1_000_000n, size: st.size, link: type === 'symlink' ? fs.readlinkSync(path.join(dir, r)) : null });
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

/**
 * The pulled tree against the source: `diff -r` (contents, names; .hoard left out), then lstat
 * of every non-directory: permission bits and mtime to the millisecond.
 */
async function compareTrees(src, dst) {
  const problems = [];
  const d = await runOnce(`diff -r -q --no-dereference -x .hoard ${q(src)} ${q(dst)}`, { capture: true });
  const diffLines = d.stdout.split('\n').filter(Boolean);
  if (d.code > 1) problems.push(`diff -r exited ${d.code}: ${firstLine(d.stderr)}`);
  if (diffLines.length) problems.push(`diff -r: ${diffLines.length} differences (e.g. ${diffLines.slice(0, 3).map((l) => l.replaceAll(src, 'SRC').replaceAll(dst, 'DST')).join('; ')})`);
  const a = lstatTree(src), b = lstatTree(dst);
  let files = 0, perm = 0, mtime = 0, missing = 0, extra = 0, type = 0;
  const ex = [];
  for (const [p, x] of a) {
    if (x.type === 'dir') continue;
    files++;
    const y = b.get(p);
    if (!y) { missing++; continue; }
    if (y.type !== x.type || y.link !== x.link) { type++; if (ex.length < 3) ex.push(`${p}: ${x.type} -> ${y.type}`); continue; }
    if (x.type === 'symlink') continue; // a symlink's own mode and mtime are not carried by anyone
    if (y.perm !== x.perm) { perm++; if (ex.length < 3) ex.push(`${p}: mode ${x.perm.toString(8)} -> ${y.perm.toString(8)}`); }
    if (y.mtimeMs !== x.mtimeMs) { mtime++; if (ex.length < 3) ex.push(`${p}: mtime ${x.mtimeMs} -> ${y.mtimeMs} ms`); }
  }
  for (const [p, y] of b) if (y.type !== 'dir' && !a.has(p)) extra++;
  if (missing || extra || type) problems.push(`lstat: ${missing} missing, ${extra} extra, ${type} of another type`);
  if (perm || mtime) problems.push(`lstat: ${perm} permission bits and ${mtime} mtimes differ (e.g. ${ex.join('; ')})`);
  return { problems, files, diffSeconds: d.seconds };
}

/** P1: push to each kind of remote, pull into a fresh repository, compare with the source. */
async function p1RoundTrip() {
  log('P1: push then pull through a local repository, ssh, an rclone tree and an rclone vault');
  const src = await ensurePushSource();
  const srcNote = `source: cp -a of small, hoard init + hoard add (${PUSH.addSummary.files} files) before the push`;
  for (const kind of ['local', 'ssh', 'tree', 'blobs']) {
    const name = `P1 push + pull round trip: ${P_KINDS[kind].label}`;
    log(`  ${kind}`);
    if (kind === 'ssh') {
      try {
        const { startSshd } = await import('../test/support/sshd.mjs');
        PUSH.sshd = await startSshd({ path: [BIN], env: { XDG_CACHE_HOME: path.join(pushRoot(), 'cache-far'), HOARD_NO_PROGRESS: '1' } });
      } catch (err) {
        correctnessFailures.add('P1');
        addCheck({ id: 'P1', name, pass: false, note: `could not start the sshd fixture: ${firstLine(err?.message ?? err, 300)}` });
        continue;
      }
    }
    const pullDir = path.join(pushRoot(), `p1-pull-${kind}`);
    try {
      const rem = await ensureRemote(kind);
      const problems = [];
      let pull = null, cmp = null;
      if (rem.fail) problems.push(`push: ${rem.fail}`);
      else {
        fs.rmSync(pullDir, { recursive: true, force: true });
        fs.mkdirSync(pullDir);
        const init = await hoardStep('hoard init', { cwd: pullDir, needSummary: false });
        const add = init.fail ? init : await hoardStep(remoteAddCmd(kind, rem.far, { init: false }), { cwd: pullDir, needSummary: false });
        if (add.fail) problems.push(`pull side: ${add.fail}`);
        else {
          log(`  hoard pull ${rname(kind)} --json (into ${pullDir})`);
          syncDisk();
          pull = await hoardStep(`hoard pull ${rname(kind)} --json`, { cwd: pullDir });
          if (pull.fail) problems.push(`pull: ${pull.fail}`);
          log('  comparing: diff -r, lstat');
          cmp = await compareTrees(src, pullDir);
          problems.push(...cmp.problems);
        }
      }
      const pass = problems.length === 0;
      if (!pass) correctnessFailures.add('P1');
      const ps = rem.push?.summary, ls = pull?.summary;
      addCheck({
        id: 'P1', name, pass, hoardSeconds: rem.push && pull ? rem.push.seconds + pull.seconds : null,
        note: [
          `push ${rem.push ? `${rem.push.seconds.toFixed(1)} s` : 'not run'}${ps ? ` (${pushFigures(ps)})` : ''}`,
          `pull ${pull ? `${pull.seconds.toFixed(1)} s` : 'not run'}${ls ? ` (${ls.filesReceived} files / ${bytesFmt(ls.bytesReceived)} received, ${ls.checkedOut} checked out)` : ''}`,
          ...(cmp ? [`compared ${cmp.files} files`] : []),
          srcNote, 'hoard s = push + pull',
          ...problems, ...(pass ? ['identical: diff -r, permission bits, mtimes to the ms'] : []),
        ].join('; '),
        details: { kind, url: rem.url, pushSeconds: rem.push?.seconds ?? null, pullSeconds: pull?.seconds ?? null, push: ps ?? null, pull: ls ?? null, problems },
      });
    } finally {
      fs.rmSync(pullDir, { recursive: true, force: true });
      if (kind === 'ssh') {
        await dropRemote('ssh');
        await PUSH.sshd?.stop().catch(() => {});
        PUSH.sshd = null;
      }
    }
  }
}

/** P2a: a push with nothing changed: 0 bytes, and its time against a no-op rclone copy. */
async function p2aNoop() {
  log('P2a: push with nothing changed');
  const src = await ensurePushSource();
  const env = pushEnv();
  const rems = { local: await ensureRemote('local'), tree: await ensureRemote('tree') };
  const peerDst = path.join(pushRoot(), 'p2a-rclone-dst');
  const rcloneCmd = `rclone copy --exclude '/.hoard/**' ${q(src)} ${q(peerDst)}`;
  try {
    const checks = {};
    for (const [kind, rem] of Object.entries(rems)) {
      if (rem.fail) { checks[kind] = { fail: `first push: ${rem.fail}` }; continue; }
      const s = await hoardStep(`hoard push ${rname(kind)} --json`, { cwd: src });
      const noop = s.summary && s.summary.filesSent === 0 && s.summary.bytesSent === 0;
      checks[kind] = { fail: s.fail ?? (noop ? null : `not a no-op: ${pushFigures(s.summary)}`), summary: s.summary };
    }
    let peerFail = null;
    if (missingTools.has('rclone')) peerFail = 'rclone not installed';
    else {
      log(`  priming the peer: ${rcloneCmd}`);
      fs.rmSync(peerDst, { recursive: true, force: true });
      const prime = await runOnce(rcloneCmd, { env });
      if (prime.code !== 0) peerFail = `priming \`${rcloneCmd}\` exited ${prime.code}: ${lastLine(prime.stderrTail)}`;
    }
    const entries = Object.keys(rems).filter((k) => !checks[k].fail).map((k) => ({ key: k, cmd: `cd ${q(src)} && hoard push ${rname(k)} --json`, env }));
    if (!peerFail) entries.push({ key: 'rclone', cmd: rcloneCmd, env });
    const t = entries.length ? await timeCommands(entries) : {};
    const peerNote = 'peer: rclone copy of the same tree (.hoard excluded) into a full copy made by rclone copy';
    for (const [kind, target, name] of [
      ['local', 1.5, 'P2a no-op push (local-path repository) vs no-op rclone copy'],
      ['tree', null, 'P2a no-op push (rclone tree remote) vs no-op rclone copy'],
    ]) {
      const c = checks[kind];
      if (c.fail) { addCheck({ id: 'P2a', name, pass: false, note: `${c.fail}` }); continue; }
      const row = addComparison({ id: 'P2a', name, hoard: t[kind], peer: t.rclone, peerName: 'rclone copy (no-op)', target, note: `no-op push: ${pushFigures(c.summary)}; ${peerNote}${peerFail ? `; ${peerFail}` : ''}` });
      if (t[kind] && !t[kind].ok) row.note = `hoard exited ${t[kind].code}: ${lastLine(t[kind].stderrTail)}`;
      else if (!row.note.includes('no-op push')) row.note = `${row.note}; no-op push: ${pushFigures(c.summary)}`;
    }
  } finally {
    fs.rmSync(peerDst, { recursive: true, force: true });
  }
}

/**
 * mutate --seed 7 on src with ground truth around it (sha256 of every file before and after):
 * the changes, the content not in the tree before (files, distinct contents, bytes) and a note
 * saying so. `marking` runs just before the mutation (the caller's scenario is mutated from then).
 */
async function mutateWithTruth(src, marking) {
  log('  ground truth before (find, sha256sum)');
  const before = await listTreeSized(src);
  log(`  node ${CORPUS_GEN} mutate --seed 7 ${src}`);
  marking();
  const mut = await mustRun('mutate', `node ${q(CORPUS_GEN)} mutate --seed 7 ${q(src)}`);
  log('  ground truth after');
  const after = await listTreeSized(src);
  const changes = truthChanges(before, after);
  const oldHashes = new Set([...before.values()].map((f) => f.hash));
  const newContent = new Map();
  let newFiles = 0, newFileBytes = 0;
  for (const f of after.values()) {
    if (oldHashes.has(f.hash)) continue;
    newFiles++;
    newFileBytes += f.size;
    newContent.set(f.hash, f.size);
  }
  const expected = [...newContent.values()].reduce((a, b) => a + b, 0);
  const mutateLine = firstLine(mut.stdout, 240);
  const note = `truth (${mutateLine.replace(/^mutate \S+: /, 'mutate: ').replace(/;/g, ',')}): ${fmtOps(countOps(changes))}; ${newFiles} files with content not present before, ${newContent.size} distinct = ${expected} bytes (${newFileBytes} counting duplicates)`;
  return { before, after, changes, expected, newFiles, newFileBytes, newDistinct: newContent.size, note };
}

/** Ground truth of a tree without hoard: rel path -> { hash, ino, size }. */
async function listTreeSized(dir) {
  const files = await listTree(dir);
  for (const [p, f] of files) f.size = fs.lstatSync(path.join(dir, p)).size;
  return files;
}

/** P2b: after mutate, add + push sends exactly the new content; renames send none. */
async function p2bChanges() {
  log('P2b: push after mutate --seed 7');
  const kinds = ['local', 'blobs'];
  const src = await ensurePushSource({ pristine: true });
  const rems = {};
  for (const k of kinds) rems[k] = await ensureRemote(k);
  const m = await mutateWithTruth(src, () => {
    PUSH.src = 'mutated';
  });
  const truth = countOps(m.changes);
  const { expected, newFiles, newFileBytes } = m;
  log('  hoard add --json');
  const add = await hoardStep('hoard add --json', { cwd: src });
  for (const k of kinds) {
    const name = `P2b push after mutate (${P_KINDS[k].label}): bytes sent == new content, renames send none`;
    const problems = [];
    let s = null;
    if (rems[k].fail) problems.push(`first push: ${rems[k].fail}`);
    else if (add.fail) problems.push(`add: ${add.fail}`);
    else {
      log(`  hoard push ${rname(k)} --json`);
      syncDisk();
      s = await hoardStep(`hoard push ${rname(k)} --json`, { cwd: src });
      if (s.fail) problems.push(s.fail);
      else {
        const sum = s.summary;
        if (Math.abs(sum.bytesSent - expected) > 0.01 * expected) problems.push(`bytesSent ${sum.bytesSent} is ${(((sum.bytesSent - expected) / expected) * 100).toFixed(2)}% off ${expected}`);
        if (!(sum.moved >= truth.move)) problems.push(`moved ${sum.moved} < ${truth.move} pure renames`);
      }
    }
    const sum = s?.summary;
    addCheck({
      id: 'P2b', name, pass: problems.length === 0, hoardSeconds: s?.seconds ?? null,
      value: sum && expected ? `${(sum.bytesSent / expected).toFixed(4)}` : null, target: 'bytes 1 ± 0.01',
      note: [
        `push: ${sum ? pushFigures(sum) + ` (${sum.bytesSent} bytes)` : 'no summary'}`,
        `add ${add.seconds.toFixed(1)} s: ${add.summary ? JSON.stringify({ added: add.summary.added, modified: add.summary.modified, deleted: add.summary.deleted, moved: add.summary.moved }) : 'no summary'}`,
        m.note, 'ratio = bytesSent / expected bytes', ...problems,
      ].join('; '),
      details: { truth, expectedBytes: expected, newFiles, newDistinct: m.newDistinct, newFileBytes, push: sum ?? null, add: add.summary ?? null, problems },
    });
  }
}

/**
 * P3a/P3b: a first push to a fresh remote against the peer copying the same tree to a fresh
 * place. Before every run, outside the timing, the last run's destination is renamed aside (not
 * deleted: ext4 skips inodes freed in the last minute when it allocates new ones, which made
 * every file creation of the next run slower, by up to 2-3x, and unevenly between hoard and the
 * peer) and `sync` is run; everything is deleted once the item is done.
 */
async function p3FirstPush({ id, kind, name, peerName, peerCmd, target, tool }) {
  log(`${id}: first push to a fresh ${P_KINDS[kind].label} vs ${peerName}`);
  if (!needTools(id, name, [tool])) return;
  const src = await ensurePushSource({ pristine: true });
  const env = pushEnv();
  const remote = `${id.toLowerCase()}`;
  const far = path.join(pushRoot(), `${remote}-far`);
  const peerDst = path.join(pushRoot(), `${remote}-peer`);
  const out = path.join(pushRoot(), `${remote}-push.jsonl`);
  let setupFail = null;
  const aside = [];
  const setAside = (dir) => {
    if (!fs.existsSync(dir)) return;
    const to = `${dir}.old-${aside.length}`;
    fs.renameSync(dir, to);
    aside.push(to);
  };
  try {
    const t = await timeCommands([
      {
        key: 'hoard', cmd: `cd ${q(src)} && hoard push ${remote} --json > ${q(out)}`, env,
        before: async () => {
          setAside(far);
          await hoardStep(`hoard remote remove ${remote}`, { cwd: src, needSummary: false });
          const a = await hoardStep(remoteAddCmd(kind, far, { init: true, name: remote }), { cwd: src, needSummary: false });
          if (a.fail) setupFail ??= a.fail;
          syncDisk();
        },
      },
      {
        key: 'peer', cmd: peerCmd(src, peerDst), env,
        before: () => {
          setAside(peerDst);
          syncDisk();
        },
      },
    ], { runs: P_RUNS() });
    const last = fs.existsSync(out) ? summaryOf(fs.readFileSync(out, 'utf8')) : null;
    const setupNote = isRepoKind(kind) ? 'the far repository is made (remote add --init) before the timing' : 'remote added before the timing';
    const row = addComparison({
      id, name, hoard: t.hoard, peer: t.peer, peerName, target,
      note: `source recorded (hoard init + add) beforehand; fresh destination (the last one renamed aside, not deleted) and sync before every run, ${setupNote}; CPU s, median (all processes, user + sys): hoard ${fmtCpuMedian(t.hoard.cpu)}, ${peerName} ${fmtCpuMedian(t.peer.cpu)}; last push: ${pushFigures(last)}`,
    });
    if (!t.hoard.ok) row.note = `hoard exited ${t.hoard.code}: ${lastLine(t.hoard.stderrTail)}${setupFail ? `; setup: ${setupFail}` : ''}`;
    else if (last?.errors) { row.status = 'FAIL'; row.note += `; ${last.errors} errors in the summary`; }
  } finally {
    await hoardStep(`hoard remote remove ${remote}`, { cwd: src, needSummary: false });
    for (const d of [far, peerDst, out, ...aside]) fs.rmSync(d, { recursive: true, force: true });
  }
}

const p3aRclone = () => p3FirstPush({
  id: 'P3a', kind: 'tree', tool: 'rclone', target: 1.0,
  name: 'P3a first push to a fresh rclone tree remote vs rclone copy',
  peerName: 'rclone copy', peerCmd: (src, dst) => `rclone copy --exclude '/.hoard/**' ${q(src)} ${q(dst)}`,
});
const p3bRsync = () => p3FirstPush({
  id: 'P3b', kind: 'local', tool: 'rsync', target: 0.75,
  name: 'P3b first push to a fresh local-path repository vs rsync -a',
  peerName: 'rsync -a', peerCmd: (src, dst) => `rsync -a --exclude /.hoard ${q(`${src}/`)} ${q(`${dst}/`)}`,
});

/** After the P items: stop the ssh fixture, remove <work>/push. */
async function pushCleanup() {
  await PUSH.sshd?.stop().catch(() => {});
  PUSH.sshd = null;
  if (PUSH.root) fs.rmSync(PUSH.root, { recursive: true, force: true });
}

// ---------- issue 5: backup and restore (B items) ----------

/**
 * Shared by the B items, under <work>/backup: src (a cp -a copy of the small tree), hoard's
 * XDG dirs (the vault is $XDG_DATA_HOME/hoard/vault), the restic repository and its cache.
 * `src`: 'none' | 'pristine' | 'mutated'; `backedUp`: the vault and the repository both hold
 * src as it is now (hoard tracks src). `mutation`: what B1c did (ground truth), for B2a/B2b.
 */
const BK = { root: null, src: 'none', backedUp: false, first: null, mutation: null };
const B_RUNS = () => Math.min(opts.runs, 2);

function backupRoot() {
  return (BK.root = scenarioRoot('backup'));
}
const bkSrc = () => path.join(backupRoot(), 'src');
const bkHoardDirs = () => ['config', 'data', 'cache'].map((d) => path.join(backupRoot(), 'hoard', d));
const bkRepo = () => path.join(backupRoot(), 'restic-repo');

/** hoard's env: its own config, data (vault) and cache; an empty rclone config. */
function bkHoardEnv() {
  const [config, data, cache] = bkHoardDirs();
  return { ...ENV, XDG_CONFIG_HOME: config, XDG_DATA_HOME: data, XDG_CACHE_HOME: cache, RCLONE_CONFIG: path.join(backupRoot(), 'rclone.conf') };
}
/** restic's env: the password, its own cache. */
function bkResticEnv() {
  return { ...ENV, RESTIC_PASSWORD: 'bench', XDG_CACHE_HOME: path.join(backupRoot(), 'restic-cache'), RCLONE_CONFIG: path.join(backupRoot(), 'rclone.conf') };
}
const bkVault = () => path.join(bkHoardDirs()[1], 'hoard', 'vault');

/** A fresh hoard: no config, no vault, no cache (hoard backup DIR makes them). */
function bkFreshHoard() {
  for (const d of bkHoardDirs()) {
    fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(d, { recursive: true });
  }
}
/** A fresh, initialised restic repository (and an empty restic cache). */
async function bkFreshRestic() {
  fs.rmSync(bkRepo(), { recursive: true, force: true });
  fs.rmSync(bkResticEnv().XDG_CACHE_HOME, { recursive: true, force: true });
  await mustRun('restic init', `restic init -r ${q(bkRepo())}`, { env: bkResticEnv() });
}

const bkHoardBackupCmd = (src) => `hoard backup ${q(src)} --json`;
const bkHoardAllCmd = () => 'hoard backup --all --json';
const bkResticBackupCmd = (src) => `restic -r ${q(bkRepo())} backup --quiet ${q(src)}`;
const backupFigures = (s) => (s ? `${s.files} files / ${bytesFmt(s.bytes)}, new ${s.newFiles} / ${bytesFmt(s.newBytes)}, sent ${s.sentFiles} / ${bytesFmt(s.sentBytes)} (${s.sentBytes} bytes), deleted ${s.deleted}, errors ${s.errors}` : 'no summary');
/** Every summary record in a file of appended hoard outputs. */
const summariesIn = (file) => (fs.existsSync(file) ? parseJsonl(fs.readFileSync(file, 'utf8')).records.filter((r) => r.type === 'summary') : []);
const duBytes = (dir) => {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split('\t')[0]) : NaN;
};

/** src: a cp -a copy of the small tree; `pristine`: made afresh if it was mutated. A new copy is backed up by nobody. */
async function ensureBackupSource({ pristine = false } = {}) {
  const dir = bkSrc();
  if (BK.src !== 'none' && fs.existsSync(dir) && !(pristine && BK.src !== 'pristine')) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  log(`  source: cp -a ${SMALL} ${dir}`);
  await mustRun('copying the small tree', `cp -a ${q(SMALL)} ${q(dir)}`);
  Object.assign(BK, { src: 'pristine', backedUp: false, first: null, mutation: null });
  return dir;
}

/**
 * The vault and the repository hold src as it is (pristine unless B1c mutated it since): if
 * not, a first backup of each, untimed, into a fresh vault and repository. Returns null or
 * what failed (one line: a failing hoard command with its last stderr line).
 */
async function ensureBackedUp() {
  if (BK.backedUp && fs.existsSync(bkSrc())) return null;
  const src = await ensureBackupSource({ pristine: true });
  log('  first backups (untimed): hoard backup SRC, restic backup SRC');
  bkFreshHoard();
  await bkFreshRestic();
  const h = await hoardStep(bkHoardBackupCmd(src), { env: bkHoardEnv() });
  if (h.fail) return `first backup: ${h.fail}`;
  await mustRun('restic first backup', bkResticBackupCmd(src), { env: bkResticEnv() });
  Object.assign(BK, { backedUp: true, first: h.summary });
  return null;
}

/** B1a: the first backup of the tree into a fresh local vault vs restic into a fresh local repository. */
async function b1aFirstBackup() {
  const name = 'B1a first backup to a fresh local vault vs restic backup to a fresh repository';
  log('B1a: first backup');
  if (!needTools('B1a', name, ['restic'])) return;
  const src = await ensureBackupSource({ pristine: true });
  const out = path.join(backupRoot(), 'b1a-backup.jsonl');
  BK.backedUp = false;
  const t = await timeCommands([
    {
      key: 'hoard', cmd: `${bkHoardBackupCmd(src)} > ${q(out)}`, env: bkHoardEnv,
      before: () => {
        bkFreshHoard();
        syncDisk();
      },
    },
    {
      key: 'restic', cmd: bkResticBackupCmd(src), env: bkResticEnv,
      before: async () => {
        await bkFreshRestic();
        syncDisk();
      },
    },
  ], { runs: B_RUNS() });
  const s = summariesIn(out).at(-1);
  const vaultBytes = duBytes(bkVault()), repoBytes = duBytes(bkRepo());
  const row = addComparison({
    id: 'B1a', name, hoard: t.hoard, peer: t.restic, peerName: 'restic backup (first)', target: 0.75,
    note: `fresh vault / repository (restic init untimed), empty caches and sync before every run; last backup: ${backupFigures(s)}; on disk: vault ${bytesFmt(vaultBytes)}, restic repository ${bytesFmt(repoBytes)}`,
  });
  if (!t.hoard.ok) row.note = `hoard exited ${t.hoard.code}: ${lastLine(t.hoard.stderrTail)}`;
  else if (!s) { row.status = 'FAIL'; row.note += '; no summary record'; }
  else if (s.errors) { row.status = 'FAIL'; row.note += `; ${s.errors} errors in the summary`; }
  // The last round's vault and repository hold the pristine tree: B1b and B1c go on from there.
  if (t.hoard.ok && t.restic.ok && s && !s.errors) Object.assign(BK, { backedUp: true, first: s });
  fs.rmSync(out, { force: true });
}

/** B1b: a second backup with nothing changed: sends nothing; its time against restic's second backup. */
async function b1bNoopBackup() {
  const name = 'B1b second backup, nothing changed (backup --all) vs restic backup (no-op)';
  log('B1b: second backup, nothing changed');
  if (!needTools('B1b', name, ['restic'])) return;
  const fail = await ensureBackedUp();
  if (fail) return addCheck({ id: 'B1b', name, pass: false, note: fail });
  const src = bkSrc();
  const out = path.join(backupRoot(), 'b1b-backup.jsonl');
  fs.rmSync(out, { force: true });
  const t = await timeCommands([
    { key: 'hoard', cmd: `${bkHoardAllCmd()} >> ${q(out)}`, env: bkHoardEnv() },
    { key: 'restic', cmd: bkResticBackupCmd(src), env: bkResticEnv() },
  ]);
  const sums = summariesIn(out);
  const notNoop = sums.filter((x) => x.sentBytes !== 0 || x.sentFiles !== 0 || x.errors !== 0);
  const last = sums.at(-1);
  const row = addComparison({
    id: 'B1b', name, hoard: t.hoard, peer: t.restic, peerName: 'restic backup (no-op)', target: 0.5,
    note: `after a first backup of each; ${sums.length} hoard runs (warm-up included), sentBytes ${[...new Set(sums.map((x) => x.sentBytes))].join('/')}; last: ${backupFigures(last)}`,
  });
  if (!t.hoard.ok) row.note = `hoard exited ${t.hoard.code}: ${lastLine(t.hoard.stderrTail)}`;
  else if (!sums.length || notNoop.length) {
    row.status = 'FAIL';
    row.note += sums.length ? `; NOT a no-op in ${notNoop.length} runs (e.g. ${backupFigures(notNoop[0])})` : '; no summary record';
  }
  if (!t.hoard.ok || !t.restic.ok) BK.backedUp = false;
  fs.rmSync(out, { force: true });
}

/**
 * Mutate src (mutate --seed 7) with ground truth (sha256 of every file) before and after, then
 * one backup of each side, hoard first, `sync` before each (the mutation can be backed up only
 * once). Kept in BK.mutation for B1c's rows and B2a/B2b. `fail`: src was not backed up first.
 */
async function mutateAndBackUp() {
  if (BK.mutation && BK.src === 'mutated' && fs.existsSync(bkSrc())) return BK.mutation;
  const fail = await ensureBackedUp();
  if (fail) return { fail };
  const src = bkSrc();
  const m = await mutateWithTruth(src, () => Object.assign(BK, { src: 'mutated', backedUp: false }));
  const one = async (key, cmd, env) => {
    syncDisk();
    log(`  timed once: ${cmd}`);
    const r = await runOnce(cmd, { env, capture: true });
    return { key, r, t: { cmd, times: [r.seconds], median: r.seconds, warmup: null, ok: r.code === 0, code: r.code, stderr: head(r.stderr), stderrTail: r.stderrTail } };
  };
  const h = await one('hoard', bkHoardAllCmd(), bkHoardEnv());
  const p = await one('restic', bkResticBackupCmd(src), bkResticEnv());
  m.hoard = h.t;
  m.restic = p.t;
  m.summary = summaryOf(h.r.stdout) ?? null;
  if (!h.t.ok) m.fail = `\`${bkHoardAllCmd()}\` exited ${h.r.code}: ${lastLine(h.r.stderrTail) || '(no stderr)'}`;
  else if (!m.summary) m.fail = `\`${bkHoardAllCmd()}\`: no summary record`;
  else if (m.summary.errors) m.fail = `\`${bkHoardAllCmd()}\`: ${m.summary.errors} errors in the summary: ${lastLine(h.r.stderrTail) || '(no stderr)'}`;
  if (!p.t.ok) m.peerFail = `restic exited ${p.r.code}: ${lastLine(p.r.stderrTail)}`;
  BK.backedUp = !m.fail && !m.peerFail;
  BK.mutation = m;
  return m;
}

/** B1c: after mutate, backup --all against restic's backup of the mutated tree; only new content is sent. */
async function b1cChangedBackup() {
  const name = 'B1c backup after mutate (backup --all) vs restic backup of the mutated tree';
  const checkName = 'B1c only new content is sent: sentBytes == bytes of content not in the tree before';
  log('B1c: backup after mutate --seed 7');
  if (!needTools('B1c', name, ['restic'])) return;
  const m = await mutateAndBackUp();
  if (m.fail && !m.hoard) return addCheck({ id: 'B1c', name, pass: false, note: m.fail });
  const truth = countOps(m.changes);
  const row = addComparison({
    id: 'B1c', name, hoard: m.hoard, peer: m.restic, peerName: 'restic backup (after mutate)', target: 0.5,
    note: `ONE timed run each (a mutation can be backed up only once; no warm-up), hoard first, sync before each; hoard: ${backupFigures(m.summary)}`,
  });
  if (m.fail) { row.status = 'FAIL'; row.note = `${m.fail}; ${row.note}`; }
  const s = m.summary;
  const problems = [];
  if (m.fail) problems.push(m.fail);
  else if (s.sentBytes !== m.expected) problems.push(`sentBytes ${s.sentBytes} != ${m.expected} (${s.sentBytes > m.expected ? '+' : ''}${s.sentBytes - m.expected} bytes, ${(((s.sentBytes - m.expected) / m.expected) * 100).toFixed(3)}%)`);
  addCheck({
    id: 'B1c', name: checkName, pass: problems.length === 0, hoardSeconds: m.hoard?.median ?? null,
    value: s && m.expected ? `${(s.sentBytes / m.expected).toFixed(4)}` : null, target: 'bytes == 1',
    note: [`hoard: ${backupFigures(s)}`, m.note, 'value = sentBytes / expected bytes', ...problems].join('; '),
    details: { truth, expectedBytes: m.expected, newFiles: m.newFiles, newDistinct: m.newDistinct, newFileBytes: m.newFileBytes, summary: s, problems },
  });
}

/** B2a: restore of the whole (mutated, backed-up) tree to a new folder vs restic restore latest; then compared with src. */
async function b2aRestoreTree() {
  const name = 'B2a restore of the whole tree to a new folder vs restic restore latest';
  const checkName = 'B2a restored tree == source (diff -r, permission bits, mtimes to the ms)';
  log('B2a: restore of the whole tree');
  if (!needTools('B2a', name, ['restic'])) return;
  const m = await mutateAndBackUp();
  if (m.fail || m.peerFail || !BK.backedUp) {
    const why = m.fail ?? m.peerFail ?? 'the vault does not hold the tree as it is';
    addCheck({ id: 'B2a', name, pass: false, note: `setup: ${why}` });
    correctnessFailures.add('B2a');
    return addCheck({ id: 'B2a', name: checkName, pass: false, note: `not run: ${why}` });
  }
  const src = bkSrc();
  const hDst = path.join(backupRoot(), 'b2a-hoard');
  const rDst = path.join(backupRoot(), 'b2a-restic');
  const out = path.join(backupRoot(), 'b2a-restore.jsonl');
  try {
    const t = await timeCommands([
      {
        key: 'hoard', cmd: `hoard restore ${q(src)} --to ${q(hDst)} --json > ${q(out)}`, env: bkHoardEnv(),
        before: () => {
          fs.rmSync(hDst, { recursive: true, force: true });
          syncDisk();
        },
      },
      {
        key: 'restic', cmd: `restic -r ${q(bkRepo())} restore latest --target ${q(rDst)} --quiet`, env: bkResticEnv(),
        before: () => {
          fs.rmSync(rDst, { recursive: true, force: true });
          syncDisk();
        },
      },
    ], { runs: B_RUNS() });
    const s = summariesIn(out).at(-1);
    const fig = s ? `restored ${s.restored} of ${s.files ?? '?'} files / ${bytesFmt(s.bytes)}, trashed ${s.trashed}, errors ${s.errors}` : 'no summary';
    const row = addComparison({
      id: 'B2a', name, hoard: t.hoard, peer: t.restic, peerName: 'restic restore latest', target: 0.75,
      note: `fresh target folder and sync before every run; hoard restores into NEWDIR/<relative path>, restic into TARGET/<absolute source path>; last restore: ${fig}`,
    });
    if (!t.hoard.ok) row.note = `hoard exited ${t.hoard.code}: ${lastLine(t.hoard.stderrTail)}`;
    else if (!s) { row.status = 'FAIL'; row.note += '; no summary record'; }
    else if (s.errors) { row.status = 'FAIL'; row.note += `; ${s.errors} errors in the summary`; }

    // The last round's hoard restore against src, as P1 compares a pulled tree.
    const problems = [];
    let cmp = null;
    if (!t.hoard.ok) problems.push(`\`hoard restore ${src} --to ${hDst} --json\` exited ${t.hoard.code}: ${lastLine(t.hoard.stderrTail)}`);
    else if (!fs.existsSync(hDst)) problems.push(`${hDst} does not exist after the restore`);
    else {
      log('  comparing: diff -r, lstat');
      cmp = await compareTrees(src, hDst);
      problems.push(...cmp.problems);
      if (s && s.restored !== m.after.size) problems.push(`summary says restored ${s.restored}, the tree has ${m.after.size} files`);
      if (s?.errors) problems.push(`${s.errors} errors in the summary`);
    }
    const pass = problems.length === 0;
    if (!pass) correctnessFailures.add('B2a');
    addCheck({
      id: 'B2a', name: checkName, pass, hoardSeconds: t.hoard.median,
      note: [...(cmp ? [`compared ${cmp.files} files (diff -r ${cmp.diffSeconds.toFixed(1)} s)`] : []), 'the mutated tree after B1c\'s backup', ...problems, ...(pass ? ['identical: diff -r, permission bits, mtimes to the ms'] : [])].join('; '),
      details: { summary: s ?? null, files: cmp?.files ?? null, problems },
    });
  } finally {
    for (const d of [hDst, rDst, out]) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** B2b: version 1 (before the mutation) of 20 files that the mutation modified restores bit-identical. */
async function b2bOldVersions() {
  const name = 'B2b restore --version 1 of 20 files modified since: bit-identical to the old content';
  log('B2b: older versions of 20 modified files');
  const m = await mutateAndBackUp();
  if (m.fail) {
    correctnessFailures.add('B2b');
    return addCheck({ id: 'B2b', name, pass: false, note: `setup: ${m.fail}` });
  }
  const src = bkSrc();
  const modified = m.changes.filter((c) => c.op === 'modify').map((c) => c.path).sort();
  const N = Math.min(20, modified.length);
  // Spread over the whole sorted list, deterministic.
  const picked = Array.from({ length: N }, (_, i) => modified[Math.floor((i * modified.length) / N)]);
  const dir = tempDir('b2b-');
  const env = bkHoardEnv();
  const problems = [];
  let same = 0, seconds = 0;
  const versionCounts = new Map();
  for (const [i, rel] of picked.entries()) {
    const abs = path.join(src, rel);
    const want = m.before.get(rel).hash;
    const lg = await runOnce(`hoard log ${q(abs)} --json`, { env, capture: true });
    const versions = parseJsonl(lg.stdout).records.filter((r) => r.type === 'version');
    versionCounts.set(versions.length, (versionCounts.get(versions.length) ?? 0) + 1);
    if (lg.code !== 0) problems.push(`${rel}: \`hoard log\` exited ${lg.code}: ${lastLine(lg.stderrTail)}`);
    else if (versions[0]?.hash !== want) problems.push(`${rel}: hoard log's version 1 is ${versions[0]?.hash ?? 'missing'}, the old content ${want}`);
    const to = path.join(dir, String(i));
    const cmd = `hoard restore ${q(abs)} --version 1 --to ${q(to)} --json`;
    const r = await runOnce(cmd, { env, capture: true });
    seconds += r.seconds;
    if (r.code !== 0) { problems.push(`${rel}: \`${cmd}\` exited ${r.code}: ${lastLine(r.stderrTail)}`); continue; }
    if (!fs.existsSync(to)) { problems.push(`${rel}: nothing at --to`); continue; }
    const got = `sha256:${crypto.createHash('sha256').update(fs.readFileSync(to)).digest('hex')}`;
    if (got === want) same++;
    else problems.push(`${rel}: restored ${got}, the old content was ${want}${got === m.after.get(rel)?.hash ? ' (that is the NEW content)' : ''}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const pass = N === 20 && same === 20;
  if (!pass) correctnessFailures.add('B2b');
  addCheck({
    id: 'B2b', name, pass, hoardSeconds: seconds, value: `${same}/${N}`, target: '20/20',
    note: [`${same} of ${N} restored files have the content they had before the mutation (sha256 remembered before it); hoard log: ${[...versionCounts].map(([v, k]) => `${k} files with ${v} versions`).join(', ')}; hoard s = all 20 restores`, ...(N < 20 ? [`only ${modified.length} files modified`] : []), ...problems.slice(0, 5), ...(problems.length > 5 ? [`… ${problems.length - 5} more`] : [])].join('; '),
    details: { files: picked, same, problems },
  });
}

/** After the B items: remove <work>/backup. */
function backupCleanup() {
  if (BK.root) fs.rmSync(BK.root, { recursive: true, force: true });
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
  for (const t of ['find', 'rclone', 'sha256sum', 'b3sum', 'xargs', 'restic', 'git', 'rsync']) {
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
const fmtCpuMedian = (cpu) => (cpu?.length ? median(cpu.map((c) => c.user + c.sys)).toFixed(2) : '?');
/** CPU seconds of each timed run (user + system, all processes): what the wall time is made of on a few cores. */
const fmtCpu = (cpu) => {
  if (!cpu?.length) return '';
  const one = (c) => `${(c.user + c.sys).toFixed(2)} (${c.user.toFixed(2)} + ${c.sys.toFixed(2)})`;
  return cpu.length <= 5 ? `; CPU s, user + sys: ${cpu.map(one).join(', ')}` : `; CPU s, median of ${cpu.length}: ${fmtCpuMedian(cpu)}`;
};
const fmtTarget = (r) => (r.target == null ? '' : typeof r.target === 'string' ? r.target : `${r.kind === 'throughput' ? '>=' : '<='} ${r.target}`);
const fmtRatio = (r) => (r.ratio != null ? r.ratio.toFixed(2) + (r.kind === 'throughput' ? 'x' : '') : r.value ?? '');

/** Rows in report order: by id (ALL_IDS order), keeping each item's own row order. */
function ordered(rows) {
  const rank = (r) => { const i = ALL_IDS.indexOf(r.id); return i === -1 ? ALL_IDS.length : i; };
  return rows.map((r, i) => [r, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([r]) => r);
}
const sectionOf = (r) => SECTIONS.find((s) => String(r.id ?? '').startsWith(s.prefix)) ?? SECTIONS[0];

/**
 * With --only, the rows of the items not run this time come from the previous results.json
 * (when it was made with the same --quick), marked `carriedFrom` with that run's date, so a
 * partial run does not wipe the rest of the report.
 */
function carriedRows(meta) {
  if (!opts.only) return [];
  let prev;
  try {
    prev = JSON.parse(fs.readFileSync(path.join(BENCH, 'results.json'), 'utf8'));
  } catch {
    return [];
  }
  if (!prev || Boolean(prev.quick) !== Boolean(meta.quick) || !Array.isArray(prev.results)) return [];
  return prev.results.filter((r) => r && !opts.ids.includes(r.id)).map((r) => ({ ...r, carriedFrom: r.carriedFrom ?? prev.date }));
}

function printTable() {
  const rows = [['check', 'hoard s', 'peer s', 'ratio', 'target', 'result'], ...results.map((r) => [r.name, fmtS(r.hoardSeconds), fmtS(r.peerSeconds), fmtRatio(r), fmtTarget(r), r.status])];
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const out = [`\n${line(rows[0])}`, w.map((n) => '-'.repeat(n)).join('  ')];
  for (const sec of SECTIONS) {
    const idx = results.map((r, i) => [r, i]).filter(([r]) => sectionOf(r) === sec).map(([, i]) => i + 1);
    if (!idx.length) continue;
    if (sec.title) out.push(`-- ${sec.title}`);
    out.push(...idx.map((i) => line(rows[i])));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  const notes = results.filter((r) => r.note);
  if (notes.length) process.stdout.write(`\nnotes:\n${notes.map((r) => `  ${r.name}: ${r.note}`).join('\n')}\n\n`);
}

function writeReports(meta) {
  const rows = ordered([...results, ...carriedRows(meta)]);
  const md = [];
  const esc = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  md.push('# hoard benchmark results', '');
  md.push(`- date: ${meta.date}`);
  md.push(`- machine: ${meta.machine.nproc} cores (${meta.machine.cpu}), ${meta.machine.memoryGiB} GiB memory, node ${meta.machine.node}, ${meta.machine.os}`);
  md.push(`- run: \`node bench/run.mjs${meta.argv.length ? ' ' + meta.argv.join(' ') : ''}\`: median of ${meta.runs} timed runs after one warm-up (M5: ${Math.max(20, meta.runs)}), hoard and peers interleaved round by round`);
  const carriedDates = [...new Set(rows.filter((r) => r.carriedFrom).map((r) => r.carriedFrom))];
  if (carriedDates.length) md.push(`- rows marked *(from DATE)* were not run this time: carried over from the run of that date`);
  md.push(`- corpus (make-corpus.mjs gen --seed 1${meta.quick ? ' --only small --small-files 10000' : ''}):`);
  if (meta.corpus.small) md.push(`  - small: ${meta.corpus.small}`);
  if (meta.corpus.media) md.push(`  - media: ${meta.corpus.media}`);
  if (meta.missingTools.length) md.push(`- missing peer tools (skipped): ${meta.missingTools.join(', ')}; \`bash scripts/install-deps.sh\` installs them`);
  if (meta.crash) md.push(`- **CRASHED**: ${esc(meta.crash)}`);
  md.push('', 'Ratios: time ratio = hoard / peer (target is a maximum); throughput ratio (marked x) = peer time / hoard time (target is a minimum).');
  const tableRow = (r) => `| ${esc(r.name)} | ${fmtS(r.hoardSeconds)} | ${esc(r.peerName)} | ${fmtS(r.peerSeconds)} | ${esc(fmtRatio(r))} | ${esc(fmtTarget(r))} | ${r.status} | ${[r.carriedFrom ? `*(from ${r.carriedFrom})*` : '', esc(r.note)].filter(Boolean).join(' ')} |`;
  for (const sec of SECTIONS) {
    const secRows = rows.filter((r) => sectionOf(r) === sec);
    if (!secRows.length) continue;
    md.push('');
    if (sec.title) md.push(`## ${sec.title}`, '');
    md.push('| check | hoard s | peer | peer s | ratio | target | result | notes |', '|---|--:|---|--:|--:|--:|:-:|---|');
    for (const r of secRows) md.push(tableRow(r));
  }
  const timed = rows.filter((r) => r.hoardTimes?.length || r.peerTimes?.length);
  if (timed.length) {
    md.push('', '## Commands and all timings (seconds)', '');
    for (const r of timed) {
      md.push(`- ${r.name}${r.carriedFrom ? ` *(from ${r.carriedFrom})*` : ''}`);
      if (r.hoardCmd) md.push(`  - hoard: \`${r.hoardCmd}\`: median ${fmtS(r.hoardSeconds)} (${r.hoardTimes.map(fmtS).join(', ')})${fmtCpu(r.hoardCpu)}`);
      if (r.peerCmd) md.push(`  - ${r.peerName}: \`${r.peerCmd}\`: median ${fmtS(r.peerSeconds)} (${r.peerTimes.map(fmtS).join(', ')})${fmtCpu(r.peerCpu)}`);
    }
  }
  md.push('');
  fs.writeFileSync(path.join(BENCH, 'RESULTS.md'), md.join('\n'));
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify({ ...meta, correctnessFailed: correctnessFailures.size > 0, results: rows }, null, 2) + '\n');
}

// ---------- main ----------

const MEASUREMENTS = {
  M1: m1Correctness, M2: m2Scan, M3: m3Media, M4a: m4aFirstRun, M4b: m4bWarmRun, M4c: m4cRacy, M5: m5Startup, M6: m6BadInput, M7: m7Memory,
  S1: s1Exactness, S2: s2AddTiming, S3: s3Status, S4: s4Rebuild, S7: s7Memory,
  P1: p1RoundTrip, P2a: p2aNoop, P2b: p2bChanges, P3a: p3aRclone, P3b: p3bRsync,
  B1a: b1aFirstBackup, B1b: b1bNoopBackup, B1c: b1cChangedBackup, B2a: b2aRestoreTree, B2b: b2bOldVersions,
};

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
    for (const id of opts.ids) {
      // An S, P or B item that crashes is reported as a failed row; the others still run.
      if (id.startsWith('M')) await MEASUREMENTS[id]();
      else {
        try {
          await MEASUREMENTS[id]();
        } catch (err) {
          const msg = String(err?.stack ?? err);
          log(`${id} crashed: ${msg}`);
          meta.crash = meta.crash ? `${meta.crash}\n${id}: ${msg}` : `${id}: ${msg}`;
          addCheck({ id, name: `${id} (crashed)`, pass: false, note: firstLine(err?.message ?? err, 400) });
          exitCode = 1;
        }
      }
    }
  } catch (err) {
    meta.crash = String(err?.stack ?? err);
    log(`bench crashed: ${meta.crash}`);
    exitCode = 1;
  } finally {
    await pushCleanup().catch((err) => log(`cleaning up ${PUSH.root}: ${err?.message ?? err}`));
    backupCleanup();
    fs.rmSync(TMP, { recursive: true, force: true });
  }
  printTable();
  writeReports(meta);
  log(`\nwrote ${path.join(BENCH, 'RESULTS.md')} and results.json`);
  if (correctnessFailures.size) {
    log(`CORRECTNESS FAILURE (${[...correctnessFailures].join(', ')}): see notes`);
    exitCode = 1;
  }
  process.exit(exitCode);
}

main();
