import fs from 'node:fs';

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
  const mode = meta.mode & 0o7777;
  const owner = made.asRoot && (meta.uid !== made.euid || meta.gid !== made.madeGid);
  if (owner) fs.fchownSync(fd, meta.uid, meta.gid);
  if (!(created && !owner && mode === (mode & 0o777 & ~made.umask))) fs.fchmodSync(fd, mode);
  fs.futimesSync(fd, meta.atimeMs / 1000 || new Date(), meta.mtimeMs / 1000);
}
