import type { Db } from './database.js';

/** The stat fields that decide whether a cached hash still describes a file. */
export interface CacheKey {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/**
 * A cached hash is trusted only when the file's mtime and ctime were at least this far
 * in the past when it was hashed. Otherwise a later write within the file system's
 * timestamp granularity (1-2 s on some) could leave size and times unchanged: the
 * "racy" case git also guards against. Such entries are re-read next time.
 */
export const RACY_WINDOW_MS = 2000;

type Row = [ino: number, size: number, mtimeMs: number, ctimeMs: number, digest: Buffer, verifiedAtMs: number];

/**
 * Content ids by (dev, ino). Lookups go by the batch (one query for hundreds of files:
 * per-row queries cost 3x more here), writes are batched in transactions.
 */
export class HashCache {
  private readonly getManyStmt;
  private readonly putStmt;
  private pending: Array<[CacheKey, string, number]> = [];

  constructor(
    private readonly db: Db,
    private readonly algo: string,
    // Few large transactions: commits (and the WAL checkpoints they trigger) dominate otherwise.
    private readonly batchSize = 16384,
  ) {
    this.getManyStmt = db
      .prepare(
        `SELECT ino, size, mtime_ms, ctime_ms, digest, verified_at_ms FROM hash_cache
         WHERE dev = ? AND algo = ? AND ino IN (SELECT value FROM json_each(?))`,
      )
      .raw(true);
    this.putStmt = db.prepare(
      'INSERT OR REPLACE INTO hash_cache (dev, ino, algo, size, mtime_ms, ctime_ms, digest, verified_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** For each key, the cached content id for that exact file state, or undefined (miss, changed, or racy). */
  lookupMany(keys: readonly CacheKey[]): Array<string | undefined> {
    const found = new Map<string, Row>();
    const devs = new Set(keys.map((k) => k.dev));
    for (const dev of devs) {
      const inos = keys.filter((k) => k.dev === dev).map((k) => k.ino);
      for (const row of this.getManyStmt.all(dev, this.algo, JSON.stringify(inos)) as Row[]) found.set(`${dev}:${row[0]}`, row);
    }
    return keys.map((key) => {
      const row = found.get(`${key.dev}:${key.ino}`);
      if (!row) return undefined;
      const [, size, mtimeMs, ctimeMs, digest, verifiedAtMs] = row;
      if (size !== key.size || mtimeMs !== key.mtimeMs || ctimeMs !== key.ctimeMs) return undefined;
      if (isRacy(key, verifiedAtMs)) return undefined;
      return `${this.algo}:${digest.toString('hex')}`;
    });
  }

  /** Remember content id `hash` (`algo:hex`) for this file state, as verified at `verifiedAtMs` (when reading began). */
  store(key: CacheKey, hash: string, verifiedAtMs: number): void {
    this.pending.push([key, hash, verifiedAtMs]);
    if (this.pending.length >= this.batchSize) this.flush();
  }

  flush(): void {
    if (!this.pending.length) return;
    const rows = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      const skip = this.algo.length + 1;
      for (const [k, hash, at] of rows) this.putStmt.run(k.dev, k.ino, this.algo, k.size, k.mtimeMs, k.ctimeMs, Buffer.from(hash.slice(skip), 'hex'), at);
    })();
  }
}

/** True when the file changed so close to `verifiedAtMs` that equal stat fields prove nothing. */
export function isRacy(key: Pick<CacheKey, 'mtimeMs' | 'ctimeMs'>, verifiedAtMs: number): boolean {
  return Math.max(key.mtimeMs, key.ctimeMs) + RACY_WINDOW_MS > verifiedAtMs;
}
