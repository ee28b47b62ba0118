/**
 * The recorder's thread (see recorder.ts): its own connection to a host's state, one write
 * transaction at a time, fed packs and first versions in the order the backup posts them.
 * A pack is always recorded before any version whose content it holds, in the same
 * transaction or an earlier one: a crash at any instant leaves either both or neither
 * committed, or the pack alone (found again, as a run cut short leaves it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Repository, type StateChange } from '@hoard/state';
import { INSERT_SNAPSHOT } from './snapshots.js';
import { ADDITION_FIELDS, COMMIT_EVERY_ROWS, IDLE_COMMIT_MS, RECORDER_CACHE_KB, type RecorderReply, type RecorderRequest } from './recorder-protocol.js';

const { root } = workerData as { root: string };
const repo = Repository.open(root);
const db = repo.db;
db.pragma(`cache_size = -${RECORDER_CACHE_KB}`);
const snapshot = db.prepare(INSERT_SNAPSHOT);
let open = false;
let rowsSinceCommit = 0;
let idle: NodeJS.Timeout | undefined;

const reply = (r: RecorderReply) => parentPort!.postMessage(r);

function begin(): void {
  if (open) return;
  db.exec('BEGIN IMMEDIATE');
  open = true;
}

function commit(): void {
  if (!open) return;
  db.exec('COMMIT');
  open = false;
  rowsSinceCommit = 0;
}

/**
 * Commits come at a bound (the log, and what the backup remembers until a commit, stay
 * small), when asked (the backup writes through its own connection next, or is done), and
 * when nothing came for a moment: a writer on another connection never waits long for this one.
 */
function handle(m: RecorderRequest): void {
  if (m.op === 'packs') {
    begin();
    repo.recordPacks(m.vaultId, m.packs);
  } else if (m.op === 'add') {
    begin();
    const before = repo.lastSeq(m.locationId);
    const rows = m.rows;
    const changes: StateChange[] = [];
    for (let i = 0; i < rows.length; i += ADDITION_FIELDS) {
      const key = rows[i] as string, hash = rows[i + 1] as string, size = rows[i + 2] as number, mode = rows[i + 3] as number;
      const mtimeMs = rows[i + 7] as number, ino = rows[i + 10] as number;
      snapshot.run(m.locationId, key, hash, size, mode, rows[i + 4], rows[i + 5], rows[i + 6], mtimeMs, rows[i + 8], rows[i + 9], m.time, m.backupId, 0);
      changes.push({ op: 'add', key, hash, size, mode, mtimeMs, ino });
    }
    repo.applyChanges(m.locationId, changes);
    rowsSinceCommit += changes.length;
    reply({ op: 'recorded', n: m.n, locationId: m.locationId, count: changes.length, before, after: repo.lastSeq(m.locationId) });
  } else {
    commit();
    if (m.op === 'close') repo.close();
    reply({ op: 'released', n: m.n });
    if (m.op === 'close') parentPort!.close();
    return;
  }
  if (rowsSinceCommit >= COMMIT_EVERY_ROWS) commit();
}

let broken = false;

parentPort!.on('message', (m: RecorderRequest) => {
  clearTimeout(idle);
  if (broken) return;
  try {
    handle(m);
  } catch (err) {
    // Nothing of the open transaction is kept: the backup fails, and the next one finds the
    // packs again and records their versions then.
    broken = true;
    if (db.inTransaction) db.exec('ROLLBACK');
    open = false;
    repo.close();
    reply({ op: 'failed', message: (err as Error).message });
    return;
  }
  if (open) idle = setTimeout(commit, IDLE_COMMIT_MS).unref();
});
