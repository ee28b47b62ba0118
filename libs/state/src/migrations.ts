import type { Migration } from './database.js';

/**
 * Hash cache: content ids of files, keyed by (dev, ino) and trusted while size, mtime
 * and ctime are unchanged (see hash-cache.ts for the racy-timestamp rule). One row per
 * folder and algorithm holds that folder's entries packed in a blob.
 */
const hashCache: Migration = {
  version: 1,
  name: 'hash cache',
  sql: `
    CREATE TABLE hash_cache (
      algo TEXT NOT NULL,
      dir TEXT NOT NULL,
      entries BLOB NOT NULL,
      PRIMARY KEY (algo, dir)
    ) WITHOUT ROWID;
  `,
};

/** The schema of a standalone hash-cache database (used when there is no repository). */
export const cacheMigrations: readonly Migration[] = [hashCache];

/** The schema of a repository's state database. */
export const stateMigrations: readonly Migration[] = [hashCache];
