// push, pull and sync: one exchange between this repository and a remote, as a chain of
// hoard's plumbing. Each step is a tool anyone can run by hand; this only strings them:
//
//   hoard add                       record what changed here
//   hoard remote fetch R            learn what R holds now; settle the three-way base
//   hoard plan --push|--pull|--sync R  > plan.jsonl       (--dry-run prints it and stops)
//   hoard stage | hoard transfer | hoard integrate | hoard reconcile   < plan.jsonl
//   hoard remote fetch R            record the outcome; settle the base again (--recorded: what reconcile recorded)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { $ } from 'zx';
import { formatBytes, formatCount } from '@hoard/cli';
import { LOCAL, Repository } from '@hoard/state';

const require = createRequire(import.meta.url);
const HOARD = [process.execPath, path.join(path.dirname(require.resolve('hoard/package.json')), 'bin', 'hoard.js')];

const USAGE = {
  push: 'hoard push REMOTE [--dry-run] [--json]: send the changes made here to REMOTE',
  pull: 'hoard pull REMOTE [--dry-run] [--json]: bring the changes made at REMOTE here',
  sync: 'hoard sync REMOTE [--dry-run] [--json]: both ways; two different edits of one file keep both',
};

export async function exchange(direction, argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  if (flags.has('--help') || flags.has('-h')) {
    process.stdout.write(`${USAGE[direction]}\n\nExample:\n  hoard ${direction} nas --json | jq .\n`);
    return 0;
  }
  const unknown = [...flags].filter((f) => !['--dry-run', '--json'].includes(f));
  if (args.length !== 1 || unknown.length) {
    process.stderr.write(`hoard ${direction}: ${unknown.length ? `unknown option ${unknown[0]}` : 'name one remote'} (usage: ${USAGE[direction]})\n`);
    return 2;
  }
  const [remote] = args;
  const json = flags.has('--json') || !process.stdout.isTTY;
  let repo;
  try {
    repo = Repository.open('.');
    repo.location(remote);
  } catch (err) {
    process.stderr.write(`hoard ${direction}: ${err.message}\n`);
    return err.exitCode ?? 2;
  }
  const release = repo.lock(direction, 30_000);
  const transfer = `${direction}-${remote}`;
  const work = fs.mkdtempSync(path.join(repo.hoardDir, `${direction}-`));
  $.verbose = false;
  $.quiet = true;
  $.env = { ...process.env, HOARD_LOCK_TOKEN: repo.lockToken, HOARD_NO_PROGRESS: process.env.HOARD_NO_PROGRESS ?? (process.stderr.isTTY ? '' : '1') };
  // A top-level bash (SHLVL unset) whose stdin is a socket, as Node's pipes are, believes sshd started
  // it and reads ~/.bashrc, whose start-up work (pyenv rehash, nvm...) has no place in a pipeline.
  for (const v of ['SSH_CLIENT', 'SSH2_CLIENT', 'SSH_CONNECTION']) delete $.env[v];
  $.env.SHLVL = String(Math.max(1, Number(process.env.SHLVL) || 0));
  $.cwd = repo.root;
  const say = (text) => process.stderr.isTTY && !json && process.stderr.write(`${text}\n`);
  const summary = { type: 'summary', command: direction, remote, filesSent: 0, bytesSent: 0, filesReceived: 0, bytesReceived: 0, checkedOut: 0, moved: 0, trashed: 0, conflicts: 0, skipped: 0, errors: 0 };
  try {
    say(`recording changes here`);
    await $`${HOARD} add --json`.nothrow().then(countErrors(summary));
    say(`asking ${remote} what it holds`);
    await $`${HOARD} remote fetch ${remote} ${direction === 'push' ? [] : ['--scan']}`.then(countErrors(summary));
    // The plan is a function of three recorded states (here, there, and the base both last
    // agreed on). When all three are as they were the last time the plan came out empty
    // (or held only symlinks a mirror cannot take: their count is kept beside), it would
    // come out the same again: nothing to plan, nothing to exchange.
    const inputs = [repo.location(LOCAL), repo.location(remote), repo.baseOf(repo.location(remote))].map((l) => repo.stateVersion(l.id)).join('|');
    const settled = `exchange-settled:${direction}:${remote}`;
    const [settledInputs, settledLinks] = (repo.meta(settled) ?? '').split('\n');
    if (!flags.has('--dry-run') && settledInputs === inputs) {
      summary.skipped = Number(settledLinks ?? 0);
      say('nothing to exchange');
      return finish();
    }
    const plan = path.join(work, 'plan.jsonl');
    await $`${HOARD} plan ${`--${direction}`} ${remote} > ${plan}`;
    if (flags.has('--dry-run')) {
      process.stdout.write(fs.readFileSync(plan));
      return 0;
    }
    // As bytes: a first push's plan is two lines a file, and only a few of them are read here.
    const planBytes = fs.readFileSync(plan);
    const links = onlyMirrorLinks(planBytes);
    if (links !== undefined) {
      summary.skipped = links;
      if (summary.errors === 0) repo.setMeta(settled, links ? `${inputs}\n${links}` : inputs);
      say('nothing to exchange');
      return finish();
    }
    say(`exchanging content`);
    const results = path.join(work, 'results.jsonl');
    const t = ['--transfer', transfer];
    const steps = await $`${HOARD} stage ${t} < ${plan} | ${HOARD} transfer ${t} | ${HOARD} integrate ${t} | ${HOARD} reconcile ${t} > ${results}`.nothrow();
    const failedItems = tally(summary, fs.readFileSync(results), planBytes);
    if (steps.exitCode !== 0 && failedItems === 0) {
      // A step stopped short (not an item that failed): say what it said.
      summary.errors++;
      process.stderr.write(`hoard ${direction}: ${String(steps.stderr).trim().split('\n').pop()}\n`);
    }
    // After an exchange without errors, an rclone remote holds what reconcile recorded of it:
    // a first push's listing of the 100,000 files it just wrote took 1.2 s.
    const recorded = steps.exitCode === 0 && failedItems === 0 ? ['--recorded'] : [];
    await $`${HOARD} remote fetch ${remote} ${recorded}`.then(countErrors(summary));
    fs.rmSync(repo.stagingDir(transfer), { recursive: true, force: true });
    fs.rmSync(`${repo.stagingDir(transfer)}.journal`, { force: true });
  } catch (err) {
    summary.errors++;
    process.stderr.write(`hoard ${direction}: ${String(err.stderr ?? err.message).trim().split('\n').pop()}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    release();
    repo.close();
  }
  return finish();

  function finish() {
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `${direction} ${remote}: sent ${formatCount(summary.filesSent, 'file')} (${formatBytes(summary.bytesSent)}), received ${formatCount(summary.filesReceived)} (${formatBytes(summary.bytesReceived)}), ` +
          `${formatCount(summary.moved)} moved, ${formatCount(summary.trashed)} to trash, ${formatCount(summary.conflicts)} conflicts, ` +
          `${summary.skipped ? `${formatCount(summary.skipped, 'symlink')} not sent (a mirror holds files only), ` : ''}${formatCount(summary.errors)} errors\n`,
      );
    }
    return summary.errors ? 1 : 0;
  }
}

const NEWLINE = 0x0a;

/**
 * The lines of a JSONL file read as bytes, each decoded alone: a results file of 200,000
 * lines read as one string took 0.75 s, as bytes and line by line 0.4 s, parsing included.
 */
function* linesOf(bytes) {
  for (let at = 0; at < bytes.length; ) {
    const nl = bytes.indexOf(NEWLINE, at);
    const end = nl === -1 ? bytes.length : nl;
    if (end > at) yield bytes.toString('utf8', at, end);
    at = end + 1;
  }
}

/** How many actions a plan holds when all are symlinks skipped for a mirror (0 for an empty plan); else undefined. */
function onlyMirrorLinks(planBytes) {
  let links = 0;
  // Line by line, stopping at the first other action (the first line of a first push's plan).
  for (const line of linesOf(planBytes)) {
    const a = JSON.parse(line);
    if (a.op !== 'skip' || a.reason !== 'symlink-on-mirror') return undefined;
    links++;
  }
  return links;
}

function countErrors(summary) {
  return (out) => {
    if (out.exitCode && out.exitCode !== 0) summary.errors++;
    return out;
  };
}

/**
 * What the tally reads of a successful result as hoard's tools write it (type, tool, op and ok
 * first), without parsing the line: 0.08 s for a first push's 200,000 lines, not 0.38 s.
 * `"bytes":` and `"target":"local"` cannot occur inside a JSON string (a quote there is always
 * escaped), so where they occur they are the record's own fields. Any other line: undefined.
 */
function okResult(line) {
  const m = OK_RESULT.exec(line);
  if (!m) return undefined;
  const at = line.indexOf('"bytes":');
  const bytes = at === -1 ? 0 : Number.parseInt(line.slice(at + 8, at + 30), 10);
  if (!Number.isSafeInteger(bytes)) return undefined;
  return { type: 'result', tool: m[1], op: m[2], ok: true, bytes, target: line.includes('"target":"local"') ? 'local' : undefined };
}
const OK_RESULT = /^\{"type":"result","tool":"(\w+)","op":"(\w+)","ok":true[,}]/;

function tally(summary, resultsBytes, planBytes) {
  // One conflict per path, however many steps it takes (a conflict copy on each side).
  const conflicts = new Set();
  // Only actions with a reason say anything here: those lines alone are read.
  for (let at = planBytes.indexOf('"reason"'); at !== -1; ) {
    const start = planBytes.lastIndexOf(NEWLINE, at) + 1;
    const nl = planBytes.indexOf(NEWLINE, at);
    const end = nl === -1 ? planBytes.length : nl;
    at = planBytes.indexOf('"reason"', end);
    const a = JSON.parse(planBytes.toString('utf8', start, end));
    if (a.op === 'skip' && /conflict|deleted-here|edited-here/.test(a.reason ?? '')) conflicts.add(a.path);
    if (a.op === 'checkout' && a.reason === 'conflict') conflicts.add(a.path);
    // As `rclone copy` without --links: a symlink does not go to a mirror, and the summary says so.
    if (a.op === 'skip' && a.reason === 'symlink-on-mirror') summary.skipped++;
  }
  summary.conflicts += conflicts.size;
  let failed = 0;
  // One error per file, however many steps report it (a copy refused, then its checkout with nothing to check out).
  const failedFiles = new Set();
  for (const line of linesOf(resultsBytes)) {
    const r = okResult(line) ?? JSON.parse(line);
    if (r.type === 'error') (summary.errors++, failed++);
    if (r.type !== 'result') continue;
    if (!r.ok) {
      failed++;
      const file = r.path === undefined ? undefined : `${r.target}\0${r.path}\0${r.pathBytes ?? ''}`;
      if (r.code === 'conflict') summary.conflicts++;
      else if (file === undefined || !failedFiles.has(file)) (summary.errors++, file && failedFiles.add(file));
      process.stderr.write(`hoard: ${r.tool}: ${r.path ?? r.hash ?? ''}: ${r.message ?? r.code}\n`);
      continue;
    }
    if (r.tool === 'integrate') {
      if (r.target === 'local') (summary.filesReceived++, (summary.bytesReceived += r.bytes ?? 0));
      else (summary.filesSent++, (summary.bytesSent += r.bytes ?? 0));
    }
    if (r.tool === 'reconcile') {
      if (r.op === 'checkout') summary.checkedOut++;
      if (r.op === 'move') summary.moved++;
      if (r.op === 'trash') summary.trashed++;
    }
  }
  return failed;
}

