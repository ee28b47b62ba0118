import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';

/** What the native reader returns for one folder it read (see src/scan_dir.c). */
export interface NativeFolder {
  /** JSONL of a run of file records, a subfolder to enter, or [kind, name] of a special file. */
  segments: Array<Buffer | string | [kind: string, name: string]>;
  /** Per JSONL segment, in order: its first and last file name and its fingerprint (see scan_dir.c). */
  runs: Array<[first: string, last: string, fingerprint: string]>;
  files: number;
  bytes: number;
}

/** A folder that could not be read. */
export interface NativeFolderError {
  code: string;
  message: string;
}

/**
 * Read several folders at once (threads spread the kernel work over the cores). One result
 * per folder: its records, null when it needs the JavaScript path (a .hoardignore inside, a
 * name or link target that is not UTF-8), or an error.
 */
export type ReadFolders = (absPaths: string[], relPrefixesJson: string[], rootJson: string) => Array<NativeFolder | NativeFolderError | null>;

/**
 * Copy files on one thread of libuv's pool (see src/file_ops.c): `pairs` is
 * "from\0to\0..." (absolute paths); one errno per pair, 0 for a copy made. Flag 1 keeps
 * the source's access and modification times. `expect`, [size, mtimeMs] per pair (NaN size:
 * none): a source opened that is not a regular file of that size and mtime is not copied
 * (NOT_AS_RECORDED).
 */
export type CopyFiles = (pairs: Buffer, flags: number, expect?: Float64Array) => Promise<Int32Array>;
/** copyFiles' answer for a source that is not what was recorded of it (size, mtime, a regular file). */
export const NOT_AS_RECORDED = -3;

/** Flag of copyFiles: give each copy its source's access and modification times. */
export const KEEP_TIMES = 1;

/**
 * Rename each file to its destination only if nothing is there (see src/file_ops.c): `pairs`
 * as for CopyFiles; one errno per pair, 0 for a file moved, EEXIST where something is in the way.
 */
export type RenameFiles = (pairs: Buffer) => Promise<Int32Array>;

/**
 * Give files their mode and mtime and rename each to its destination only if nothing is there
 * (see src/file_ops.c): `pairs` as for CopyFiles, `meta` [mode, mtimeMs] per pair; the result
 * holds [errno, size, mode, mtimeMs, ino] per pair (PLACED numbers each).
 */
export type PlaceFiles = (pairs: Buffer, meta: Float64Array) => Promise<Float64Array>;
export const PLACED = 5;

/**
 * Restore's writer (see src/file_ops.c): per file, `names` holds "pack\0tmp\0dest\0", `meta`
 * WRITE_META numbers [offset, length, createMode, uid (-1: keep), gid, chmodMode (-1: keep),
 * atimeMs (0: now), mtimeMs (NaN: keep)], `hashes` the 32 bytes of SHA-256 the blob must have.
 * One errno per file, 0 for a file in place; EBADMSG for a blob that is not what its id says.
 */
export type WriteBlobs = (names: Buffer, meta: Float64Array, hashes: Buffer) => Promise<Int32Array>;
export const WRITE_META = 8;

/**
 * SHA-256 of a batch of files, with what hashFile (libs/hashing) learns of each (see
 * src/file_ops.c): `names` "file\0...", `room` per file the bytes of `store` it may be read
 * into whole (0: none; the rooms follow each other in `store`), `out` HASHED numbers per file
 * [errno, size, mtimeMs, ctimeMs, ino, dev, mode, nlink, uid, gid, atimeMs, birthtimeMs,
 * startedAtMs, bytes kept or -1], `hashes` 32 bytes per file. errno NOT_A_FILE or
 * CHANGED_WHILE_READING where hashFile reports those.
 */
export type HashFiles = (names: Buffer, room: Float64Array, store: Buffer, out: Float64Array, hashes: Buffer) => Promise<void>;
export const HASHED = 14;
export const NOT_A_FILE = -1;
export const CHANGED_WHILE_READING = -2;

/**
 * A new file (never one already there) holding `parts` in order, synced; past the page cache
 * where the file system allows (see src/file_ops.c). `name` as nameList([[file]]). Resolves
 * to 0 or an errno; a file that failed part-way is removed.
 */
export type WriteDirect = (name: Buffer, parts: Buffer[], mode: number) => Promise<number>;

/** Names each ended by a NUL: "from\0to\0..." for copyFiles and placeFiles, three a file for writeBlobs, one for hashFiles. */
export function nameList(groups: Iterable<ReadonlyArray<string | Buffer>>): Buffer {
  const parts: Buffer[] = [];
  for (const names of groups) for (const name of names) parts.push(Buffer.from(name), NUL);
  return Buffer.concat(parts);
}
const NUL = Buffer.from([0]);

const ERRNO_NAMES = util.getSystemErrorMap();

/**
 * [code, message] of an errno from copyFiles or placeFiles. EINVAL is the jobs' own answer for
 * a source that is not a regular file (their copy_file_range's EINVAL falls back to read/write).
 */
export function nativeError(errno: number): [code: string, message: string] {
  if (errno === os.constants.errno.EINVAL) return ['not-a-file', 'not a regular file'];
  const [code, text] = ERRNO_NAMES.get(-errno) ?? [`errno-${errno}`, 'error'];
  return [code, `${code}: ${text}`];
}

/**
 * The native parts when they were built (`npm install` builds them on Linux with node-gyp)
 * and not disabled with HOARD_NO_NATIVE=1; otherwise undefined and their callers use their
 * JavaScript paths, which do the same.
 */
export const readFolders: ReadFolders | undefined = load<{ readFolders: ReadFolders }>('scan_dir')?.readFolders;
const fileOps = load<{ copyFiles: CopyFiles; renameFiles: RenameFiles; placeFiles: PlaceFiles; writeBlobs: WriteBlobs; hashFiles: HashFiles; writeDirect: WriteDirect }>('file_ops');
export const copyFiles: CopyFiles | undefined = fileOps?.copyFiles;
export const renameFiles: RenameFiles | undefined = fileOps?.renameFiles;
export const placeFiles: PlaceFiles | undefined = fileOps?.placeFiles;
export const writeBlobs: WriteBlobs | undefined = fileOps?.writeBlobs;
export const hashFiles: HashFiles | undefined = fileOps?.hashFiles;
export const writeDirect: WriteDirect | undefined = fileOps?.writeDirect;

function load<T>(name: string): T | undefined {
  if (process.env.HOARD_NO_NATIVE) return undefined;
  try {
    // Found by package name: this module may be bundled into a tool that lives elsewhere.
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@hoard/native/package.json'));
    return require(path.join(dir, 'build', 'Release', `${name}.node`)) as T;
  } catch {
    return undefined;
  }
}
