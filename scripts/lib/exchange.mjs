// push, pull and sync: one exchange between this repository and a remote, as a chain of
// hoard's plumbing. Each step is a tool anyone can run by hand; this only strings them:
//
//   hoard add                       record what changed here
//   hoard remote fetch R            learn what R holds now; settle the three-way base
//   hoard plan --push|--pull|--sync R          (--dry-run prints the plan and stops)
//     | hoard stage | hoard transfer | hoard integrate | hoard reconcile   (the plan streams in as it is made)
//   hoard remote fetch R            record the outcome; settle the base again (--recorded: what reconcile recorded)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { $, quote } from 'zx/core';
import { formatBytes, formatCount, Progress } from '@hoard/cli';
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
    if (flags.has('--dry-run')) {
      const plan = path.join(work, 'plan.jsonl');
      await $`${HOARD} plan ${`--${direction}`} ${remote} > ${plan}`;
      process.stdout.write(fs.readFileSync(plan));
      return 0;
    }
    say(`exchanging content`);
    // On a terminal (stderr), the files and bytes that arrived so far: the steps draw nothing, their stderr is read here.
    const progress = new Progress(`${direction} ${remote}`);
    progress.start();
    const counts = new ExchangeTally(summary, progress);
    const run = await planAndExchange(direction, remote, ['--transfer', transfer], repo.root, counts).finally(() => progress.stop());
    if (!run.exchanged) {
      if (run.planCode !== 0) {
        summary.errors++;
        process.stderr.write(`hoard ${direction}: ${run.stderr.trim().split('\n').pop()}\n`);
        return finish();
      }
      // Every line of the plan, counted by the tally, was a symlink skipped for a mirror (or there was none).
      if (summary.errors === 0) repo.setMeta(settled, summary.skipped ? `${inputs}\n${summary.skipped}` : inputs);
      say('nothing to exchange');
      return finish();
    }
    const failedItems = counts.finish();
    if ((run.planCode !== 0 || run.chainCode !== 0) && failedItems === 0) {
      // A step stopped short (not an item that failed): say what it said.
      summary.errors++;
      process.stderr.write(`hoard ${direction}: ${run.stderr.trim().split('\n').pop()}\n`);
    }
    // After an exchange without errors, an rclone remote holds what reconcile recorded of it:
    // a first push's listing of the 100,000 files it just wrote took 1.2 s.
    const recorded = run.planCode === 0 && run.chainCode === 0 && failedItems === 0 ? ['--recorded'] : [];
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
const REASON = Buffer.from('"reason"');

/**
 * `hoard plan` streamed into `hoard stage | hoard transfer | hoard integrate | hoard reconcile`
 * as its actions come, and their results tallied as they arrive: written to a file first,
 * the plan of a first push kept the chain from starting for ~1.1 s (the plan made, then read
 * back), and the results, read after the chain ended, took ~0.5 s more. The plan passes through
 * here: the chain starts at its first action that is not a symlink skipped for a mirror (a plan
 * of nothing else has nothing to exchange; the plan puts those skips last, so this is its first
 * line), and its lines with a reason say which paths conflict. Memory: what is held before that
 * first action, then a chunk of each stream and one partial line.
 */
