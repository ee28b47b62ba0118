import fs from 'node:fs';
import path from 'node:path';
import { HoardError, UsageError } from '@hoard/schema';

export interface TrashedFile {
  stamp: string;
  path: string;
  size: number;
}

/** Every trashed file, oldest stamp first. */
export function* listTrash(trashDir: string): Generator<TrashedFile> {
  let stamps: string[];
  try {
    stamps = fs.readdirSync(trashDir).sort();
  } catch {
    return;
  }
  for (const stamp of stamps) {
    const walk = function* (dir: string, rel: string): Generator<TrashedFile> {
      for (const d of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const r = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) yield* walk(path.join(dir, d.name), r);
        else yield { stamp, path: r, size: fs.lstatSync(path.join(dir, d.name)).size };
      }
    };
    yield* walk(path.join(trashDir, stamp), '');
  }
}

/**
 * Put a trashed file back where it was: the newest version unless a stamp is given. An
 * existing file at that path is never overwritten.
 */
export function restoreFromTrash(root: string, trashDir: string, rel: string, stamp?: string): { stamp: string } {
  const stamps = stamp ? [stamp] : fs.existsSync(trashDir) ? fs.readdirSync(trashDir).sort().reverse() : [];
  for (const s of stamps) {
    if (s.includes('/') || s === '..' || s === '.') throw new UsageError(`bad trash stamp ${s}`);
    const from = path.join(trashDir, s, rel);
    if (!present(from)) continue;
    const to = path.join(root, rel);
    if (present(to)) throw new HoardError(`${rel} exists; move it away first (hoard never overwrites it)`, 'EEXIST');
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.renameSync(from, to);
    return { stamp: s };
  }
  throw new UsageError(`${rel} is not in the trash${stamp ? ` of ${stamp}` : ''} (see hoard trash list)`);
}

/** Something at `file`, a symlink included (existsSync follows it: a dangling link would count as nothing). */
function present(file: string): boolean {
  return fs.lstatSync(file, { throwIfNoEntry: false }) !== undefined;
}
