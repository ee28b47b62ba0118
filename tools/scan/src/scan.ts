import fs from 'node:fs';
import path from 'node:path';
import { comparePaths, errorCode, errorMessage, isUtf8, type ErrorRecord, type NoteRecord, type ScanRecord } from '@hoard/schema';
import type { OutputItem } from '@hoard/jsonl';
import { readFolders, type NativeFolder, type NativeFolderError } from '@hoard/native';
import { IGNORE_FILE, IgnoreRules } from './ignore-rules.js';

export interface ScanOptions {
  /** gitignore-style patterns applied from the root, like a root `.hoardignore`. */
  exclude?: readonly string[];
  /** Report paths relative to this folder (an ancestor of the scanned one) instead. */
  root?: string;
  /** Told how many files (and bytes) were found, as they are (progress display). */
  onFiles?: (count: number, bytes: number) => void;
  /**
   * false: list every file, `.hoardignore` files read as plain files and nothing else (a
   * listing of another place, which must see all that is there, as rclone would).
   */
  ignoreFiles?: boolean;
  /** Use the JavaScript folder reader even when the native one is built (tests compare both). */
  noNative?: boolean;
  /**
   * In process only: hand runs of files the native reader formatted as FileRun items (the
   * lines plus what identifies the run) instead of bare JSONL, for skipUnchanged.
   */
  runs?: boolean;
}

/**
 * A run of files of one folder (no subfolder between them), as the native reader
 * formatted them: `lines` is their JSONL; `fingerprint` covers every file's name and stat
 * fields, so an equal fingerprint later means every one of them looks the same.
 */
export class FileRun {
  constructor(
    readonly lines: Buffer,
    /** The folder, relative to the root ('' = the root). */
    readonly dir: string,
    readonly first: string,
    readonly last: string,
    readonly fingerprint: string,
  ) {}
}

/** Folders never entered: hoard's own metadata. */
const SKIP_DIRS = new Set(['.hoard']);
const TOOL = 'scan';
const BATCH = 512;
/**
 * Whole runs of lines count by their bytes too: a batch of 512 runs held ~14,000 files'
 * lines and their records at once, long enough to survive young-generation collections
 * (copied, promoted, then collected as old). 32 KB is ~100 lines: a backup after `mutate`
 * spent 117-135 ms collecting instead of 261 ms, measured.
 */
const BATCH_BYTES = 32 * 1024;
/** Folders the native path may hold read ahead of the walk. */
const READ_AHEAD = 1024;

/** A folder being walked: its path on disk and relative to the root (plus bytes when not UTF-8). */
interface Folder {
  abs: string | Buffer;
  rel: string;
  relBytes?: Buffer;
}

interface Entry {
  name: string;
  /** The exact name bytes, only when they are not valid UTF-8. */
  raw?: Buffer;
  dirent: fs.Dirent;
  isDir: boolean;
}

/**
 * Walk `dir` depth-first and yield batches of output: one `file` record per regular
 * file or symlink (pre-serialized: the hot path), `note`s for skipped special files,
 * `error`s for unreadable folders, and a closing `scan` record. Paths come out sorted
 * in code-point order (a folder sorts as `name/`, so the stream is in full-path order).
 * Symlinks are recorded, never followed.
 */
