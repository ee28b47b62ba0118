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
  digest: Buffer;
}

type Bucket = Map<number, Entry>;

/**
 * Content ids keyed by (dev, ino) and trusted while size, mtime and ctime are unchanged.
 * Entries are stored grouped by folder, one row per folder: a scan lists files folder by
 * folder, so a run costs one row read per folder instead of one per file (per-file rows
 * made a cached run of 100k files spend most of its time in SQLite). A small in-memory
 * cache of decoded folders serves huge folders that span many input batches.
 */
export class HashCache {
  private readonly getStmt;
  private readonly putStmt;
  private readonly digestBytes: number;
  private readonly decoded = new Map<string, Bucket>();
  private decodedEntries = 0;
  private pending = new Map<string, Bucket>();
  private pendingCount = 0;

  constructor(
    private readonly db: Db,
    private readonly algo: string,
    /** Entries remembered before they are written (one transaction). */
    private readonly batchSize = 16384,
    /** Decoded entries kept in memory across batches. */
    private readonly memoryEntries = 16384,
  ) {
    this.digestBytes = algo === 'xxh3' || algo === 'xxh64' ? 8 : 32;
    this.getStmt = db.prepare('SELECT dir, entries FROM hash_cache WHERE algo = ? AND dir IN (SELECT value FROM json_each(?))').raw(true);
    this.putStmt = db.prepare('INSERT OR REPLACE INTO hash_cache (algo, dir, entries) VALUES (?, ?, ?)');
  }

  /** For each item, the cached content id for that exact file state, or undefined (miss, changed, or racy). */
  lookupMany(items: readonly CacheItem[]): Array<string | undefined> {
    const buckets = this.load(new Set(items.map((i) => i.dir)));
    return items.map(({ dir, key }) => {
      const entry = this.pending.get(dir)?.get(key.ino) ?? buckets.get(dir)?.get(key.ino);
      if (!entry) return undefined;
      const k = entry.key;
      if (k.dev !== key.dev || k.size !== key.size || k.mtimeMs !== key.mtimeMs || k.ctimeMs !== key.ctimeMs) return undefined;
      if (isRacy(key, entry.verifiedAtMs)) return undefined;
      return `${this.algo}:${entry.digest.toString('hex')}`;
    });
  }

  /** Remember content id `hash` (`algo:hex`) for a file state, as verified at `verifiedAtMs` (when reading began). */
  store(dir: string, key: CacheKey, hash: string, verifiedAtMs: number): void {
    let bucket = this.pending.get(dir);
    if (!bucket) this.pending.set(dir, (bucket = new Map()));
    const digest = Buffer.from(hash.slice(this.algo.length + 1), 'hex');
    bucket.set(key.ino, { key: { dev: key.dev, ino: key.ino, size: key.size, mtimeMs: key.mtimeMs, ctimeMs: key.ctimeMs }, verifiedAtMs, digest });
    if (++this.pendingCount >= this.batchSize) this.flush();
  }

  /** Write what was remembered: each touched folder's row is merged and rewritten, in one transaction. */
  flush(): void {
    if (!this.pendingCount) return;
    const pending = this.pending;
    this.pending = new Map();
    this.pendingCount = 0;
    const stored = this.load(new Set(pending.keys()));
    this.db.transaction(() => {
      for (const [dir, fresh] of pending) {
        const merged = new Map(stored.get(dir));
        for (const [ino, entry] of fresh) merged.set(ino, entry);
        this.putStmt.run(this.algo, dir, this.encode(merged));
        this.remember(dir, merged);
      }
    })();
  }

  /** The folders' stored entries, decoded (from memory when recently used). */
  private load(dirs: Set<string>): Map<string, Bucket> {
    const buckets = new Map<string, Bucket>();
    const missing: string[] = [];
    for (const dir of dirs) {
      const bucket = this.decoded.get(dir);
      if (bucket) buckets.set(dir, bucket);
      else missing.push(dir);
    }
    if (missing.length) {
      const found = new Map<string, Buffer>();
      for (const [dir, entries] of this.getStmt.all(this.algo, JSON.stringify(missing)) as Array<[string, Buffer]>) found.set(dir, entries);
      for (const dir of missing) {
        const bucket = this.decode(found.get(dir));
        buckets.set(dir, bucket);
        this.remember(dir, bucket);
      }
    }
    return buckets;
  }

  private remember(dir: string, bucket: Bucket): void {
    const old = this.decoded.get(dir);
    if (old) this.decodedEntries -= old.size;
    this.decoded.delete(dir);
    this.decoded.set(dir, bucket);
    this.decodedEntries += bucket.size;
    // Forget the least recently loaded folders beyond the memory bound (Map keeps insertion order).
    for (const [d, b] of this.decoded) {
      if (this.decodedEntries <= this.memoryEntries || d === dir) break;
      this.decoded.delete(d);
      this.decodedEntries -= b.size;
    }
  }

  private decode(blob: Buffer | undefined): Bucket {
    const bucket: Bucket = new Map();
    if (!blob) return bucket;
    const size = HEADER + this.digestBytes;
    for (let off = 0; off + size <= blob.length; off += size) {
      const ino = blob.readDoubleLE(off);
      bucket.set(ino, {
        key: { ino, dev: blob.readDoubleLE(off + 8), size: blob.readDoubleLE(off + 16), mtimeMs: blob.readDoubleLE(off + 24), ctimeMs: blob.readDoubleLE(off + 32) },
        verifiedAtMs: blob.readDoubleLE(off + 40),
        digest: blob.subarray(off + HEADER, off + size),
      });
    }
    return bucket;
  }

  private encode(bucket: Bucket): Buffer {
    const size = HEADER + this.digestBytes;
    const blob = Buffer.alloc(bucket.size * size);
    let off = 0;
    for (const { key, verifiedAtMs, digest } of bucket.values()) {
      blob.writeDoubleLE(key.ino, off);
      blob.writeDoubleLE(key.dev, off + 8);
      blob.writeDoubleLE(key.size, off + 16);
      blob.writeDoubleLE(key.mtimeMs, off + 24);
      blob.writeDoubleLE(key.ctimeMs, off + 32);
      blob.writeDoubleLE(verifiedAtMs, off + 40);
      digest.copy(blob, off + HEADER);
      off += size;
    }
    return blob;
  }
}

/** True when the file changed so close to `verifiedAtMs` that equal stat fields prove nothing. */
export function isRacy(key: Pick<CacheKey, 'mtimeMs' | 'ctimeMs'>, verifiedAtMs: number): boolean {
  return Math.max(key.mtimeMs, key.ctimeMs) + RACY_WINDOW_MS > verifiedAtMs;
}
