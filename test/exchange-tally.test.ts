import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExchangeTally, feeder, tallyResults } from '../scripts/lib/exchange.mjs';

const summaryOf = () => ({ type: 'summary', filesSent: 0, bytesSent: 0, filesReceived: 0, bytesReceived: 0, checkedOut: 0, moved: 0, trashed: 0, conflicts: 0, skipped: 0, errors: 0 });

// What hoard's tools write, field order included: the tally reads successful results without parsing them.
const results = [
  { type: 'result', tool: 'integrate', op: 'integrate', ok: true, key: 'a/é.jpg', hash: 'sha256:aa', bytes: 1234, target: 'nas', path: 'a/é.jpg' },
  { type: 'result', tool: 'reconcile', op: 'checkout', ok: true, target: 'nas', path: 'a/é.jpg' },
  { type: 'result', tool: 'integrate', op: 'integrate', ok: true, key: 'b/日本語.txt', hash: 'sha256:bb', bytes: 99, target: 'local', path: 'b/日本語.txt' },
  { type: 'result', tool: 'reconcile', op: 'move', ok: true, target: 'nas', path: 'c/new name' },
  { type: 'result', tool: 'reconcile', op: 'trash', ok: true, target: 'nas', path: 'd' },
  { type: 'result', tool: 'transfer', op: 'copy', ok: false, code: 'rclone', message: 'no space', target: 'nas', path: 'e/x' },
  { type: 'result', tool: 'reconcile', op: 'checkout', ok: false, code: 'missing', message: 'nothing to check out', target: 'nas', path: 'e/x' },
  { type: 'result', tool: 'reconcile', op: 'checkout', ok: false, code: 'conflict', message: 'kept', target: 'nas', path: 'f' },
  { type: 'error', tool: 'stage', message: 'stdin:9: not JSON' },
];
const text = Buffer.from(`${results.map((r) => JSON.stringify(r)).join('\n')}\n`);

/** The same bytes in pieces of 1 to 7 bytes: lines and multi-byte characters cut anywhere. */
function* pieces(bytes: Buffer): Generator<Buffer> {
  for (let at = 0, n = 1; at < bytes.length; at += n, n = (n % 7) + 1) yield bytes.subarray(at, at + n);
}

describe('the tally of an exchange', () => {
  beforeEach(() => void vi.spyOn(process.stderr, 'write').mockImplementation(() => true));
  afterEach(() => vi.restoreAllMocks());

  it('counts each result once however the stream cuts its lines, and each failed file once', async () => {
    const whole = summaryOf();
    const wholeTally = new ExchangeTally(whole);
    await tallyResults(wholeTally, Readable.from([text]));
    const cut = summaryOf();
    const shown: string[] = [];
    const cutTally = new ExchangeTally(cut, { add: (files: number, bytes: number) => shown.push(`+${files} ${bytes}`), clear: () => shown.push('clear') });
    await tallyResults(cutTally, Readable.from(pieces(text)));
    expect(cutTally.finish()).toBe(4); // two failures of one file, a conflict, an error record
    // The progress line counts each file that arrived, and is cleared before each failure is said.
    expect(shown).toEqual(['+1 1234', '+1 99', 'clear', 'clear', 'clear', 'clear']);
    expect(process.stderr.write).toHaveBeenCalledWith('hoard: stage: stdin:9: not JSON\n');
    wholeTally.finish();
    expect(cut).toEqual(whole);
    expect(cut).toMatchObject({ filesSent: 1, bytesSent: 1234, filesReceived: 1, bytesReceived: 99, checkedOut: 1, moved: 1, trashed: 1, conflicts: 1, errors: 2 });
  });

  it('reads a last line without its newline, and a plan line with a reason wherever it stands', async () => {
    const s = summaryOf();
    const tally = new ExchangeTally(s);
    await tallyResults(tally, Readable.from(pieces(Buffer.from(JSON.stringify(results[0])))));
    const plan = [
      { type: 'action', op: 'copy', target: 'nas', source: 'local', hash: 'sha256:aa', size: 1, path: 'a' },
      { type: 'action', op: 'skip', target: 'nas', path: 'g', hash: 'sha256:cc', reason: 'conflict' },
      { type: 'action', op: 'skip', target: 'nas', path: 'l', hash: 'sha256:dd', reason: 'symlink-on-mirror' },
    ];
    tally.planLines(Buffer.from(`${plan.map((a) => JSON.stringify(a)).join('\n')}\n`));
    expect(tally.finish()).toBe(0);
    expect(s).toMatchObject({ filesSent: 1, bytesSent: 1234, conflicts: 1, skipped: 1, errors: 0 });
  });
});

describe('the plan fed to the chain', () => {
  it('is dropped, not waited on for ever, once the chain ends without reading it all (its stdin closed at exit, no error)', async () => {
    // A step that stops reading after 100 bytes while the pipe stays open beyond the child's exit
    // (a process it left holds it): Node destroys the child's stdin at exit without an error.
    const child = spawn('bash', ['-c', 'sleep 3 <&0 >/dev/null 2>&1 & head -c 100 >/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const feed = feeder(child.stdin);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 64; i++) await feed(chunk); // 4 MB, far more than a pipe holds
    expect(await exited).toBe(0);
    expect(child.stdin.destroyed).toBe(true);
  }, 15_000);
});
