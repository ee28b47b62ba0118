import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A tree as comparable data: every file (by exact name bytes, base64) with its content hash,
 * permission bits and mtime (ms), and every symlink with the hash of its target (never
 * followed). `.hoard/` left out.
 */
export function treeSnapshot(root: string): Record<string, { sha256: string; mode: number; mtimeMs: number; link?: true }> {
  const out: Record<string, { sha256: string; mode: number; mtimeMs: number; link?: true }> = {};
  const walk = (dir: Buffer, rel: Buffer | undefined) => {
    for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
      const relName: Buffer = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      if (!rel && name.toString() === '.hoard') continue;
      const full = Buffer.concat([dir, Buffer.from('/'), name]);
      const st = fs.lstatSync(full);
      if (st.isDirectory()) walk(full, relName);
      else if (st.isFile()) {
        out[relName.toString('base64')] = { sha256: crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex'), mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs) };
      } else if (st.isSymbolicLink()) {
        out[relName.toString('base64')] = { sha256: crypto.createHash('sha256').update(fs.readlinkSync(full, { encoding: 'buffer' })).digest('hex'), mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), link: true };
      }
    }
  };
  walk(Buffer.from(path.resolve(root)), undefined);
  return out;
}

/** The readable names of a snapshot's files, sorted. */
export function snapshotNames(snap: Record<string, unknown>): string[] {
  return Object.keys(snap)
    .map((k) => Buffer.from(k, 'base64').toString())
    .sort();
}
