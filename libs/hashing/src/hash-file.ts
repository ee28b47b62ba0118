import fs from 'node:fs';
import { errorCode, errorMessage } from '@hoard/schema';
import { createHasher, hashBuffer, type Algo } from './algorithms.js';

/** What a file looked like when it was hashed (fstat before reading). */
export interface FileState {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  atimeMs: number;
  birthtimeMs: number;
}

export type HashOutcome =
  /** `data`: the very bytes hashed, when the caller asked to keep them (see hashFile's `keep`). */
  | { ok: true; hash: string; state: FileState; startedAtMs: number; data?: Buffer }
  | { ok: false; code: string; message: string };

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** The failures hashing reports in its own words, whichever path (here or native) found them. */
export const NOT_A_FILE_ANYMORE = { ok: false, code: 'not-a-file', message: 'is not a regular file any more' } as const;
export const CHANGED_WHILE_READ = { ok: false, code: 'changed-while-reading', message: 'changed while being read; run again once it is stable' } as const;
/** The message of a failure to open (ELOOP: the name is a symlink now, never followed). */
export function openFailure(code: string, message: string): HashOutcome {
  return { ok: false, code, message: code === 'ELOOP' ? 'is a symlink now, not a file' : message };
}

/**
 * The content id of a symlink: sha256 of its target's exact bytes. A link is never
 * followed: what it holds is where it points (a backup stores that, a push carries it).
 */
export function symlinkContentId(target: Uint8Array): string {
  return `sha256:${hashBuffer('sha256', target)}`;
}

/** The symlink at `file`: its target's exact bytes (read, never followed) and its content id. */
export function readLink(file: string | Buffer): { target: Buffer; hash: string } {
  const target = fs.readlinkSync(file, { encoding: 'buffer' });
  return { target, hash: symlinkContentId(target) };
}

/**
 * Hash one regular file in chunks through `buffer` (never the whole file in memory).
 * The final component is opened without following symlinks. If size, mtime or ctime
 * differ after reading from before, the file changed under us: report that, never a
 * hash that matches neither version.
 *
 * `keep`: room for the whole file. A file that fits is read into it whole and hashed from
 * there, and the outcome's `data` is that region: a caller that stores the content (a
 * backup packing small files) then never reads the file a second time.
 */
export function hashFile(file: string | Buffer, algo: Algo, buffer: Buffer, keep?: Buffer): HashOutcome {
  const startedAtMs = Date.now();
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    return openFailure(errorCode(err), errorMessage(err));
  }
  try {
    const before = fs.fstatSync(fd);
    if (!before.isFile()) return { ...NOT_A_FILE_ANYMORE };
    let data: Buffer | undefined;
    let total: number;
    let hex: string;
    if (keep && before.size < keep.length) {
      // One read asking for more than the file holds: a short read is its end, and growth
      // since the fstat shows up in the size check below.
      total = fs.readSync(fd, keep, 0, keep.length, null);
      data = keep.subarray(0, total);
      hex = hashBuffer(algo, data);
    } else if ((total = fs.readSync(fd, buffer, 0, buffer.length, null)) < buffer.length) {
      // Most files fit the buffer: one read, one one-shot hash. A short read of a regular
      // file means its end; growth after that shows up in the second fstat below.
      hex = hashBuffer(algo, buffer.subarray(0, total));
    } else {
      const hasher = createHasher(algo);
      hasher.update(buffer);
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, null);
        if (n === 0) break;
        hasher.update(n === buffer.length ? buffer : buffer.subarray(0, n));
        total += n;
      }
      hex = hasher.digest();
    }
    const after = fs.fstatSync(fd);
    if (total !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ctimeMs !== before.ctimeMs) {
      return { ...CHANGED_WHILE_READ };
    }
    const state: FileState = {
      size: before.size,
      mtimeMs: before.mtimeMs,
      ctimeMs: before.ctimeMs,
      ino: before.ino,
      dev: before.dev,
      mode: before.mode,
      nlink: before.nlink,
      uid: before.uid,
      gid: before.gid,
      atimeMs: before.atimeMs,
      birthtimeMs: before.birthtimeMs,
    };
    return { ok: true, hash: `${algo}:${hex}`, state, startedAtMs, ...(data ? { data } : {}) };
  } catch (err) {
    return { ok: false, code: errorCode(err), message: errorMessage(err) };
  } finally {
    fs.closeSync(fd);
  }
}
