import { comparePaths } from '@hoard/schema';
import { itemLines, type OutputItem } from '@hoard/jsonl';
import { cacheFolder, type CacheItem, type Entry, type EntryCursor, type HashCache } from '@hoard/state';
import { FileRun } from '@hoard/tool-scan/scan';

/** What the stat fast path proved unchanged, for summaries and progress. */
export interface Skipped {
  files: number;
  bytes: number;
  /** Runs of files proved unchanged whole by their marks (see RunMarks). */
  runs: number;
}

export interface SkipUnchanged {
  /** The scan's output without the files found unchanged. */
  items: Generator<OutputItem[]>;
  /** The recorded entries without those matched, in key order: what diff-state still compares. */
  entries: Iterator<Entry>;
  skipped: Skipped;
}

/**
 * Runs of files (scan's FileRun) proved unchanged file by file, remembered by their first
 * key with their last key and fingerprint. A later run with the same first and last key
 * and fingerprint holds the same files with the same stat fields, each verified then:
 * it is unchanged as a whole, without a look at its lines or the hash cache. Valid only
 * while the location's recorded entries are as they were (the caller checks).
 */
export interface RunMarks {
  get(first: string): { last: string; fingerprint: string } | undefined;
  /** A run verified unchanged file by file now. */
  set(first: string, last: string, fingerprint: string): void;
  /** A run that is not (or no longer) known unchanged. */
  drop(first: string): void;
}

/** Stat fields of a scan line, read without parsing the whole record. */
interface LineStat {
  path: string;
  size: number;
  mtimeMs: number;
  mode: number;
  ino: number;
  dev: number;
  ctimeMs: number;
}

/** A run checked file by file in this batch: whether every file in it proved unchanged. */
interface RunCheck {
  run: FileRun;
  first: string;
  last: string;
  lines: number;
  dropped: number;
  strays: number;
}

/**
 * The fast path of `scan | hash | diff-state` when most files did not change, as git's
 * index does for `git status`: a scanned file whose size, mode, mtime and inode equal its
 * recorded entry, and whose hash cache entry (same dev, inode, size, mtime, ctime, and not
 * racy) gives the entry's content id, is unchanged. Both the line and the entry are dropped
 * here, so the slow path (parse, hash, merge) sees only what may have changed. Anything
 * this cannot prove, it passes on untouched: the slow path decides, exactly as before.
 * With `marks`, a whole run of files whose mark matches is dropped with its entries at
 * once, and runs proved unchanged file by file are marked for next time.
 *
 * `entries` is shared: diff-state reads the entries left over through the returned
 * iterator while this runs ahead of it on the scan. Whatever the interleaving, each side
 * sees keys in order and a pair is dropped only when both halves matched; a run is
 * dropped whole only when diff-state has not yet read into it.
 */
