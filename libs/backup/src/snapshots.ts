import type { Repository } from '@hoard/state';

/** One version of one file, as a backup recorded it (seed 004's FileSnapshot). */
export interface Snapshot {
  id: number;
  locationId: number;
  key: string;
  hash: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  createdAt: string;
  backupId: number | null;
  deleted: number;
}

/**
 * Records one version: location_id, key, hash, size, mode, uid, gid, atime_ms, mtime_ms,
 * ctime_ms, birthtime_ms, created_at, backup_id, deleted (a backup's own connection and
 * its recorder's thread both write through it).
 */
export const INSERT_SNAPSHOT = `INSERT INTO snapshots (location_id, key, hash, size, mode, uid, gid, atime_ms, mtime_ms, ctime_ms, birthtime_ms, created_at, backup_id, deleted)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const COLUMNS = `id, location_id AS locationId, key, hash, size, mode, uid, gid, atime_ms AS atimeMs, mtime_ms AS mtimeMs, ctime_ms AS ctimeMs,
  birthtime_ms AS birthtimeMs, created_at AS createdAt, backup_id AS backupId, deleted`;

/** A file's versions, oldest first (deletions included, flagged). */
export function history(host: Repository, locationId: number, key: string): Snapshot[] {
  return host.db.prepare(`SELECT ${COLUMNS} FROM snapshots WHERE location_id = ? AND key = ? ORDER BY id`).all(locationId, key) as Snapshot[];
}

/** The newest version at or before a time of each path under a folder: stateAt's rows, and stateTotals' count. */
const AT_TIME = `FROM snapshots s WHERE location_id = ? AND ((key >= ? AND key < ?) OR key = ?) AND created_at <= ?
       AND id = (SELECT max(id) FROM snapshots t WHERE t.location_id = s.location_id AND t.key = s.key AND t.created_at <= ?)`;

function atTimeArgs(locationId: number, under: string, time: string): unknown[] {
  const [lo, hi] = under ? [`${under}/`, `${under}0`] : ['', '\u{10FFFF}'];
  return [locationId, lo, hi, under, time, time];
}

/**
 * The files of a tracked folder (or part of it) as they were at `time` (ISO): for each
 * path its newest version recorded at or before then, unless that was a deletion.
 */
export function* stateAt(host: Repository, locationId: number, under: string, time: string): Generator<Snapshot> {
  const stmt = host.db.prepare(`SELECT ${COLUMNS} ${AT_TIME} ORDER BY key`);
  for (const s of stmt.iterate(...atTimeArgs(locationId, under, time)) as IterableIterator<Snapshot>) if (!s.deleted) yield s;
}

/** How many files stateAt gives, and their bytes (for a restore's ETA). */
export function stateTotals(host: Repository, locationId: number, under: string, time: string): { files: number; bytes: number } {
  return host.db.prepare(`SELECT count(*) AS files, ifnull(sum(size), 0) AS bytes ${AT_TIME} AND deleted = 0`).get(...atTimeArgs(locationId, under, time)) as { files: number; bytes: number };
}

/** Every content id any version still refers to. */
export function referencedHashes(db: Repository['db']): Set<string> {
  return new Set(db.prepare('SELECT DISTINCT hash FROM snapshots').pluck().all() as string[]);
}