export function scanTree(dir: string, options: ScanOptions & { runs: true }): Generator<Array<OutputItem | FileRun>>;
export function scanTree(dir: string, options?: ScanOptions & { runs?: false }): Generator<OutputItem[]>;
export function* scanTree(dir: string, options: ScanOptions = {}): Generator<Array<OutputItem | FileRun>> {
  const startedAt = new Date().toISOString();
  const absDir = path.resolve(dir);
  const root = options.root ? path.resolve(options.root) : absDir;
  const under = path.relative(root, absDir);
  if (under === '..' || under.startsWith('../') || path.isAbsolute(under)) throw new RangeError(`${absDir} is not inside --root ${root}`);
  const rootJson = JSON.stringify(root);
  const onFiles = options.onFiles;
  const native = options.noNative ? undefined : readFolders;
  let files = 0;
  let bytes = 0;
  let errors = 0;
  let batch: Array<OutputItem | FileRun> = [];
  let batchBytes = 0;

  const push = (item: OutputItem | FileRun) => {
    batch.push(item);
  };
  const fail = (code: string, rel: string, message: string) => {
    errors++;
    push({ type: 'error', tool: TOOL, code, root, path: rel || '.', message } satisfies ErrorRecord);
  };

  const relPrefix = (rel: string) => (rel ? `${JSON.stringify(rel).slice(1, -1)}/` : '');
  type Result = NativeFolder | NativeFolderError | null;
  /** Folders read ahead of the depth-first walk, by path; bounded by READ_AHEAD. */
  const ahead = new Map<string, Result>();
  const subfolders = (folder: Folder & { abs: string }, result: Result | undefined) =>
    result && 'segments' in result
      ? result.segments.filter((s): s is string => typeof s === 'string' && !SKIP_DIRS.has(s)).map((name) => ({ abs: `${folder.abs}/${name}`, rel: joinRel(folder.rel, name) }))
      : [];
  const readAhead = (folders: Array<Folder & { abs: string }>) => {
    const todo = folders.filter((f) => !ahead.has(f.abs));
    if (!todo.length) return;
    const read = native!(
      todo.map((f) => f.abs),
      todo.map((f) => relPrefix(f.rel)),
      rootJson,
    );
    todo.forEach((f, i) => ahead.set(f.abs, read[i]!));
  };

  /**
   * The fast path: native calls list, sort, stat and format whole folders, many at once
   * on threads: a folder's subfolders and, while few enough are held, the levels below
   * (read ahead of the depth-first walk, so both cores have work). A folder the native
   * reader declines (null) goes the JavaScript way.
   */
  function* walkNative(folder: Folder & { abs: string }, rules: IgnoreRules, result: Result): Generator<Array<OutputItem | FileRun>> {
    if (result === null) {
      yield* walkJs(folder, rules);
      return;
    }
    if ('code' in result) {
      fail(result.code, folder.rel, result.message);
      return;
    }
    files += result.files;
    bytes += result.bytes;
    onFiles?.(result.files, result.bytes);
    const children = subfolders(folder, result);
    // Read ahead level by level below this folder, while the held results stay bounded:
    // few calls with many folders each keep both threads busy.
    for (let level = children; level.length; level = level.flatMap((c) => subfolders(c, ahead.get(c.abs)))) {
      const room = READ_AHEAD - ahead.size;
      if (room <= 0 && level !== children) break;
      readAhead(level === children ? level : level.slice(0, room));
    }
    let next = 0;
    let run = 0;
    for (const segment of result.segments) {
      if (typeof segment === 'string') {
        if (SKIP_DIRS.has(segment)) continue;
        const child = children[next++]!;
        const read = ahead.get(child.abs);
        ahead.delete(child.abs);
        yield* walkNative(child, rules, read === undefined ? native!([child.abs], [relPrefix(child.rel)], rootJson)[0]! : read);
      } else if (Array.isArray(segment)) {
        push({ type: 'note', tool: TOOL, code: 'special-file', root, path: joinRel(folder.rel, segment[1]), message: `skipped ${segment[0]}` } satisfies NoteRecord);
      } else {
        // Whole JSONL lines, written as they are.
        const r = result.runs[run++];
        push(options.runs && r ? new FileRun(segment, folder.rel, r[0], r[1], r[2]) : segment);
        batchBytes += segment.length;
      }
      if (batch.length >= BATCH || batchBytes >= BATCH_BYTES) {
        yield batch;
        batch = [];
        batchBytes = 0;
      }
    }
  }

  function* walk(folder: Folder, rules: IgnoreRules): Generator<Array<OutputItem | FileRun>> {
    if (native && rules.empty && typeof folder.abs === 'string' && !folder.relBytes) {
      const [result] = native([folder.abs], [relPrefix(folder.rel)], rootJson);
      yield* walkNative(folder as Folder & { abs: string }, rules, result!);
      return;
    }
    yield* walkJs(folder, rules);
  }

  /** The JavaScript folder reader: readdir, lstat by name from inside the folder. */
  function* walkJs(folder: Folder, rules: IgnoreRules): Generator<Array<OutputItem | FileRun>> {
    let entries: Entry[];
    // lstat by bare name from inside the folder: the kernel resolves one component
    // instead of the whole path, which is most of the system time on deep trees.
    const enter = () => typeof folder.abs === 'string' && chdir(folder.abs);
    let inside: boolean;
    try {
      entries = listFolder(folder.abs);
      inside = enter();
    } catch (err) {
      fail(errorCode(err), folder.rel, `cannot read folder: ${errorMessage(err)}`);
      return;
    }
    const ignoreFile = options.ignoreFiles === false ? undefined : entries.find((e) => e.name === IGNORE_FILE && e.dirent.isFile());
    if (ignoreFile) {
      try {
        rules = rules.withFile(folder.rel, fs.readFileSync(childPath(folder.abs, ignoreFile), 'utf8'));
      } catch (err) {
        fail(errorCode(err), joinRel(folder.rel, IGNORE_FILE), `cannot read ignore file: ${errorMessage(err)}`);
      }
    }
    for (const e of entries) {
      const rel = joinRel(folder.rel, e.name);
      if (!rules.empty && rules.ignores(rel, e.isDir)) continue;
      if (e.isDir) {
        if (SKIP_DIRS.has(e.name)) continue;
        const relBytes = e.raw || folder.relBytes ? joinBytes(folder.relBytes ?? Buffer.from(folder.rel), e.raw ?? Buffer.from(e.name)) : undefined;
        yield* walk({ abs: childPath(folder.abs, e), rel, relBytes }, rules);
        inside = enter();
        continue;
      }
      const abs = inside && !e.raw ? e.name : childPath(folder.abs, e);
      const d = e.dirent;
      if (!d.isFile() && !d.isSymbolicLink()) {
        push({ type: 'note', tool: TOOL, code: 'special-file', root, path: rel, message: `skipped ${specialKind(d)}` } satisfies NoteRecord);
        continue;
      }
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(abs, { throwIfNoEntry: false });
      } catch (err) {
        fail(errorCode(err), rel, `cannot stat: ${errorMessage(err)}`);
        continue;
      }
      if (!st) continue; // deleted since the folder was listed: it is simply not there
      let line =
        `{"type":"file","root":${rootJson},"path":${JSON.stringify(rel)}` +
        (e.raw || folder.relBytes ? `,"pathBytes":"${joinBytes(folder.relBytes ?? Buffer.from(folder.rel), e.raw ?? Buffer.from(e.name)).toString('base64')}"` : '') +
        `,"size":${st.size},"mtimeMs":${st.mtimeMs},"mode":${st.mode},"ino":${st.ino},"dev":${st.dev},"nlink":${st.nlink},"uid":${st.uid},"gid":${st.gid},"atimeMs":${st.atimeMs},"ctimeMs":${st.ctimeMs},"birthtimeMs":${st.birthtimeMs}`;
      if (st.isSymbolicLink()) {
        try {
          line += `,"kind":"symlink",${linkTarget(abs)}`;
        } catch (err) {
          fail(errorCode(err), rel, `cannot read symlink: ${errorMessage(err)}`);
          continue;
        }
      } else if (!st.isFile()) {
        continue; // replaced by a folder or special file since listing: the next scan sees it
      }
      push(line + '}');
      files++;
      bytes += st.size;
      onFiles?.(1, st.size);
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
  }

  const rootProblem = checkRoot(absDir);
  const cwd = process.cwd();
  try {
    if (rootProblem) fail(rootProblem.code, under, rootProblem.message);
    else yield* walk({ abs: absDir, rel: under }, IgnoreRules.fromPatterns(options.exclude ?? []));
  } finally {
    process.chdir(cwd);
  }
  const scan: ScanRecord = { type: 'scan', root, files, bytes, errors, complete: errors === 0, startedAt, finishedAt: new Date().toISOString() };
  if (under) scan.under = under;
  push(scan);
  yield batch;
}

