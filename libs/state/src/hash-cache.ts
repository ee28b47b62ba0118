import type { Db } from './database.js';

/** The stat fields that decide whether a cached hash still describes a file. */
export interface CacheKey {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** A file to look up or remember: its folder (absolute path) and its stat key. */
export interface CacheItem {
  dir: string;
  key: CacheKey;
}

/** The folder a cache files `file` (relative to `root`) under: its folder's absolute path. */
export function cacheFolder(root: string, file: string): string {
  const slash = file.lastIndexOf('/');
  return slash === -1 ? root : `${root}/${file.slice(0, slash)}`;
}

/**
 * A cached hash is trusted only when the file's mtime and ctime were at least this far
 * in the past when it was hashed. Otherwise a later write within the file system's
 * timestamp granularity (1-2 s on some) could leave size and times unchanged: the
 * "racy" case git also guards against. Such entries are re-read next time.
 */
export const RACY_WINDOW_MS = 2000;

/** Per entry: ino, dev, size, mtimeMs, ctimeMs, verifiedAtMs as float64, then the digest. */
const FIELDS = 6;
const HEADER = FIELDS * 8;

interface Entry {
  key: CacheKey;
  verifiedAtMs: number;
  /** The content id as given (`algo:hex`): turned into bytes only when its folder is written. */
  hash: string;
}

type Bucket = Map<number, Entry>;

/**
 * A folder's stored parts as read (oldest first), with no object per file: a part written
 * sorted by inode is searched in place; an older unsorted one gets an inode index.
 */
interface Stored {
  parts: Array<{ data: Buffer; at?: Map<number, number> }>;
  entries: number;
}

/** A folder is merged back into one part when a look finds it in this many. */
const MAX_PARTS = 4;
const MAX_TO_MERGE = 65536;

/**
 * Content ids keyed by (dev, ino) and trusted while size, mtime and ctime are unchanged.
 * Entries are stored grouped by folder, in a few rows per folder: a scan lists files folder
 * by folder, so a run costs a row read or two per folder instead of one per file (per-file
 * rows made a cached run of 100k files spend most of its time in SQLite). New entries are
 * added as a part of their own (newer parts win), so a few files rehashed in a big folder
 * do not rewrite its row; a folder found in MAX_PARTS parts is merged back into one when
 * it is next written. A small in-memory cache of decoded folders serves huge folders that
 * span many input batches.
 */
export class HashCache {
  private readonly getStmt;
  private readonly addPartStmt;
  private readonly clearStmt;
  private readonly putStmt;
  private readonly digestBytes: number;
  private readonly decoded = new Map<string, Stored>();
  private decodedEntries = 0;
  private pending = new Map<string, Bucket>();
  private pendingCount = 0;
  /** Folders a look found in MAX_PARTS parts or more: merged into one when next written. */
  private readonly toMerge = new Set<string>();
  /**
   * Nothing was stored for this algorithm when the cache was opened (a first run): a lookup
   * then asks the database only for folders this cache wrote itself (`written`). What
   * another process wrote meanwhile is a miss, rehashed, which is always safe; a first
   * backup of 100,000 files had looked up its 2,000 folders in vain.
   */
  private readonly emptyAtOpen: boolean;
  private readonly written = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly algo: string,
    /** Entries remembered before they are written (one transaction). */
    private readonly batchSize = 16384,
    /** Decoded entries kept in memory across batches. */
    private readonly memoryEntries = 16384,
  ) {
    this.digestBytes = algo === 'xxh3' || algo === 'xxh64' ? 8 : 32;
    this.getStmt = db.prepare('SELECT dir, part, entries FROM hash_cache WHERE algo = ? AND dir IN (SELECT value FROM json_each(?)) ORDER BY dir, part').raw(true);
    this.addPartStmt = db.prepare(
      'INSERT INTO hash_cache (algo, dir, part, entries) VALUES (@algo, @dir, (SELECT ifnull(max(part), -1) + 1 FROM hash_cache WHERE algo = @algo AND dir = @dir), @entries)',
    );
    this.clearStmt = db.prepare('DELETE FROM hash_cache WHERE algo = ? AND dir = ?');
    this.putStmt = db.prepare('INSERT INTO hash_cache (algo, dir, part, entries) VALUES (?, ?, 0, ?)');
    this.emptyAtOpen = db.prepare('SELECT 1 FROM hash_cache WHERE algo = ? LIMIT 1').get(algo) === undefined;
  }