export function skipUnchanged(
  scanned: Iterable<Array<OutputItem | FileRun>>,
  recorded: Iterator<Entry> & Partial<Pick<EntryCursor, 'skipRun'>>,
  root: string,
  cache: HashCache,
  onSkipped?: (files: number, bytes: number) => void,
  marks?: RunMarks,
): SkipUnchanged {
  const skipped: Skipped = { files: 0, bytes: 0, runs: 0 };
  const left: Entry[] = []; // passed over by the scan: for diff-state, in order
  let leftHead = 0;
  let peeked: IteratorResult<Entry> | undefined;
  const peek = () => (peeked ??= recorded.next());
  const take = (): IteratorResult<Entry> => {
    const r = peek();
    peeked = undefined;
    return r;
  };
  /** The last key diff-state took straight from `recorded` (beyond what the scan had reached). */
  let handedOut: string | undefined;
  const prefix = `{"type":"file","root":${JSON.stringify(root)},"path":"`;

  function* items(): Generator<OutputItem[]> {
    // What goes on is gathered over the scan's small batches: the hashing downstream sends
    // each batch's misses to its threads as one message, and a message per few files cost
    // more than the hashing (postMessage ~150 ms in a backup after `mutate`).
    let pending: OutputItem[] = [];
    for (const batch of scanned) {
      const out: Array<OutputItem | undefined> = [];
      // Entries in key order, each with its line's place in `out` when stat matched (a
      // candidate: the cache decides), or -1 when it goes on to diff-state anyway.
      const order: Array<{ entry: Entry; at: number; check?: RunCheck }> = [];
      const lookups: CacheItem[] = [];
      const checks: RunCheck[] = [];
      let files = 0;
      let bytes = 0;
      for (const item of batch) {
        let check: RunCheck | undefined;
        if (item instanceof FileRun) {
          const first = item.dir ? `${item.dir}/${item.first}` : item.first;
          const last = item.dir ? `${item.dir}/${item.last}` : item.last;
          const whole = marks && dropWhole(item, first, last, order);
          if (whole) {
            files += whole.files;
            bytes += whole.bytes;
            skipped.runs++;
            continue;
          }
          if (marks) checks.push((check = { run: item, first, last, lines: 0, dropped: 0, strays: 0 }));
        }
        // A run's files share its folder: one string for all their cache lookups.
        const runDir = item instanceof FileRun ? (item.dir ? `${root}/${item.dir}` : root) : undefined;
        for (const line of itemLines(item instanceof FileRun ? item.lines : item)) {
          // Past the last recorded entry (all of a first look) no line's stat is compared: none is read.
          const stat = typeof line === 'string' && !peek().done ? lineStat(line, prefix) : undefined;
          if (check) check.lines++;
          if (!stat) {
            out.push(line);
            continue;
          }
          for (let e = peek(); !e.done && comparePaths(e.value.key, stat.path) < 0; e = peek()) order.push({ entry: take().value as Entry, at: -1, check });
          const e = peek();
          if (e.done || e.value.key !== stat.path) {
            out.push(line);
            continue;
          }
          const entry = take().value as Entry;
          const same = entry.size === stat.size && entry.mode === stat.mode && entry.mtimeMs === stat.mtimeMs && entry.ino === stat.ino;
          order.push({ entry, at: same ? out.length : -1, check });
          if (same) lookups.push({ dir: runDir ?? cacheFolder(root, stat.path), key: stat });
          out.push(line);
        }
      }
      const hashes = lookups.length ? cache.lookupMany(lookups) : [];
      let n = 0;
      for (const { entry, at, check } of order) {
        if (at !== -1 && hashes[n++] === entry.hash) {
          out[at] = undefined;
          files++;
          bytes += entry.size;
          if (check) check.dropped++;
        } else {
          left.push(entry);
          if (check && comparePaths(entry.key, check.first) >= 0) check.strays++;
        }
      }
      // A run whose every file proved unchanged, with no other entry among them: marked.
      for (const c of checks) {
        if (c.dropped === c.lines && c.strays === 0) marks!.set(c.first, c.last, c.run.fingerprint);
        else marks!.drop(c.first);
      }
      skipped.files += files;
      skipped.bytes += bytes;
      if (files) onSkipped?.(files, bytes);
      for (const o of out) if (o !== undefined) pending.push(o);
      if (pending.length >= PASS_ON_LINES) {
        yield pending;
        pending = [];
      }
    }
    if (pending.length) yield pending;
  }

  /**
   * Drop a marked run whole with its entries, or undefined (the run goes file by file) when
   * its mark does not match, diff-state already read into it, or its entries are not
   * exactly its files.
   */
  function dropWhole(run: FileRun, first: string, last: string, order: Array<{ entry: Entry; at: number }>): { files: number; bytes: number } | undefined {
    const mark = marks!.get(first);
    if (!mark || mark.last !== last || mark.fingerprint !== run.fingerprint || !recorded.skipRun) return undefined;
    if (handedOut !== undefined && comparePaths(handedOut, first) >= 0) return undefined;
    // The cursor counts the run's entries in the database and passes over them unread; when
    // entries before the run are still to read, they are passed over first and it asks again.
    const lines = countLines(run.lines);
    let passed = peeked === undefined ? recorded.skipRun(first, last, lines) : undefined;
    if (!passed) {
      for (let e = peek(); !e.done && comparePaths(e.value.key, first) < 0; e = peek()) order.push({ entry: take().value as Entry, at: -1 });
      if (peeked!.done || peeked!.value.key !== first) return undefined;
      passed = recorded.skipRun(first, last, lines);
      if (!passed) return undefined;
    }
    peeked = undefined;
    marks!.set(first, last, run.fingerprint);
    return { files: lines, bytes: passed.bytes };
  }

  const entries: Iterator<Entry> = {
    next() {
      if (leftHead < left.length) {
        const value = left[leftHead]!;
        left[leftHead++] = undefined as unknown as Entry;
        if (leftHead > 4096 && leftHead * 2 > left.length) {
          left.splice(0, leftHead);
          leftHead = 0;
        }
        return { done: false, value };
      }
      // Nothing passed over yet: the next entry the scan has not reached. If the scan meets
      // its path later, that file simply takes the slow path.
      const r = take();
      if (!r.done) handedOut = r.value.key;
      return r;
    },
    return(value?: unknown) {
      recorded.return?.(value);
      return { done: true, value: undefined };
    },
  };

  return { items: items(), entries, skipped };
}

/** Lines passed on at once: the misses among a few hundred lines go to the hashing threads as one message. */
const PASS_ON_LINES = 256;

/** Lines in a JSONL buffer (each ends with a newline). */
function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++;
  return n;
}

/** Everything after the path in a line of scan's own making (see scan_dir.c and scan.ts). */
const TAIL = /","size":(\d+),"mtimeMs":([0-9.]+),"mode":(\d+),"ino":(\d+),"dev":(\d+),"nlink":\d+,"uid":\d+,"gid":\d+,"atimeMs":[0-9.]+,"ctimeMs":([0-9.]+),"birthtimeMs":[0-9.]+}$/y;
const REGULAR = 0o100000;
const TYPE_MASK = 0o170000;

/**
 * The stat fields of a regular file's scan line when it has exactly scan's shape (root
 * given, no pathBytes, no symlink fields); otherwise undefined and the line goes the slow
 * way. An unescaped `"` cannot occur inside a JSON string, so the first `","size":` is the
 * end of the path unless another field came between.
 */
export function lineStat(line: string, prefix: string): LineStat | undefined {
  if (!line.startsWith(prefix)) return undefined;
  const end = line.indexOf('","size":', prefix.length);
  if (end === -1) return undefined;
  TAIL.lastIndex = end;
  const m = TAIL.exec(line);
  if (!m) return undefined;
  const mode = Number(m[3]);
  if ((mode & TYPE_MASK) !== REGULAR) return undefined;
  let path = line.slice(prefix.length, end);
  // Escapes to decode; and a bare `"` means the path ended earlier (pathBytes follows): JSON.parse refuses it.
  if (path.includes('\\') || path.includes('"')) {
    try {
      path = JSON.parse(`"${path}"`) as string;
    } catch {
      return undefined;
    }
  }
  return { path, size: Number(m[1]), mtimeMs: Number(m[2]), mode, ino: Number(m[4]), dev: Number(m[5]), ctimeMs: Number(m[6]) };
}
