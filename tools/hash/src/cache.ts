import { HashCache, openHashCacheDatabase, type Db } from '@hoard/state';

/** One hash cache per database: the repository's for files inside one, else the user's. */
export function openHashCaches(algo: string): { cacheFor: (root: string) => HashCache; close: () => void } {
  const byRoot = new Map<string, HashCache>();
  const byFile = new Map<string, { db: Db; cache: HashCache }>();
  return {
    cacheFor(root) {
      let cache = byRoot.get(root);
      if (!cache) {
        const { db, file } = openHashCacheDatabase(root);
        let entry = byFile.get(file);
        if (entry) db.close();
        else byFile.set(file, (entry = { db, cache: new HashCache(db, algo) }));
        cache = entry.cache;
        byRoot.set(root, cache);
      }
      return cache;
    },
    close() {
      for (const { db, cache } of byFile.values()) {
        cache.flush();
        db.close();
      }
    },
  };
}
