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
 * Rows a transaction holds before the recorder commits it. At this bound a first backup
 * of 100,000 files commits about seven times, each writing the pages it dirtied to the log
 * on the recorder's thread, so the backup's last commit is small.
 */
export const COMMIT_EVERY_ROWS = 16_384;

/** A transaction left open this long with nothing to record is committed. */
export const IDLE_COMMIT_MS = 50;
