import crypto from 'node:crypto';
import fs from 'node:fs';
import { utimesSeconds } from '@hoard/schema';

/** What a file made at a temporary name starts with: see restoreFiles. */
export interface MadeFiles {
  asRoot: boolean;
  euid?: number;
  /** Our group when a file made at the root gets it (the root's group is ours), else undefined. */
  madeGid?: number;
  umask: number;
}

export interface FileMetadata {
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
}

/**
 * Give a restored file, open at `fd`, its owner, mode and times. The owner first: a change of
 * owner clears the set-user-id and set-group-id bits. Each call only when needed: `created`
 * says the file was made with the mode's permission bits (less the umask) and owned as `made` says.
 */
export function setMetadata(fd: number, meta: FileMetadata, created: boolean, made: MadeFiles): void {
  const steps = metadataSteps(meta, created, made);
  if (steps.chown) fs.fchownSync(fd, meta.uid, meta.gid);
  if (steps.chmod !== undefined) fs.fchmodSync(fd, steps.chmod);
  fs.futimesSync(fd, meta.atimeMs ? utimesSeconds(meta.atimeMs) : new Date(), utimesSeconds(meta.mtimeMs));
}

/** Whether a file needs its owner set, and the mode to set when its permission bits are not already `meta`'s. */
export function metadataSteps(meta: FileMetadata, created: boolean, made: MadeFiles): { chown: boolean; chmod: number | undefined } {
  const mode = meta.mode & 0o7777;
  const chown = made.asRoot && (meta.uid !== made.euid || meta.gid !== made.madeGid);
  return { chown, chmod: created && !chown && mode === (mode & 0o777 & ~made.umask) ? undefined : mode };
}

/**
 * A packed blob's bytes, read at its place in the open pack and re-hashed in memory; a
 * message instead when they are not what its id says (never trusted as they come).
 */
export function readPackedBlob(pack: number, packName: string, at: { offset: number; length: number }, hash: string): Buffer | { corrupt: string } {
  const data = Buffer.allocUnsafe(at.length);
  const got = fs.readSync(pack, data, 0, at.length, at.offset) === at.length ? `sha256:${crypto.createHash('sha256').update(data).digest('hex')}` : 'a short read';
  return got === hash ? data : { corrupt: `the vault's pack ${packName} holds ${got} where ${hash} should be: corrupt, not restored` };
}

/**
 * A new file at `file` holding `data`, with permission bits `mode` (less the umask), left
 * open. Never through whatever sits there already (O_EXCL: a symlink left at the name is
 * not followed): that is removed and the create retried.
 */
export function writeNewFile(file: string, mode: number, data: Buffer): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  let fd: number;
  try {
    fd = fs.openSync(file, flags, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fs.rmSync(file, { force: true });
    fd = fs.openSync(file, flags, mode);
  }
  try {
    for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}
