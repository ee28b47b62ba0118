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

/** A folder's stored entries as read: the row's bytes and where each inode's entry starts (no object per file). */
interface Stored {
  data: Buffer;
  at: Map<number, number>;
}

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
  private readonly decoded = new Map<string, Stored>();
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
    const stored = this.load(new Set(items.map((i) => i.dir)));
    const size = HEADER + this.digestBytes;
    return items.map(({ dir, key }) => {
      const fresh = this.pending.get(dir)?.get(key.ino);
      if (fresh) {
        const k = fresh.key;
        if (k.dev !== key.dev || k.size !== key.size || k.mtimeMs !== key.mtimeMs || k.ctimeMs !== key.ctimeMs || isRacy(key, fresh.verifiedAtMs)) return undefined;
        return `${this.algo}:${fresh.digest.toString('hex')}`;
      }
      const s = stored.get(dir);
      const off = s?.at.get(key.ino);
      if (s === undefined || off === undefined) return undefined;
      const d = s.data;
      if (d.readDoubleLE(off + 8) !== key.dev || d.readDoubleLE(off + 16) !== key.size || d.readDoubleLE(off + 24) !== key.mtimeMs || d.readDoubleLE(off + 32) !== key.ctimeMs) return undefined;
      if (isRacy(key, d.readDoubleLE(off + 40))) return undefined;
      return `${this.algo}:${d.toString('hex', off + HEADER, off + size)}`;
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
        const merged = this.decode(stored.get(dir));
        for (const [ino, entry] of fresh) merged.set(ino, entry);
        const data = this.encode(merged);
        this.putStmt.run(this.algo, dir, data);
        this.remember(dir, this.index(data));
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
      const rows = new Map<string, Buffer>();
      for (const [dir, entries] of this.getStmt.all(this.algo, JSON.stringify(missing)) as Array<[string, Buffer]>) rows.set(dir, entries);
      for (const dir of missing) {
        const s = this.index(rows.get(dir) ?? Buffer.alloc(0));
        found.set(dir, s);
        this.remember(dir, s);
      }
    }
    return found;
  }

  private remember(dir: string, s: Stored): void {
    const old = this.decoded.get(dir);
    if (old) this.decodedEntries -= old.at.size;
    this.decoded.delete(dir);
    this.decoded.set(dir, s);
    this.decodedEntries += s.at.size;
    // Forget the least recently loaded folders beyond the memory bound (Map keeps insertion order).
    for (const [d, b] of this.decoded) {
      if (this.decodedEntries <= this.memoryEntries || d === dir) break;
      this.decoded.delete(d);
      this.decodedEntries -= b.at.size;
    }
  }

  /** Where each inode's entry starts in a stored row. */
  private index(data: Buffer): Stored {
    const size = HEADER + this.digestBytes;
    const at = new Map<number, number>();
    for (let off = 0; off + size <= data.length; off += size) at.set(data.readDoubleLE(off), off);
    return { data, at };
  }

  /** A stored row as entries, for merging with new ones. */
  private decode(stored: Stored | undefined): Bucket {
    const bucket: Bucket = new Map();
    if (!stored) return bucket;
    const size = HEADER + this.digestBytes;
    const blob = stored.data;
    for (const off of stored.at.values()) {
      const ino = blob.readDoubleLE(off);
      bucket.set(ino, {
        key: { ino, dev: blob.readDoubleLE(off + 8), size: blob.readDoubleLE(off + 16), mtimeMs: blob.readDoubleLE(off + 24), ctimeMs: blob.readDoubleLE(off + 32) },
        verifiedAtMs: blob.readDoubleLE(off + 40),
        digest: Buffer.from(blob.subarray(off + HEADER, off + size)),
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