/** List a folder sorted in path order; names that are not UTF-8 keep their exact bytes. */
function listFolder(abs: string | Buffer): Entry[] {
  const dirents = fs.readdirSync(abs, { withFileTypes: true });
  let entries: Entry[];
  if (typeof abs === 'string' && !dirents.some((d) => d.name.includes('\uFFFD'))) {
    entries = dirents.map((dirent) => ({ name: dirent.name, dirent, isDir: dirent.isDirectory() }));
  } else {
    // Re-read as bytes: the text listing replaced invalid UTF-8 with U+FFFD.
    entries = (fs.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent<Buffer>[]).map((d) => {
      const raw = d.name;
      const dirent = d as unknown as fs.Dirent;
      const name = raw.toString('utf8');
      return isUtf8(raw) ? { name, dirent, isDir: d.isDirectory() } : { name, raw, dirent, isDir: d.isDirectory() };
    });
  }
  // A folder sorts as "name/" so that depth-first output is in full-path order.
  const keyed = entries.map((e) => ({ key: e.isDir ? `${e.name}/` : e.name, e }));
  keyed.sort((a, b) => comparePaths(a.key, b.key));
  return keyed.map((k) => k.e);
}

/** Enter a folder if the process may (worker threads may not); false means use full paths. */
function chdir(dir: string): boolean {
  try {
    process.chdir(dir);
    return true;
  } catch {
    return false;
  }
}

function childPath(parent: string | Buffer, e: Entry): string | Buffer {
  if (typeof parent === 'string' && !e.raw) return `${parent}/${e.name}`;
  const p = typeof parent === 'string' ? Buffer.from(parent) : parent;
  return Buffer.concat([p, Buffer.from('/'), e.raw ?? Buffer.from(e.name)]);
}

function joinRel(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

function joinBytes(dir: Buffer, name: Buffer): Buffer {
  return dir.length ? Buffer.concat([dir, Buffer.from('/'), name]) : name;
}

/** `"target":...` (and `"targetBytes"` when the target is not UTF-8). */
function linkTarget(abs: string | Buffer): string {
  const raw = fs.readlinkSync(abs, { encoding: 'buffer' });
  const text = JSON.stringify(raw.toString('utf8'));
  return isUtf8(raw) ? `"target":${text}` : `"target":${text},"targetBytes":"${raw.toString('base64')}"`;
}

function specialKind(d: fs.Dirent): string {
  if (d.isFIFO()) return 'FIFO';
  if (d.isSocket()) return 'socket';
  if (d.isBlockDevice()) return 'block device';
  if (d.isCharacterDevice()) return 'character device';
  return 'special file';
}

function checkRoot(abs: string): { code: string; message: string } | undefined {
  try {
    const st = fs.statSync(abs);
    if (!st.isDirectory()) return { code: 'ENOTDIR', message: `not a folder: ${abs}` };
  } catch (err) {
    return { code: errorCode(err), message: `cannot scan ${abs}: ${errorMessage(err)}` };
  }
  return undefined;
}
