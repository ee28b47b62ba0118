import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HoardError, recordProblem } from '@hoard/schema';
import { entryKey, keyPath, type Entry } from '@hoard/state';
import { rclone, rcloneCat, remoteJoin } from './rclone.js';

/** Where an rclone location keeps the list of its files (path, content id, size, mode, mtime). */
export const MANIFEST = '.hoard/manifest.jsonl';

/** Write a location's manifest: to a new name first, then renamed over the old one. */
export async function writeManifest(root: string, entries: Entry[]): Promise<void> {
  const text = entries.map((e) => `${JSON.stringify({ type: 'entry', location: 'manifest', ...keyPath(e.key), hash: e.hash, size: e.size, mode: e.mode, mtimeMs: e.mtimeMs })}\n`).join('');
  if (root.startsWith('/')) {
    // rclone's local backend, a folder here: written beside and renamed, without two rclone processes.
    const file = path.join(root, MANIFEST);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.new`, text);
    fs.renameSync(`${file}.new`, file);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-manifest-'));
  try {
    const file = path.join(dir, 'manifest.jsonl');
    fs.writeFileSync(file, text);
    await rclone(['copyto', file, remoteJoin(root, `${MANIFEST}.new`)]);
    await rclone(['moveto', remoteJoin(root, `${MANIFEST}.new`), remoteJoin(root, MANIFEST)]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A location's manifest, in key order; empty when it has none yet. Every line is checked: a remote is untrusted input. */
export async function readManifest(root: string): Promise<Entry[]> {
  const data = root.startsWith('/') ? readLocalFile(path.join(root, MANIFEST)) : await rcloneCat(remoteJoin(root, MANIFEST));
  if (!data) return [];
  const entries: Entry[] = [];
  data
    .toString('utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line) return;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new HoardError(`${root}: ${MANIFEST} line ${i + 1} is not JSON`, 'bad-remote');
      }
      const problem = recordProblem(rec);
      if (problem || rec.type !== 'entry') throw new HoardError(`${root}: ${MANIFEST} line ${i + 1}: ${problem ?? 'not an entry record'}`, 'bad-remote');
      entries.push({ key: entryKey(rec.path as string, rec.pathBytes as string | undefined), hash: rec.hash as string, size: rec.size as number, mode: rec.mode as number, mtimeMs: rec.mtimeMs as number, ino: 0 });
    });
  return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * A file of rclone's local backend (a folder on this machine), read directly: through
 * `rclone cat` and a pipe, the 15 MB manifest of 100,000 files took 1.3 s to arrive.
 */
function readLocalFile(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HoardError(`cannot read ${file}: ${(err as Error).message}`, 'bad-remote');
  }
}
