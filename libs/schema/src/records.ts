/**
 * The JSONL record contract between hoard tools (DESIGN.md). Every record is a plain
 * object with a `type`; tools pass through records they do not handle, unchanged.
 * The TypeScript types here and the field specs in `specs.ts` describe the same shapes.
 */

export type HashAlgo = 'sha256' | 'blake3' | 'xxh3' | 'xxh64';
/** `<algo>:<hex>`, e.g. `sha256:e3b0...`. */
export type ContentId = string;

/** Whether a mode (of a file record, entry, change or snapshot) is a symlink's: its content is the link's target. */
export function isSymlinkMode(mode: number | undefined): boolean {
  return mode !== undefined && (mode & 0o170000) === 0o120000;
}

/** A symlink's target as a scan record carries it: the exact bytes the link holds (its content). */
export function symlinkTarget(rec: { target?: string; targetBytes?: string }): Buffer {
  return rec.targetBytes !== undefined ? Buffer.from(rec.targetBytes, 'base64') : Buffer.from(rec.target ?? '');
}

/** One entry seen by `scan`: a regular file or a symlink (never followed). */
export interface FileRecord {
  type: 'file';
  /** Absolute path of the scanned folder. */
  root: string;
  /** Relative to root, `/`-separated; readable form when the name is not UTF-8. */
  path: string;
  /** Base64 of the exact path bytes, present only when they are not valid UTF-8. */
  pathBytes?: string;
  size: number;
  mtimeMs: number;
  mode: number;
  ino: number;
  dev: number;
  nlink: number;
  uid: number;
  gid: number;
  atimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  /** Absent for regular files. */
  kind?: 'symlink';
  /** Symlink target, as stored (never resolved). */
  target?: string;
  /** Base64 of the exact target bytes, present only when they are not valid UTF-8. */
  targetBytes?: string;
  /** Added by `hash`. */
  hash?: ContentId;
  [extra: string]: unknown;
}

/** An item-level failure, written in-band (stdout) and as one line on stderr. */
export interface ErrorRecord {
  type: 'error';
  tool: string;
  code: string;
  message: string;
  path?: string;
  root?: string;
  /** Input line number, for bad input. */
  line?: number;
  [extra: string]: unknown;
}

/** Something skipped or worth knowing that is not a failure (e.g. a FIFO that scan skips). */
export interface NoteRecord {
  type: 'note';
  tool: string;
  code: string;
  message: string;
  path?: string;
  root?: string;
  [extra: string]: unknown;
}

/**
 * Written by `scan` after each root. Its absence (a scan killed mid-way) or
 * `complete: false` tells later tools not to infer deletions from what is missing.
 */
export interface ScanRecord {
  type: 'scan';
  root: string;
  /** Set when only part of the root was scanned. */
  under?: string;
  files: number;
  bytes: number;
  errors: number;
  complete: boolean;
  startedAt: string;
  finishedAt: string;
  [extra: string]: unknown;
}

export type ChangeOp = 'add' | 'modify' | 'delete' | 'move' | 'unchanged';

/** Written by `diff-state`: how a location differs from its recorded state. */
export interface ChangeRecord {
  type: 'change';
  op: ChangeOp;
  path: string;
  from?: string;
  hash?: ContentId;
  prevHash?: ContentId;
  location: string;
  [extra: string]: unknown;
}

export type ActionOp = 'copy' | 'checkout' | 'move' | 'trash' | 'skip';

/**
 * Written by `plan`: one step on one location (`target`). copy: send a blob there;
 * checkout: write `path` from a blob; move: rename `from` -> `path`; trash: move `path`
 * to the target's trash. `prevHash` is what the target is expected to hold at `path`
 * (checkout, trash) or `from` (move): anything else found there is kept, as a conflict.
 */
export interface ActionRecord {
  type: 'action';
  op: ActionOp;
  target: string;
  hash?: ContentId;
  size?: number;
  path?: string;
  pathBytes?: string;
  from?: string;
  fromBytes?: string;
  prevHash?: ContentId;
  mode?: number;
  mtimeMs?: number;
  source?: string;
  reason?: string;
  [extra: string]: unknown;
}

/** One file of a location's recorded state (`hoard ls`). */
export interface EntryRecord {
  type: 'entry';
  location: string;
  path: string;
  pathBytes?: string;
  hash: ContentId;
  size: number;
  mode: number;
  mtimeMs: number;
  [extra: string]: unknown;
}

/** A blob a location holds in its store, outside its tree. */
export interface BlobRecord {
  type: 'blob';
  location: string;
  hash: ContentId;
  size: number;
  [extra: string]: unknown;
}

/** One record per item from stage, transfer, integrate and reconcile. */
export interface ResultRecord {
  type: 'result';
  tool: string;
  op: string;
  ok: boolean;
  path?: string;
  hash?: ContentId;
  key?: string;
  bytes?: number;
  target?: string;
  code?: string;
  message?: string;
  [extra: string]: unknown;
}

/** The last record of a workflow under --json. */
export interface SummaryRecord {
  type: 'summary';
  command: string;
  errors: number;
  [extra: string]: unknown;
}

export type HoardRecord =
  | FileRecord
  | ErrorRecord
  | NoteRecord
  | ScanRecord
  | ChangeRecord
  | ActionRecord
  | EntryRecord
  | BlobRecord
  | ResultRecord
  | SummaryRecord;

/** Any record, including types this version does not know (they are passed through). */
export interface AnyRecord {
  type: string;
  [field: string]: unknown;
}
