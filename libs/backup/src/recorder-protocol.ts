import type { PackedBlob } from '@hoard/state';

/** The messages between a backup and its recorder's thread (recorder.ts, recorder-worker.ts). */
export type RecorderRequest =
  | { op: 'packs'; n: number; vaultId: number; packs: Array<{ id: string; blobs: PackedBlob[] }> }
  /** First versions, ADDITION_FIELDS values each (see Recorder.additions), all of one location. */
  | { op: 'add'; n: number; locationId: number; backupId: number; time: string; rows: Array<string | number> }
  /** Commit what is open and answer `released`; `close` also closes the connection. */
  | { op: 'release' | 'close'; n: number };

export type RecorderReply =
  | { op: 'recorded'; n: number; locationId: number; count: number; before: number; after: number }
  | { op: 'released'; n: number }
  | { op: 'failed'; message: string };

/** key, hash, size, mode, uid, gid, atimeMs, mtimeMs, ctimeMs, birthtimeMs, ino. */
export const ADDITION_FIELDS = 11;

/**
 * Rows a transaction holds before the recorder commits it. Every commit writes again the
 * pages it dirtied, and `packed` takes blobs in random order, so each commit rewrites most
 * of its pages. `node bench/recorder.mjs --pace 100` (100,000 first versions posted as a
 * backup posts them): 3.6 CPU-seconds committing every 16,384 rows and after 50 ms without
 * a message, 2.9-3.2 at this bound and IDLE_COMMIT_MS, the last commit ~0.1 s longer.
 */
export const COMMIT_EVERY_ROWS = 32_768;

/** A transaction left open this long with nothing to record is committed (no writer waits longer for this one). */
export const IDLE_COMMIT_MS = 500;

/**
 * The recorder's connection keeps a page cache of this many KB, not the state's usual 64 MB: it
 * appends, and a bigger cache only grew into memory the process had never touched (a first
 * backup of 100,000 files, five interleaved pairs: 45 MB less peak memory, 0.2 CPU-s less; at
 * 4 MB it read pages again, 0.5 CPU-s more).
 */
export const RECORDER_CACHE_KB = 16_384;
