import fs from 'node:fs';
import path from 'node:path';
import { hashFile, readLink } from '@hoard/hashing';
import { HoardError, joinRecordPath } from '@hoard/schema';
import { HOARD_DIR, type Entry } from '@hoard/state';

/**
 * Safe file operations inside one tree: never outside its root, never through a symlinked
 * folder, never into hoard's own folder, and never destroying a file (it goes to trash).
 */
export class Tree {
  private readonly checkedDirs = new Set<string>();
  /** Folders this object made: nothing else was in them when it did. */
  private readonly madeDirs = new Set<string>();
  private readonly readBuffer = Buffer.alloc(1 << 20);

  constructor(
    readonly root: string,
    readonly trashRoot: string,
  ) {}

  /** The file of a record path, after checking no folder on the way is a symlink or hoard's own. */
  file(p: string, pathBytes?: string): string | Buffer {
    const parts = p.split('/');
    if (parts[0] === HOARD_DIR) throw new HoardError(`${p}: hoard's own folder is not part of the tree`, 'refused');
    // Files come folder by folder: one checked already is not walked again (a path's folders
    // joined one by one were most of this for 100,000 files).
    if (parts.length === 1 || this.checkedDirs.has(path.join(this.root, p.slice(0, p.lastIndexOf('/'))))) return joinRecordPath(this.root, p, pathBytes);
    let dir = this.root;
    for (const part of parts.slice(0, -1)) {
      dir = path.join(dir, part);
      if (this.checkedDirs.has(dir)) continue;
      const st = fs.lstatSync(dir, { throwIfNoEntry: false });
      if (!st) {
        fs.mkdirSync(dir, { mode: 0o755 });
        this.madeDirs.add(dir);
      }
      else if (st.isSymbolicLink()) throw new HoardError(`${p}: ${path.relative(this.root, dir)} is a symlink; hoard does not write through it`, 'symlink-in-path');
      else if (!st.isDirectory()) throw new HoardError(`${p}: ${path.relative(this.root, dir)} is a file, not a folder`, 'ENOTDIR');
      this.checkedDirs.add(dir);
    }
    return joinRecordPath(this.root, p, pathBytes);
  }

  /** Whether this object made the folder `dir` (so whatever is in it, it put there). */
  made(dir: string): boolean {
    return this.madeDirs.has(dir);
  }

  /**
   * The content id of what is at `file` now, or undefined if nothing; uses the recorded entry
   * when its stat still matches. A symlink's content is its target (never followed).
   */
  contentAt(file: string | Buffer, recorded?: Entry): { hash: string; st: fs.Stats } | undefined {
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) return { hash: readLink(file).hash, st };
    if (!st.isFile()) return { hash: 'special', st };
    if (recorded && recorded.size === st.size && Math.abs(recorded.mtimeMs - st.mtimeMs) < 1 && recorded.ino === st.ino) return { hash: recorded.hash, st };
    const outcome = hashFile(file, 'sha256', this.readBuffer);
    if (!outcome.ok) throw new HoardError(`${String(file)}: ${outcome.message}`, outcome.code);
    return { hash: outcome.hash, st };
  }

  /** Move a file of the tree to `<trash>/<stamp>/<path>` (recoverable with hoard trash restore). */
  trash(file: string | Buffer, p: string, pathBytes: string | undefined, stamp: string): string {
    const dest = joinRecordPath(path.join(this.trashRoot, stamp), p, pathBytes);
    fs.mkdirSync(parentOf(dest), { recursive: true, mode: 0o700 });
    fs.renameSync(file, dest);
    return typeof dest === 'string' ? dest : dest.toString();
  }
}

/** The folder of a path given as a string or as exact bytes. */
export function parentOf(file: string | Buffer): string | Buffer {
  if (typeof file === 'string') return path.dirname(file);
  return file.subarray(0, file.lastIndexOf(0x2f));
}