async function planAndExchange(direction, remote, transferArgs, cwd, counts) {
  const planner = spawn(HOARD[0], [...HOARD.slice(1), 'plan', `--${direction}`, remote], { cwd, env: $.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const planErr = tailOf(planner.stderr);
  const planExit = exitOf(planner);
  let chain;
  let feed;
  const held = [];
  const plan = new LineCarry();
  const decide = async (whole) => {
    for (const line of linesOf(whole)) {
      const a = JSON.parse(line);
      if (a.op !== 'skip' || a.reason !== 'symlink-on-mirror') {
        chain = startChain(transferArgs, cwd, counts);
        feed = feeder(chain.child.stdin);
        for (const h of held) await feed(h);
        held.length = 0;
        return;
      }
    }
  };
  for await (const chunk of planner.stdout) {
    const whole = plan.take(chunk);
    counts.planLines(whole);
    if (chain) await feed(chunk);
    else {
      held.push(chunk);
      await decide(whole);
    }
  }
  const last = plan.rest();
  counts.planLines(last);
  if (!chain) await decide(last);
  const planCode = await planExit;
  if (!chain) return { exchanged: false, planCode, chainCode: 0, stderr: await planErr };
  chain.child.stdin.end();
  const chainCode = await chain.exit;
  await chain.tallied;
  return { exchanged: true, planCode, chainCode, stderr: planCode !== 0 ? await planErr : await chain.stderr };
}

function startChain(transferArgs, cwd, counts) {
  const hoard = HOARD.map((a) => quote(a)).join(' ');
  const t = transferArgs.map((a) => quote(a)).join(' ');
  const script = `set -o pipefail; ${['stage', 'transfer', 'integrate', 'reconcile'].map((tool) => `${hoard} ${tool} ${t}`).join(' | ')}`;
  const child = spawn('bash', ['-c', script], { cwd, env: $.env, stdio: ['pipe', 'pipe', 'pipe'] });
  return { child, exit: exitOf(child), stderr: tailOf(child.stderr), tallied: tallyResults(counts, child.stdout) };
}

/**
 * Writes to a step's stdin, waiting while it is full; once the step stops reading, what is
 * left is dropped (its exit code says what happened). A child's stdin is destroyed without an
 * error when the child exits, so waiting for 'drain' alone would wait for ever: the chain's
 * shell keeps the pipe open until its last step ends, then closes it.
 */
export function feeder(stdin) {
  let gone = false;
  stdin.on('error', () => (gone = true));
  return async (chunk) => {
    if (gone || stdin.destroyed) return;
    if (stdin.write(chunk)) return;
    await new Promise((resolve) => {
      const done = () => {
        for (const event of ['drain', 'close', 'error']) stdin.off(event, done);
        resolve();
      };
      for (const event of ['drain', 'close', 'error']) stdin.on(event, done);
    });
  };
}

/** The chain's results, tallied as they arrive (a line may end in any later chunk). */
export async function tallyResults(counts, stream) {
  const results = new LineCarry();
  for await (const chunk of stream) counts.resultLines(results.take(chunk));
  counts.resultLines(results.rest());
}

function exitOf(child) {
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** The last 16 KB a stream says (the last line is what a failed step said). */
async function tailOf(stream) {
  stream.setEncoding('utf8'); // a character cut between two chunks stays whole
  let tail = '';
  for await (const chunk of stream) tail = (tail + chunk).slice(-16384);
  return tail;
}

/** The whole lines of a byte stream, chunk by chunk: what ends a chunk after its last newline waits for the next. */
class LineCarry {
  carry = Buffer.alloc(0);
  take(chunk) {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const nl = data.lastIndexOf(NEWLINE);
    this.carry = nl === -1 ? data : data.subarray(nl + 1);
    return nl === -1 ? Buffer.alloc(0) : data.subarray(0, nl + 1);
  }
  rest() {
    const last = this.carry;
    this.carry = Buffer.alloc(0);
    return last;
  }
}

/** The lines of whole JSONL lines held as bytes, each decoded alone (200,000 results as one string: 0.75 s; this way 0.4 s with the parsing). */
function* linesOf(bytes) {
  for (let at = 0; at < bytes.length; ) {
    const nl = bytes.indexOf(NEWLINE, at);
    const end = nl === -1 ? bytes.length : nl;
    if (end > at) yield bytes.toString('utf8', at, end);
    at = end + 1;
  }
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

/** The summary of an exchange, from its plan's lines and its chain's results as they pass. */
export class ExchangeTally {
  // One conflict per path, however many steps it takes (a conflict copy on each side).
  conflicts = new Set();
  // One error per file, however many steps report it (a copy refused, then its checkout with nothing to check out).
  failedFiles = new Set();
  failed = 0;
  /** `progress`: told of each file that arrived (add) and cleared before a line is written (clear). */
  constructor(summary, progress) {
    this.summary = summary;
    this.progress = progress;
  }

  /** Only actions with a reason say anything here: those lines alone are read. */
  planLines(bytes) {
    for (let at = bytes.indexOf(REASON); at !== -1; ) {
      const start = bytes.lastIndexOf(NEWLINE, at) + 1;
      const nl = bytes.indexOf(NEWLINE, at);
      const end = nl === -1 ? bytes.length : nl;
      at = bytes.indexOf(REASON, end);
      const a = JSON.parse(bytes.toString('utf8', start, end));
      if (a.op === 'skip' && /conflict|deleted-here|edited-here/.test(a.reason ?? '')) this.conflicts.add(a.path);
      if (a.op === 'checkout' && a.reason === 'conflict') this.conflicts.add(a.path);
      // As `rclone copy` without --links: a symlink does not go to a mirror, and the summary says so.
      if (a.op === 'skip' && a.reason === 'symlink-on-mirror') this.summary.skipped++;
    }
  }

  resultLines(bytes) {
    const summary = this.summary;
    for (const line of linesOf(bytes)) {
      const r = okResult(line) ?? JSON.parse(line);
      if (r.type === 'error') {
        summary.errors++;
        this.failed++;
        this.progress?.clear();
        process.stderr.write(`hoard: ${r.tool ?? 'error'}: ${r.message ?? r.code}\n`);
        continue;
      }
      if (r.type !== 'result') continue;
      if (!r.ok) {
        this.failed++;
        const file = r.path === undefined ? undefined : `${r.target}\0${r.path}\0${r.pathBytes ?? ''}`;
        if (r.code === 'conflict') summary.conflicts++;
        else if (file === undefined || !this.failedFiles.has(file)) (summary.errors++, file && this.failedFiles.add(file));
        this.progress?.clear();
        process.stderr.write(`hoard: ${r.tool}: ${r.path ?? r.hash ?? ''}: ${r.message ?? r.code}\n`);
        continue;
      }
      if (r.tool === 'integrate') {
        if (r.target === 'local') (summary.filesReceived++, (summary.bytesReceived += r.bytes ?? 0));
        else (summary.filesSent++, (summary.bytesSent += r.bytes ?? 0));
        this.progress?.add(1, r.bytes ?? 0);
      }
      if (r.tool === 'reconcile') {
        if (r.op === 'checkout') summary.checkedOut++;
        if (r.op === 'move') summary.moved++;
        if (r.op === 'trash') summary.trashed++;
      }
    }
  }

  /** The conflicts the plan named, counted once; how many items failed. */
  finish() {
    this.summary.conflicts += this.conflicts.size;
    return this.failed;
  }
}
