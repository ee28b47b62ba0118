import { comparePaths } from '@hoard/schema';
import { itemLines, type OutputItem } from '@hoard/jsonl';
import type { CacheItem, Entry, HashCache } from '@hoard/state';

/** What the stat fast path proved unchanged, for summaries and progress. */
export interface Skipped {
  files: number;
  bytes: number;
}

export interface SkipUnchanged {
  /** The scan's output without the files found unchanged. */
  items: Generator<OutputItem[]>;
  /** The recorded entries without those matched, in key order: what diff-state still compares. */
  entries: Iterator<Entry>;
  skipped: Skipped;
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

/**
 * The fast path of `scan | hash | diff-state` when most files did not change, as git's
 * index does for `git status`: a scanned file whose size, mode, mtime and inode equal its
 * recorded entry, and whose hash cache entry (same dev, inode, size, mtime, ctime, and not
 * racy) gives the entry's content id, is unchanged. Both the line and the entry are dropped
 * here, so the slow path (parse, hash, merge) sees only what may have changed. Anything
 * this cannot prove, it passes on untouched: the slow path decides, exactly as before.
 *
 * `entries` is shared: diff-state reads the entries left over through the returned
 * iterator while this runs ahead of it on the scan. Whatever the interleaving, each side
 * sees keys in order and a pair is dropped only when both halves matched.
 */
export function skipUnchanged(scanned: Iterable<OutputItem[]>, recorded: Iterator<Entry>, root: string, cache: HashCache, onSkipped?: (files: number, bytes: number) => void): SkipUnchanged {
  const skipped: Skipped = { files: 0, bytes: 0 };
  const left: Entry[] = []; // passed over by the scan: for diff-state, in order
  let leftHead = 0;
  let peeked: IteratorResult<Entry> | undefined;
  const peek = () => (peeked ??= recorded.next());
  const take = (): IteratorResult<Entry> => {
    const r = peek();
    peeked = undefined;
    return r;
  };
  const prefix = `{"type":"file","root":${JSON.stringify(root)},"path":"`;

  function* items(): Generator<OutputItem[]> {
    for (const batch of scanned) {
      const out: Array<OutputItem | undefined> = [];
      // Entries in key order, each with its line's place in `out` when stat matched (a
      // candidate: the cache decides), or -1 when it goes on to diff-state anyway.
      const order: Array<{ entry: Entry; at: number }> = [];
      const lookups: CacheItem[] = [];
      for (const item of batch) {
        for (const line of itemLines(item)) {
          const stat = typeof line === 'string' ? lineStat(line, prefix) : undefined;
          if (!stat) {
            out.push(line);
            continue;
          }
          for (let e = peek(); !e.done && comparePaths(e.value.key, stat.path) < 0; e = peek()) order.push({ entry: take().value as Entry, at: -1 });
          const e = peek();
          if (e.done || e.value.key !== stat.path) {
            out.push(line);
            continue;
          }
          const entry = take().value as Entry;
          const same = entry.size === stat.size && entry.mode === stat.mode && entry.mtimeMs === stat.mtimeMs && entry.ino === stat.ino;
          order.push({ entry, at: same ? out.length : -1 });
          if (same) {
            const slash = stat.path.lastIndexOf('/');
            lookups.push({ dir: slash === -1 ? root : `${root}/${stat.path.slice(0, slash)}`, key: stat });
          }
          out.push(line);
        }
      }
      const hashes = lookups.length ? cache.lookupMany(lookups) : [];
      let files = 0;
      let bytes = 0;
      let n = 0;
      for (const { entry, at } of order) {
        if (at !== -1 && hashes[n++] === entry.hash) {
          out[at] = undefined;
          files++;
          bytes += entry.size;
        } else left.push(entry);
      }
      skipped.files += files;
      skipped.bytes += bytes;
      if (files) onSkipped?.(files, bytes);
      const kept = out.filter((o): o is OutputItem => o !== undefined);
      if (kept.length) yield kept;
    }
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
      return take();
    },
    return(value?: unknown) {
      recorded.return?.(value);
      return { done: true, value: undefined };
    },
  };

  return { items: items(), entries, skipped };
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
