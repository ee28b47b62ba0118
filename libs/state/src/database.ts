import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { HoardError, LockedError } from '@hoard/schema';

export type Db = Database.Database;

// Loaded on first use: a tool that never opens a database (or answers --version) does
// not pay for loading the native SQLite module.
let sqlite: typeof Database | undefined;
const require = createRequire(import.meta.url);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface OpenOptions {
  /** How long a writer waits for another writer's lock before failing (ms). */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

/** How much of a database file SQLite may map (state files of 100,000 files are ~110 MB). */
const MMAP_BYTES = 256 * 1024 * 1024;
/**
 * The size from which a state is read through a mapping. A state this large when opened has
 * pages to look up (the hash cache of 100,000 files is ~10 MB); a new one is written by this
 * run, whose pages a mapping would only fault in one by one (a first backup of 100,000
 * files, interleaved over ten pairs: median 9.26 s without the mapping against 9.75 s with
 * it, and 60-100 MB less memory).
 */
export const MMAP_FROM_BYTES = 1024 * 1024;

/**
 * Open (creating if needed) an SQLite file in WAL mode and bring its schema up to date.
 * The folder is created private (0700) and the file private (0600): state names every
 * file a person owns.
 */
export function openDatabase(file: string, migrations: readonly Migration[], options: OpenOptions = {}): Db {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sizeAtOpen = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  let db: Db;
  try {
    sqlite ??= require('better-sqlite3') as typeof Database;
    db = new sqlite(file, { timeout: options.busyTimeoutMs ?? 10_000, readonly: options.readonly ?? false });
  } catch (err) {
    throw new HoardError(`cannot open state database ${file}: ${(err as Error).message}`);
  }
  try {
    fs.chmodSync(file, 0o600);
  } catch {
    /* read-only or not ours: opening worked, so reading is allowed */
  }
  // Pages read through a mapping, not a read() call and a copy each: the scattered lookups
  // of a backup after a small change (entries, hash cache, packed) read a few thousand pages.
  if (sizeAtOpen >= MMAP_FROM_BYTES) db.pragma(`mmap_size = ${MMAP_BYTES}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // 64 MB of page cache: recording 100k files inserts into indexes in hash order.
    db.pragma('cache_size = -65536');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, file);
  }
  return db;
}

/**
 * Run `body` as one write transaction: its own (BEGIN IMMEDIATE), or the one already open
 * on `db`, whole. Not a nested savepoint: inside one, SQLite copies every page the body
 * changes to a statement journal first (a file once past 64 KB), so a backup recording
 * 4,000 changes inside its own transaction wrote 30 MB there. Inside an open transaction,
 * an error thrown by `body` is that transaction's to roll back: nothing undoes `body`'s
 * writes alone, so a caller there must let the error leave its transaction.
 */
export function writeTransaction<T>(db: Db, body: () => T): T {
  return db.inTransaction ? body() : db.transaction(body).immediate();
}

/**
 * A consistent copy of `db`'s file at `file`, made by the kernel: the write-ahead log is
 * checkpointed into the database file and emptied, then the file is copied whole inside a
 * read transaction, which keeps any other connection's checkpoint from writing to it (a
 * reader of an empty log holds the lock a checkpoint needs before it writes). SQLite's
 * backup API copies the same pages one by one through both page caches: 0.6-0.7 s for the
 * 84 MB state of a 100,000-file backup, where this took 0.02-0.05 s. When the
 * log cannot be emptied (another connection is reading from it) or is written again before
 * the read begins, the backup API it is.
 */
export async function copyDatabase(db: Db, file: string): Promise<void> {
  const log = `${db.name}-wal`;
  if (!db.memory && !db.inTransaction && !db.readonly) {
    // Not waiting for a reader to finish: the backup API copies around it.
    const timeout = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma('busy_timeout = 0');
    let result: { busy: number; log: number } | undefined;
    try {
      [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number }>;
    } finally {
      db.pragma(`busy_timeout = ${timeout}`);
    }
    if (result && result.busy === 0 && result.log === 0) {
      db.exec('BEGIN');
      try {
        db.prepare('SELECT count(*) FROM sqlite_schema').get(); // the read snapshot starts here
        if ((fs.statSync(log, { throwIfNoEntry: false })?.size ?? 0) === 0) {
          fs.copyFileSync(db.name, file);
          return;
        }
      } finally {
        db.exec('COMMIT');
      }
    }
  }
  await db.backup(file, { progress: () => 0x7fffffff });
}

/** Apply the migrations not applied yet, each in its own transaction, in version order. */
export function migrate(db: Db, migrations: readonly Migration[], file = 'database'): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const newest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  if (current > newest) {
    throw new HoardError(`${file} has schema version ${current}, newer than this hoard understands (${newest}); upgrade hoard`);
  }
  const pending = migrations.filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    try {
      db.transaction(() => {
        // Re-check inside the write lock: another process may have migrated meanwhile.
        const now = db.pragma('user_version', { simple: true }) as number;
        if (now >= m.version) return;
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new LockedError(`${file} is locked by another hoard process`);
      throw err;
    }
  }
}
