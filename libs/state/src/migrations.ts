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

/**
 * A folder's entries in parts: part 0 and the parts added after it, newer parts overriding
 * older entries of the same inode. A backup that rehashed 3,000 files in 1,560 folders
 * rewrote all 1,560 rows whole (12 MB through the WAL, 0.4-0.6 s); now it adds the new
 * entries alone, and a folder is merged back into one part once it has several.
 */
const hashCacheParts = (version: number): Migration => ({
  version,
  name: 'hash cache in parts',
  sql: `
    CREATE TABLE hash_cache_parts (
      algo TEXT NOT NULL,
      dir TEXT NOT NULL,
      part INTEGER NOT NULL,
      entries BLOB NOT NULL,
      PRIMARY KEY (algo, dir, part)
    ) WITHOUT ROWID;
    INSERT INTO hash_cache_parts (algo, dir, part, entries) SELECT algo, dir, 0, entries FROM hash_cache;
    DROP TABLE hash_cache;
    ALTER TABLE hash_cache_parts RENAME TO hash_cache;
  `,
});

/** The schema of a standalone hash-cache database (used when there is no repository). */
export const cacheMigrations: readonly Migration[] = [hashCache, hashCacheParts(2)];

/**
 * Repository state. `events` is the append-only history (triggers refuse UPDATE and
 * DELETE); `entries` is the current state of each location, a cache of the log that
 * `hoard state rebuild` recomputes. A path that is not UTF-8 is keyed by its readable
 * form plus NUL plus its bytes in base64 (NUL never occurs in a name), so keys stay
 * unique and sort next to the readable form.
 */
