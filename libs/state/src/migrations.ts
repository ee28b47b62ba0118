import type { Migration } from './database.js';

/**
 * Hash cache: a file's content id, keyed by where it lives on disk (dev, ino) and
 * trusted only while size, mtime and ctime are unchanged (see hash-cache.ts for the
 * racy-timestamp rule). The digest is stored as raw bytes: half the size of hex text,
 * which makes the 100k-row writes of a first run markedly cheaper.
 */
const hashCache: Migration = {
  version: 1,
  name: 'hash cache',
  sql: `
    CREATE TABLE hash_cache (
      dev INTEGER NOT NULL,
      ino INTEGER NOT NULL,
      algo TEXT NOT NULL,
      size INTEGER NOT NULL,
      mtime_ms REAL NOT NULL,
      ctime_ms REAL NOT NULL,
      digest BLOB NOT NULL,
      verified_at_ms REAL NOT NULL,
      PRIMARY KEY (dev, ino, algo)
    ) WITHOUT ROWID;
  `,
};

/** The schema of a standalone hash-cache database (used when there is no repository). */
export const cacheMigrations: readonly Migration[] = [hashCache];

/** The schema of a repository's state database. */
export const stateMigrations: readonly Migration[] = [hashCache];