  /** For each item, the cached content id for that exact file state, or undefined (miss, changed, or racy). */
  lookupMany(items: readonly CacheItem[]): Array<string | undefined> {
    const stored = this.load(new Set(items.map((i) => i.dir)));
    const size = HEADER + this.digestBytes;
    return items.map(({ dir, key }) => {
      const fresh = this.pending.get(dir)?.get(key.ino);
      if (fresh) {
        const k = fresh.key;
        if (k.dev !== key.dev || k.size !== key.size || k.mtimeMs !== key.mtimeMs || k.ctimeMs !== key.ctimeMs || isRacy(key, fresh.verifiedAtMs)) return undefined;
        return fresh.hash;
      }
      const found = this.find(stored.get(dir), key.ino);
      if (!found) return undefined;
      const [d, off] = found;
      if (d.readDoubleLE(off + 8) !== key.dev || d.readDoubleLE(off + 16) !== key.size || d.readDoubleLE(off + 24) !== key.mtimeMs || d.readDoubleLE(off + 32) !== key.ctimeMs) return undefined;
      if (isRacy(key, d.readDoubleLE(off + 40))) return undefined;
      return `${this.algo}:${d.toString('hex', off + HEADER, off + size)}`;
    });
  }

  /** Remember content id `hash` (`algo:hex`) for a file state, as verified at `verifiedAtMs` (when reading began). */
  store(dir: string, key: CacheKey, hash: string, verifiedAtMs: number): void {
    let bucket = this.pending.get(dir);
    if (!bucket) this.pending.set(dir, (bucket = new Map()));
    bucket.set(key.ino, { key: { dev: key.dev, ino: key.ino, size: key.size, mtimeMs: key.mtimeMs, ctimeMs: key.ctimeMs }, verifiedAtMs, hash });
    if (++this.pendingCount >= this.batchSize) this.flush();
  }

  /**
   * Write what was remembered, in one transaction: each touched folder gets its new
   * entries as a part of their own, or, when a look found it in many parts, is merged
   * into one.
   */
  flush(): void {
    if (!this.pendingCount) return;
    const pending = this.pending;
    this.pending = new Map();
    this.pendingCount = 0;
    if (this.emptyAtOpen) for (const dir of pending.keys()) this.written.add(dir);
    const merging = [...pending.keys()].filter((dir) => this.toMerge.has(dir));
    // Read afresh (not from memory): every part, whatever was loaded when.
    for (const dir of merging) this.decoded.delete(dir);
    const stored = this.load(new Set(merging));
    this.db.transaction(() => {
      for (const [dir, fresh] of pending) {
        if (this.toMerge.delete(dir)) {
          const merged = this.decode(stored.get(dir));
          for (const [ino, entry] of fresh) merged.set(ino, entry);
          const data = this.encode(merged);
          this.clearStmt.run(this.algo, dir);
          this.putStmt.run(this.algo, dir, data);
          this.remember(dir, this.stored([data]));
          continue;
        }
        const part = this.encode(fresh);
        this.addPartStmt.run({ algo: this.algo, dir, entries: part });
        const known = this.decoded.get(dir);
        if (known) this.remember(dir, this.stored([...known.parts.map((p) => p.data), part]));
      }
    })();
  }

  /** The folders' stored rows, indexed by inode (from memory when recently used). */
  private load(dirs: Set<string>): Map<string, Stored> {
    const found = new Map<string, Stored>();
    const missing: string[] = [];
    for (const dir of dirs) {
      const s = this.decoded.get(dir);
      if (s) found.set(dir, s);
      else missing.push(dir);
    }
    if (missing.length) {
      // A folder's parts in order, one after the other: a later entry of an inode wins.
      const rows = new Map<string, Buffer[]>();
      const ask = this.emptyAtOpen ? missing.filter((dir) => this.written.has(dir)) : missing;
      const read = ask.length ? (this.getStmt.all(this.algo, JSON.stringify(ask)) as Array<[string, number, Buffer]>) : [];
      for (const [dir, , entries] of read) {
        const parts = rows.get(dir);
        if (parts) parts.push(entries);
        else rows.set(dir, [entries]);
      }
      for (const dir of missing) {
        const s = this.stored(rows.get(dir) ?? []);
        // Many parts, or one not sorted yet: merged (and sorted) when the folder is next written
        // (the folders noted are bounded: those beyond wait for a later run).
        if ((s.parts.length >= MAX_PARTS || s.parts.some((p) => p.at)) && this.toMerge.size < MAX_TO_MERGE) this.toMerge.add(dir);
        found.set(dir, s);
        this.remember(dir, s);
      }
    }
    return found;
  }