const repositoryState: Migration = {
  version: 2,
  name: 'repository state',
  sql: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE locations (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL,
      url TEXT NOT NULL,
      layout TEXT NOT NULL DEFAULT 'tree',
      roles TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL
    );
    CREATE TABLE entries (
      location_id INTEGER NOT NULL REFERENCES locations(id),
      key TEXT NOT NULL,
      hash TEXT NOT NULL,
      size INTEGER NOT NULL,
      mode INTEGER NOT NULL,
      mtime_ms REAL NOT NULL,
      ino INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (location_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX entries_hash ON entries (hash);
    CREATE TABLE scans (
      id INTEGER PRIMARY KEY,
      location_id INTEGER NOT NULL REFERENCES locations(id),
      under TEXT NOT NULL DEFAULT '',
      started_at TEXT NOT NULL,
      finished_at TEXT,
      complete INTEGER NOT NULL DEFAULT 0,
      files INTEGER NOT NULL DEFAULT 0,
      errors INTEGER NOT NULL DEFAULT 0,
      recorded_at TEXT
    );
    CREATE TABLE events (
      seq INTEGER PRIMARY KEY, -- never reused: rows are never deleted (see triggers)
      time TEXT NOT NULL,
      location_id INTEGER NOT NULL REFERENCES locations(id),
      op TEXT NOT NULL CHECK (op IN ('add', 'modify', 'delete', 'move')),
      key TEXT NOT NULL,
      from_key TEXT,
      hash TEXT,
      prev_hash TEXT,
      size INTEGER,
      mode INTEGER,
      mtime_ms REAL,
      ino INTEGER,
      origin TEXT NOT NULL CHECK (origin IN ('user', 'sync')),
      scan_id INTEGER REFERENCES scans(id)
    );
    CREATE INDEX events_key ON events (location_id, key);
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    -- Content held in a store (blobs layout); a tree's content is known from its entries.
    CREATE TABLE blobs (hash TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE copies (
      hash TEXT NOT NULL,
      location_id INTEGER NOT NULL REFERENCES locations(id),
      verified_at TEXT NOT NULL,
      PRIMARY KEY (hash, location_id)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
      id INTEGER PRIMARY KEY,
      location_id INTEGER NOT NULL REFERENCES locations(id),
      key TEXT NOT NULL,
      hash TEXT NOT NULL,
      size INTEGER NOT NULL,
      mode INTEGER NOT NULL,
      uid INTEGER NOT NULL,
      gid INTEGER NOT NULL,
      atime_ms REAL NOT NULL,
      mtime_ms REAL NOT NULL,
      ctime_ms REAL NOT NULL,
      birthtime_ms REAL NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX snapshots_key ON snapshots (location_id, key);
  `,
};

/** Per-location settings (the far side's hoard command...) and blob sizes for copies. */
const remotes: Migration = {
  version: 3,
  name: 'remotes',
  sql: `
    ALTER TABLE locations ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE copies ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX copies_location ON copies (location_id);
  `,
};

/**
 * Backup (a host's state database): tracked directories (each a location of kind dir),
 * files staged for the next backup, backup runs, and snapshots tied to the run that made them.
 */
const backup: Migration = {
  version: 4,
  name: 'backup',
  sql: `
    CREATE TABLE directories (
      id INTEGER PRIMARY KEY,
      path TEXT NOT NULL UNIQUE,
      location_id INTEGER NOT NULL REFERENCES locations(id),
      created_at TEXT NOT NULL
    );
    CREATE TABLE staged (
      location_id INTEGER NOT NULL,
      key TEXT NOT NULL,
      staged_at TEXT NOT NULL,
      PRIMARY KEY (location_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE backups (
      id INTEGER PRIMARY KEY,
      host TEXT NOT NULL,
      started_at TEXT NOT NULL,
      finished_at TEXT,
      files INTEGER NOT NULL DEFAULT 0,
      bytes INTEGER NOT NULL DEFAULT 0,
      new_files INTEGER NOT NULL DEFAULT 0,
      new_bytes INTEGER NOT NULL DEFAULT 0
    );
    ALTER TABLE snapshots ADD COLUMN backup_id INTEGER REFERENCES backups(id);
    -- A deletion seen by a backup: the file's history goes on, its current state is gone.
    ALTER TABLE snapshots ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX snapshots_hash ON snapshots (hash);
  `,
};

/**
 * Packs: a vault keeps small blobs concatenated in pack files (restic's way: one file per
 * few thousand blobs instead of one each). Where each packed blob lies, as its pack's
 * index in the vault says.
 */
const packs: Migration = {
  version: 5,
  name: 'packs',
  sql: `
    CREATE TABLE packed (
      location_id INTEGER NOT NULL,
      hash TEXT NOT NULL,
      pack TEXT NOT NULL,
      offset INTEGER NOT NULL,
      length INTEGER NOT NULL,
      PRIMARY KEY (location_id, hash)
    ) WITHOUT ROWID;
    CREATE INDEX packed_pack ON packed (location_id, pack);
  `,
};

/**
 * Slimmer packs: a pack is named once (`packs`) and its blobs point at it by number, a
 * packed blob is held through its pack alone (no `copies` row beside it), and snapshots
 * lose their hash index (prune reads every hash anyway). A first backup of 100,000 files
 * writes ~200,000 fewer index entries, each with a random 71-byte key.
 */
const slimPacks: Migration = {
  version: 6,
  name: 'slim packs',
  sql: `
    CREATE TABLE packs (
      id INTEGER PRIMARY KEY,
      location_id INTEGER NOT NULL,
      name TEXT NOT NULL,
      verified_at TEXT NOT NULL,
      UNIQUE (location_id, name)
    );
    INSERT INTO packs (location_id, name, verified_at)
      SELECT location_id, pack, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM packed GROUP BY location_id, pack;
    CREATE TABLE packed_blobs (
      location_id INTEGER NOT NULL,
      hash TEXT NOT NULL,
      pack_id INTEGER NOT NULL,
      offset INTEGER NOT NULL,
      length INTEGER NOT NULL,
      PRIMARY KEY (location_id, hash)
    ) WITHOUT ROWID;
    INSERT INTO packed_blobs
      SELECT p.location_id, p.hash, k.id, p.offset, p.length FROM packed p JOIN packs k ON k.location_id = p.location_id AND k.name = p.pack;
    DELETE FROM copies WHERE EXISTS (SELECT 1 FROM packed p WHERE p.location_id = copies.location_id AND p.hash = copies.hash);
    DROP TABLE packed;
    ALTER TABLE packed_blobs RENAME TO packed;
    CREATE INDEX packed_pack ON packed (pack_id);
    DROP INDEX snapshots_hash;
  `,
};

/**
 * Marks of runs of files proved unchanged (see skip-unchanged.ts), per location, as one
 * JSON object; valid while the location's last event is still `seq`.
 */
const runMarks: Migration = {
  version: 7,
  name: 'run marks',
  sql: `
    CREATE TABLE run_marks (
      location_id INTEGER PRIMARY KEY,
      seq INTEGER NOT NULL,
      marks TEXT NOT NULL
    );
  `,
};

/**
 * A location's last event found in a few index pages: through events_key, max(seq) read
 * every event of the location (4.7 ms at 100,000 events, warm; asked before and after each
 * scan and sync). Events are appended in seq order: the new index grows at its right edge.
 */
const lastEvent: Migration = {
  version: 8,
  name: 'last event index',
  sql: `
    CREATE INDEX events_seq ON events (location_id, seq);
  `,
};

/**
 * A tracked folder this host no longer backs up (`hoard dir remove`): the row stays, with
 * the time it was untracked, so its history is still restorable by its path.
 */
const untracked: Migration = {
  version: 9,
  name: 'untracked folders',
  sql: `
    ALTER TABLE directories ADD COLUMN removed_at TEXT;
  `,
};

/**
 * The condition of entries_hash's rows: a lookup by content id says it (with the table's
 * own name or alias before `ino` where needed), or SQLite does not search that index.
 */
export const NOT_BASE = 'ino >= 0';

/**
 * A base's rows (what a repository and a remote last agreed on, BASE_INO in repository.ts)
 * out of the lookup by content id: every such lookup names a location or leaves bases out,
 * and keeping 100,000 base rows in it was 1.5 s of the 6.2 s that settling the base after a
 * first push took. Rows kept before keep their place in it until their base is settled again.
 */
const entriesHashWithoutBases: Migration = {
  version: 11,
  name: 'entries by content without bases',
  sql: `
    DROP INDEX IF EXISTS entries_hash;
    CREATE INDEX entries_hash ON entries (hash) WHERE ${NOT_BASE};
  `,
};

/** entries_hash's key: twelve hex digits of a content id (after `sha256:`), not all 71 characters. */
const HASH_KEY = (column: string) => `substr(${column}, 8, 12)`;

/**
 * A lookup of entries by content id `value` (SQL) through entries_hash: its short key, then
 * the whole id. `column` as the query names it (`e.hash` under an alias).
 */
export function byContentId(value: string, column = 'hash'): string {
  return `${HASH_KEY(column)} = ${HASH_KEY(value)} AND ${column} = ${value}`;
}

/**
 * entries_hash keyed by twelve hex digits of the content id, not the whole id: a key of 12
 * characters, not 71, beside the row's own key. A first look of 100,000 files (a first push's
 * far state, a first add) inserts them in random order; into a state of 500,000 entries
 * that took 1.06 s and its commit 0.73 s, keyed so 0.48 s and 0.53 s. Lookups say it with
 * byContentId (the whole id is compared after).
 */
const entriesHashShort: Migration = {
  version: 12,
  name: 'entries by a short content key',
  sql: `
    DROP INDEX IF EXISTS entries_hash;
    CREATE INDEX entries_hash ON entries (${HASH_KEY('hash')}) WHERE ${NOT_BASE};
  `,
};

/** The schema of a repository's state database (a host's backup state uses the same). */
export const stateMigrations: readonly Migration[] = [hashCache, repositoryState, remotes, backup, packs, slimPacks, runMarks, lastEvent, untracked, hashCacheParts(10), entriesHashWithoutBases, entriesHashShort];