  private remember(dir: string, s: Stored): void {
    const old = this.decoded.get(dir);
    if (old) this.decodedEntries -= old.entries;
    this.decoded.delete(dir);
    this.decoded.set(dir, s);
    this.decodedEntries += s.entries;
    // Forget the least recently loaded folders beyond the memory bound (Map keeps insertion order).
    for (const [d, b] of this.decoded) {
      if (this.decodedEntries <= this.memoryEntries || d === dir) break;
      this.decoded.delete(d);
      this.decodedEntries -= b.entries;
    }
  }

  /** A folder's parts, each searchable by inode. */
  private stored(parts: Buffer[]): Stored {
    const size = HEADER + this.digestBytes;
    let entries = 0;
    return {
      parts: parts.map((data) => {
        const n = Math.floor(data.length / size);
        entries += n;
        // Parts written before they were sorted (older hoard) get an index of their own.
        for (let i = 1; i < n; i++) {
          if (data.readDoubleLE(i * size) <= data.readDoubleLE((i - 1) * size)) {
            const at = new Map<number, number>();
            for (let off = 0; off + size <= data.length; off += size) at.set(data.readDoubleLE(off), off);
            return { data, at };
          }
        }
        return { data };
      }),
      entries,
    };
  }

  /** The newest stored entry of an inode: its part and where it starts there. */
  private find(stored: Stored | undefined, ino: number): [Buffer, number] | undefined {
    if (!stored) return undefined;
    const size = HEADER + this.digestBytes;
    for (let p = stored.parts.length - 1; p >= 0; p--) {
      const { data, at } = stored.parts[p]!;
      if (at) {
        const off = at.get(ino);
        if (off !== undefined) return [data, off];
        continue;
      }
      let lo = 0;
      let hi = Math.floor(data.length / size) - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const v = data.readDoubleLE(mid * size);
        if (v === ino) return [data, mid * size];
        if (v < ino) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    return undefined;
  }

  /** A folder's stored parts as entries, for merging with new ones (newer parts win). */
  private decode(stored: Stored | undefined): Bucket {
    const bucket: Bucket = new Map();
    if (!stored) return bucket;
    const size = HEADER + this.digestBytes;
    for (const { data: blob } of stored.parts) {
      for (let off = 0; off + size <= blob.length; off += size) {
        const ino = blob.readDoubleLE(off);
        bucket.set(ino, {
          key: { ino, dev: blob.readDoubleLE(off + 8), size: blob.readDoubleLE(off + 16), mtimeMs: blob.readDoubleLE(off + 24), ctimeMs: blob.readDoubleLE(off + 32) },
          verifiedAtMs: blob.readDoubleLE(off + 40),
          hash: `${this.algo}:${blob.toString('hex', off + HEADER, off + size)}`,
        });
      }
    }
    return bucket;
  }

  /** Entries sorted by inode (searched in place when read). */
  private encode(bucket: Bucket): Buffer {
    const size = HEADER + this.digestBytes;
    const blob = Buffer.alloc(bucket.size * size);
    let off = 0;
    const prefix = `${this.algo}:`;
    for (const { key, verifiedAtMs, hash } of [...bucket.values()].sort((a, b) => a.key.ino - b.key.ino)) {
      blob.writeDoubleLE(key.ino, off);
      blob.writeDoubleLE(key.dev, off + 8);
      blob.writeDoubleLE(key.size, off + 16);
      blob.writeDoubleLE(key.mtimeMs, off + 24);
      blob.writeDoubleLE(key.ctimeMs, off + 32);
      blob.writeDoubleLE(verifiedAtMs, off + 40);
      // Written from its hex in place: a Buffer per entry had cost a first backup ~0.2 s.
      const whole = hash.length === prefix.length + 2 * this.digestBytes && hash.startsWith(prefix);
      if (!whole || blob.write(hash.slice(prefix.length), off + HEADER, this.digestBytes, 'hex') !== this.digestBytes) throw new Error(`not a ${this.algo} content id: ${hash}`);
      off += size;
    }
    return blob;
  }
}

/** True when the file changed so close to `verifiedAtMs` that equal stat fields prove nothing. */
export function isRacy(key: Pick<CacheKey, 'mtimeMs' | 'ctimeMs'>, verifiedAtMs: number): boolean {
  return Math.max(key.mtimeMs, key.ctimeMs) + RACY_WINDOW_MS > verifiedAtMs;
}
