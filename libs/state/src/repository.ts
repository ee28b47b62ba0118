import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { comparePaths, HoardError, LockedError, NoRepositoryError, UsageError } from '@hoard/schema';
import type Database from 'better-sqlite3';
import { openDatabase, writeTransaction, type Db } from './database.js';
import { findRepository, HOARD_DIR, STATE_FILE } from './locations.js';
import { byContentId, NOT_BASE, stateMigrations } from './migrations.js';

/** One location's last known file: what `entries` holds and events rebuild. */
export interface Entry {
  key: string;
  hash: string;
  size: number;
  mode: number;
  mtimeMs: number;
  ino: number;
}

/** A location's entries in key order, able to pass over a run of them at once. */
export interface EntryCursor extends IterableIterator<Entry> {
  /**
   * When the entries from key `from` through `through` are exactly `count` (the first and
   * last of them those keys) and none is left unread before them, pass over them all (the
   * first may have been read already) without reading them, and give their total size;
   * otherwise undefined, and nothing is passed over.
   */
  skipRun(from: string, through: string, count: number): { bytes: number } | undefined;
}

/** A blob inside a pack file: its content id and byte range. */
export interface PackedBlob {
  hash: string;
  offset: number;
  length: number;
}

export interface Location {
  id: number;
  name: string;
  /** local (this tree), repo (another repository), rclone, offline, base (internal: the last state agreed with a remote). */
  kind: string;
  url: string;
  layout: string;
  /** Per-location settings, e.g. { hoard: 'far side hoard command' }. */
  options: Record<string, string>;
}

/** A blob held in a location's store (objects, vault), outside any tree. */
export interface Copy {
  hash: string;
  size: number;
  verifiedAt: string;
}

/** A change to apply: what diff-state emits (and sync, later). */
export interface StateChange {
  op: 'add' | 'modify' | 'delete' | 'move' | 'unchanged';
  key: string;
  fromKey?: string;
  hash?: string;
  size?: number;
  mode?: number;
  mtimeMs?: number;
  ino?: number;
}

/** Run marks (first key -> [last key, fingerprint]) a scan made while its location's last event was `seq`. */
export interface ScanMarks {
  seq: number;
  marks: Map<string, [string, string]>;
}

/** Run marks less those whose run holds a key touched (binary search over their first keys). */
function keptMarks(marks: Map<string, [string, string]>): { touch(key: string): void; marks(): Map<string, [string, string]> } {
  const firsts = [...marks.keys()].sort(comparePaths);
  const dropped = new Set<string>();
  return {
    touch(key) {
      let lo = 0;
      let hi = firsts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (comparePaths(firsts[mid]!, key) <= 0) lo = mid + 1;
        else hi = mid;
      }
      const first = lo > 0 ? firsts[lo - 1]! : undefined;
      if (first !== undefined && comparePaths(key, marks.get(first)![0]) <= 0) dropped.add(first);
    },
    marks: () => (dropped.size ? new Map([...marks].filter(([first]) => !dropped.has(first))) : marks),
  };
}

/** A write transaction applying changes to one location (see Repository.beginChanges). */
export interface ChangeSession {
  apply(changes: Iterable<StateChange>): void;
  /**
   * Commit; with `scan`, also mark the scan that produced the changes as recorded. With
   * `marks`, the run marks of the scan whose changes these are outlive them (see
   * Repository.beginChanges). Returns events appended.
   */
  commit(scan?: { complete: boolean; files: number; errors: number; finishedAt?: string }, marks?: ScanMarks): number;
  abort(): void;
}

export interface EventRow {
  seq: number;
  time: string;
  location: string;
  op: 'add' | 'modify' | 'delete' | 'move';
  key: string;
  fromKey: string | null;
  hash: string | null;
  prevHash: string | null;
  size: number | null;
  mode: number | null;
  mtimeMs: number | null;
  ino: number | null;
  origin: 'user' | 'sync';
  scanId: number | null;
}

/** Whether a location records anything (its first look writes its entries from its events at once). */
const HAS_ENTRIES = 'SELECT 1 FROM entries WHERE location_id = ? LIMIT 1';
/** The last event of all (a first look's events are those after it). */
const LAST_EVENT = 'SELECT max(seq) FROM events';
/** A first look's entries: a location's add events after a given one, copied by SQLite. */
const FILL_ENTRIES =
  'INSERT INTO entries (location_id, key, hash, size, mode, mtime_ms, ino, seq) SELECT location_id, key, hash, size, mode, mtime_ms, ino, seq FROM events WHERE location_id = ? AND seq > ? ORDER BY seq';

/** Changes a session holds in memory before it spills them to a temporary table. */
const MEMORY_CHANGES = 200_000;

/** The name of a repository's own tree as a location. */
export const LOCAL = 'local';

/**
 * The inode number a base's rows carry (a base is what a repository and a remote last
 * agreed on; it names no file of its own): no file has it, and the lookup of entries by
 * content id (`entries_hash`, partial: NOT_BASE) leaves these rows out, as every query by
 * content id does.
 */
export const BASE_INO = -1;

/** The entries key of a record path: the path, or for a non-UTF-8 name the path, NUL and its bytes. */
export function entryKey(path: string, pathBytes?: string): string {
  return pathBytes === undefined ? path : `${path}\0${pathBytes}`;
}

/** The record path (and bytes) of an entries key. */
export function keyPath(key: string): { path: string; pathBytes?: string } {
  const nul = key.indexOf('\0');
  return nul === -1 ? { path: key } : { path: key.slice(0, nul), pathBytes: key.slice(nul + 1) };
}

/** The relative key of a blob in a vault's blobs/ or a staging folder: `sha256/ab/cd/<hex>` (a repository's own store uses storeKey). */
export function blobKey(hash: string): string {
  const [algo, hex] = contentIdParts(hash);
  return `${algo}/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
}

/** A content id's algorithm and hex digest; throws on anything else. */
function contentIdParts(hash: string): [algo: string, hex: string] {
  const m = /^([a-z0-9]+):([0-9a-f]{16,})$/.exec(hash);
  if (!m) throw new HoardError(`not a content id: ${hash}`, 'bad-input');
  return [m[1]!, m[2]!];
}

/**
 * A blob's name in a receiving staging folder on this machine: `<ab>/<hex>` from its key,
 * 256 folders made once each. (One flat folder made every file creation contend for one
 * directory and one inode group: twice the system time of a tree-shaped copy, measured.)
 */
export function stagedBlobName(key: string): string {
  const hex = key.slice(key.lastIndexOf('/') + 1);
  return `${hex.slice(0, 2)}/${hex}`;
}

/** The content id a blob key names, or undefined if it is not one. */
export function blobKeyHash(key: string): string | undefined {
  const m = /^([a-z0-9]+)\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{16,})$/.exec(key);
  if (!m || !m[4]!.startsWith(m[2]! + m[3]!)) return undefined;
  return `${m[1]}:${m[4]}`;
}

/**
 * A blob's place in a repository's own store (`.hoard/objects/`): `sha256/ab/<hex>`, one
 * level of 256 folders. (Vaults and staging keep blobKey's two levels.) A store fills a
 * folder per blob at first: with two levels that was a mkdir for nearly every blob of a
 * first push (49,000 folders for 90,000 blobs, most of integrate's time).
 */
export function storeKey(hash: string): string {
  const [algo, hex] = contentIdParts(hash);
  return `${algo}/${hex.slice(0, 2)}/${hex}`;
}

/** The content id a key in a repository's store names (either layout), or undefined. */
export function storeKeyHash(key: string): string | undefined {
  const m = /^([a-z0-9]+)\/([0-9a-f]{2})\/([0-9a-f]{16,})$/.exec(key);
  if (m && m[3]!.startsWith(m[2]!)) return `${m[1]}:${m[3]}`;
  return blobKeyHash(key);
}

/** SQL bounds selecting the keys under a folder: `under/` up to `under0` ('0' follows '/'). */
function underBounds(under: string): [string, string] {
  return under ? [`${under}/`, `${under}0`] : ['', '\u{10FFFF}'];
}

/**
 * A hoard repository: a folder with `.hoard/` holding the state database. All SQL that
 * tools need lives here, behind named methods.
 */
export class Repository {
  private constructor(
    readonly root: string,
    readonly db: Db,
  ) {}

  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  /** A prepared statement kept for reuse: for point queries tools make once per file (never for iteration). */
  private cached(sql: string): Database.Statement<unknown[]> {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare(sql)));
    return stmt;
  }

  /** The token of the lock this object holds (tools it runs may share it through HOARD_LOCK_TOKEN). */
  lockToken: string | undefined;

  get hoardDir(): string {
    return path.join(this.root, HOARD_DIR);
  }

  /** Create a repository in `dir`. Refuses one inside another unless `nested`. */
  static init(dir: string, options: { nested?: boolean } = {}): Repository {
    const root = path.resolve(dir);
    if (fs.existsSync(path.join(root, HOARD_DIR, STATE_FILE))) throw new UsageError(`${root} is already a hoard repository`);
    const outer = findRepository(path.dirname(root));
    if (outer && !options.nested) throw new UsageError(`${root} is inside the hoard repository ${outer}; use --nested to make one inside it anyway`);
    fs.mkdirSync(path.join(root, HOARD_DIR), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.join(root, HOARD_DIR), 0o700);
    const repo = new Repository(root, openDatabase(path.join(root, HOARD_DIR, STATE_FILE), stateMigrations));
    repo.db.transaction(() => {
      const now = new Date().toISOString();
      const setMeta = repo.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
      setMeta.run('id', crypto.randomUUID());
      setMeta.run('host', crypto.randomUUID());
      setMeta.run('algo', 'sha256');
      setMeta.run('created', now);
      repo.db.prepare("INSERT OR IGNORE INTO locations (name, kind, url, layout, created_at) VALUES (?, 'local', ?, 'tree', ?)").run(LOCAL, root, now);
    })();
    return repo;
  }

  /** Open the repository containing `from` (walking up). */
  static open(from = process.cwd()): Repository {
    const root = findRepository(from);
    if (!root) throw new NoRepositoryError(path.resolve(from));
    return new Repository(root, openDatabase(path.join(root, HOARD_DIR, STATE_FILE), stateMigrations));
  }

  close(): void {
    this.db.close();
  }

  meta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? undefined;
  }

  /** Remember a small value (workflows' bookkeeping) in the repository's meta table. */
  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  location(name: string): Location {
    const row = this.cached('SELECT id, name, kind, url, layout, options FROM locations WHERE name = ?').get(name) as (Location & { options: string }) | undefined;
    if (!row || row.kind === 'removed') throw new UsageError(`no location named "${name}" (see hoard remote list)`);
    return { ...row, options: JSON.parse(row.options) as Record<string, string> };
  }

  /** Every location a user named (not this tree, not internal ones), by name. */
  remotes(): Location[] {
    const rows = this.db.prepare("SELECT id, name, kind, url, layout, options FROM locations WHERE kind NOT IN ('local', 'base', 'removed') ORDER BY name").all() as Array<Location & { options: string }>;
    return rows.map((r) => ({ ...r, options: JSON.parse(r.options) as Record<string, string> }));
  }

  /** Register a location (a remote). Its name must be new. */
  addLocation(name: string, kind: string, url: string, layout = 'tree', options: Record<string, string> = {}): Location {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`location name "${name}" must be letters, digits, . _ - (not starting with a sign)`);
    if (name === LOCAL) throw new UsageError(`"${LOCAL}" is this repository's own name for its tree; choose another name`);
    try {
      this.db.prepare('INSERT INTO locations (name, kind, url, layout, options, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(name, kind, url, layout, JSON.stringify(options), new Date().toISOString());
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UsageError(`a location named "${name}" exists already`);
      throw err;
    }
    return this.location(name);
  }

  /**
   * Forget a remote: its entries, copies and sync base go; its events stay (the log is
   * append-only) under a renamed, removed location.
   */
  removeLocation(name: string): void {
    const loc = this.location(name);
    if (loc.kind === 'local') throw new UsageError('the repository\'s own tree cannot be removed');
    this.db.transaction(() => {
      const stamp = `${name}~removed-${Date.now()}`;
      for (const [id, newName] of [[loc.id, stamp], [this.findLocationId(`${name}@base`), `${stamp}@base`]] as const) {
        if (id === undefined) continue;
        this.db.prepare('DELETE FROM entries WHERE location_id = ?').run(id);
        this.db.prepare('DELETE FROM copies WHERE location_id = ?').run(id);
        this.db.prepare("UPDATE locations SET kind = 'removed', name = ? WHERE id = ?").run(newName, id);
      }
    }).immediate();
  }

  private findLocationId(name: string): number | undefined {
    return this.db.prepare('SELECT id FROM locations WHERE name = ?').pluck().get(name) as number | undefined;
  }

  /**
   * The state this repository and a remote last agreed on, per path: the base of the
   * three-way merge that push, pull and sync make (created empty on first use).
   */
  baseOf(remote: Location): Location {
    const name = `${remote.name}@base`;
    if (this.findLocationId(name) === undefined) {
      this.db.prepare("INSERT OR IGNORE INTO locations (name, kind, url, layout, created_at) VALUES (?, 'base', ?, 'tree', ?)").run(name, remote.url, new Date().toISOString());
    }
    return this.location(name);
  }

  /** One entry of a location, or undefined. */
  entry(locationId: number, key: string): Entry | undefined {
    return this.cached('SELECT key, hash, size, mode, mtime_ms AS mtimeMs, ino FROM entries WHERE location_id = ? AND key = ?').get(locationId, key) as Entry | undefined;
  }

  /** The entries of a location at these keys, for those it has (one query: stage asks for thousands at once). */
  entriesAt(locationId: number, keys: readonly string[]): Map<string, Entry> {
    const rows = this.cached(
      `SELECT e.key, e.hash, e.size, e.mode, e.mtime_ms AS mtimeMs, e.ino FROM (SELECT DISTINCT value FROM json_each(?)) j
       JOIN entries e ON e.location_id = ? AND e.key = j.value`,
    ).all(JSON.stringify(keys), locationId) as Entry[];
    return new Map(rows.map((e) => [e.key, e]));
  }

  /** Whether a location's event log has anything: without, it never held any path (a fresh remote, a base not yet agreed). */
  hasHistory(locationId: number): boolean {
    return this.cached('SELECT 1 FROM events WHERE location_id = ? LIMIT 1').get(locationId) !== undefined;
  }

  /** Whether this path of a location ever held this content (its event log says so). */
  hadVersion(locationId: number, key: string, hash: string): boolean {
    return this.cached('SELECT 1 FROM events WHERE location_id = ? AND key = ? AND hash = ? LIMIT 1').get(locationId, key, hash) !== undefined;
  }

  /** Whether this path of a location ever held anything (its event log says so). */
  hadPath(locationId: number, key: string): boolean {
    return this.cached('SELECT 1 FROM events WHERE location_id = ? AND key = ? LIMIT 1').get(locationId, key) !== undefined;
  }

  /** Which of these content ids a location holds (in its tree or store): one query per few thousand. */
  holdsMany(locationId: number, hashes: readonly string[]): Set<string> {
    const held = new Set<string>();
    // One pass over the list with a point lookup per place (twice as fast as a UNION of IN-lists).
    const query = this.cached(
      `SELECT value FROM json_each(@list) AS j
       WHERE EXISTS (SELECT 1 FROM packed WHERE location_id = @loc AND hash = j.value)
          OR EXISTS (SELECT 1 FROM copies WHERE hash = j.value AND location_id = @loc)
          OR EXISTS (SELECT 1 FROM entries WHERE ${byContentId('j.value')} AND ${NOT_BASE} AND location_id = @loc)`,
    ).pluck();
    for (let i = 0; i < hashes.length; i += 4096) for (const h of query.all({ loc: locationId, list: JSON.stringify(hashes.slice(i, i + 4096)) }) as string[]) held.add(h);
    return held;
  }

  /** Whether a location holds no content this state knows of (then nothing need be asked of it by content id). */
  holdsNothing(locationId: number): boolean {
    return !this.cached(
      `SELECT EXISTS (SELECT 1 FROM packed WHERE location_id = @loc) OR EXISTS (SELECT 1 FROM copies WHERE location_id = @loc)
          OR EXISTS (SELECT 1 FROM entries WHERE location_id = @loc AND ${NOT_BASE})`,
    )
      .pluck()
      .get({ loc: locationId });
  }

  /** Some entry holding this content in a location (a file to read it from). */
  entryWithContent(locationId: number, hash: string): Entry | undefined {
    return this.cached(`SELECT key, hash, size, mode, mtime_ms AS mtimeMs, ino FROM entries WHERE ${byContentId('@hash')} AND ${NOT_BASE} AND location_id = @loc LIMIT 1`).get({ hash, loc: locationId }) as Entry | undefined;
  }

  /** Record blobs as held, verified now, in a location's store. One transaction. */
  recordCopies(locationId: number, blobs: Iterable<{ hash: string; size: number }>, verifiedAt = new Date().toISOString()): void {
    const put = this.db.prepare('INSERT INTO copies (hash, location_id, verified_at, size) VALUES (?, ?, ?, ?) ON CONFLICT (hash, location_id) DO UPDATE SET verified_at = excluded.verified_at, size = excluded.size');
    this.db.transaction(() => {
      for (const b of [...blobs].sort((x, y) => (x.hash < y.hash ? -1 : x.hash > y.hash ? 1 : 0))) put.run(b.hash, locationId, verifiedAt, b.size);
    }).immediate();
  }

  /**
   * Record packs as held (verified now) by a location, and where in which pack each blob
   * lies; a blob already packed elsewhere now points at the newest pack. One transaction,
   * or part of the one already open.
   */
  recordPacks(locationId: number, packs: Iterable<{ id: string; blobs: Iterable<PackedBlob> }>, verifiedAt = new Date().toISOString()): void {
    const pack = this.cached('INSERT INTO packs (location_id, name, verified_at) VALUES (?, ?, ?) ON CONFLICT (location_id, name) DO UPDATE SET verified_at = excluded.verified_at RETURNING id').pluck();
    const put = this.cached(
      'INSERT INTO packed (location_id, hash, pack_id, offset, length) VALUES (?, ?, ?, ?, ?) ON CONFLICT (location_id, hash) DO UPDATE SET pack_id = excluded.pack_id, offset = excluded.offset, length = excluded.length',
    );
    // Joins a transaction already open (a backup's recorder holds one): never a savepoint.
    writeTransaction(this.db, () => {
      for (const p of packs) {
        const packId = pack.get(locationId, p.id, verifiedAt) as number;
        for (const b of p.blobs) put.run(locationId, b.hash, packId, b.offset, b.length);
      }
    });
  }

  /** Where each of these blobs lies in one of a location's packs, for those packed (one query: restores ask for thousands). */
  packedBlobs(locationId: number, hashes: readonly string[]): Map<string, PackedBlob & { pack: string }> {
    const rows = this.cached(
      `SELECT b.hash, k.name AS pack, b.offset, b.length FROM (SELECT DISTINCT value FROM json_each(?)) j
       JOIN packed b ON b.location_id = ? AND b.hash = j.value JOIN packs k ON k.id = b.pack_id`,
    ).all(JSON.stringify(hashes), locationId) as Array<PackedBlob & { pack: string }>;
    return new Map(rows.map((r) => [r.hash, r]));
  }

  /** The packs of a location this state knows the contents of. */
  knownPacks(locationId: number): Set<string> {
    return new Set(this.db.prepare('SELECT name FROM packs WHERE location_id = ?').pluck().all(locationId) as string[]);
  }

  /** The blobs of one pack (that no newer pack holds too), by offset. */
  packBlobs(locationId: number, pack: string): PackedBlob[] {
    return this.db
      .prepare('SELECT b.hash, b.offset, b.length FROM packed b JOIN packs k ON k.id = b.pack_id WHERE k.location_id = ? AND k.name = ? ORDER BY b.offset')
      .all(locationId, pack) as PackedBlob[];
  }

  /** Forget a pack that is gone: its blobs are no longer held unless packed elsewhere. */
  dropPack(locationId: number, pack: string): void {
    this.db.transaction(() => {
      const id = this.db.prepare('SELECT id FROM packs WHERE location_id = ? AND name = ?').pluck().get(locationId, pack) as number | undefined;
      if (id === undefined) return;
      this.db.prepare('DELETE FROM packed WHERE pack_id = ?').run(id);
      this.db.prepare('DELETE FROM packs WHERE id = ?').run(id);
    }).immediate();
  }

  /** Forget blobs a location's store no longer holds. */
  dropCopies(locationId: number, hashes: Iterable<string>): void {
    const del = this.db.prepare('DELETE FROM copies WHERE hash = ? AND location_id = ?');
    this.db.transaction(() => {
      // In key order: each page of the table is visited once, not once per random hash on it.
      for (const h of [...hashes].sort()) del.run(h, locationId);
    }).immediate();
  }

  /** The blobs a location's store holds, by hash. */
  *copies(locationId: number): IterableIterator<Copy> {
    yield* this.db.prepare('SELECT hash, size, verified_at AS verifiedAt FROM copies WHERE location_id = ? ORDER BY hash').iterate(locationId) as IterableIterator<Copy>;
  }

  /** Where a content id is: every location holding it in its tree or store, with when it was last seen or verified. */
  whereIs(hash: string): Array<{ location: string; key?: string; verifiedAt?: string }> {
    const inTrees = this.db
      .prepare(
        `SELECT l.name AS location, e.key AS key, (SELECT time FROM events WHERE seq = e.seq) AS verifiedAt FROM entries e JOIN locations l ON l.id = e.location_id
         WHERE ${byContentId('@hash', 'e.hash')} AND e.${NOT_BASE} AND l.kind NOT IN ('base', 'removed') ORDER BY l.name, e.key`,
      )
      .all({ hash }) as Array<{ location: string; key: string; verifiedAt: string }>;
    const inStores = this.db
      .prepare(
        `SELECT location, verifiedAt FROM (
           SELECT c.location_id, c.verified_at AS verifiedAt FROM copies c WHERE c.hash = @hash
           UNION ALL SELECT b.location_id, k.verified_at FROM packed b JOIN packs k ON k.id = b.pack_id WHERE b.location_id IN (SELECT id FROM locations) AND b.hash = @hash
         ) JOIN (SELECT id, name AS location FROM locations WHERE kind NOT IN ('base', 'removed')) ON id = location_id ORDER BY location`,
      )
      .all({ hash }) as Array<{ location: string; verifiedAt: string }>;
    return [...inTrees, ...inStores];
  }

  /**
   * Make a location's recorded state equal `entries` (in key order): what a remote was
   * seen to hold. Differences are appended to the log with origin `sync`. Returns events appended.
   */
  setState(locationId: number, entries: Iterable<Entry>): number {
    const session = this.beginChanges(locationId, { origin: 'sync' });
    // A second connection reads the current entries: this one may write (spill) meanwhile.
    const reader = Repository.open(this.root);
    try {
      const current = reader.entries(locationId);
      const changes: StateChange[] = [];
      const flush = () => {
        session.apply(changes);
        changes.length = 0;
      };
      let cur = current.next();
      for (const e of entries) {
        while (!cur.done && cur.value.key < e.key) {
          changes.push({ op: 'delete', key: cur.value.key });
          cur = current.next();
        }
        if (!cur.done && cur.value.key === e.key) {
          if (!sameEntry(cur.value, e)) changes.push({ op: 'modify', ...e });
          cur = current.next();
        } else changes.push({ op: 'add', ...e });
        if (changes.length >= 10_000) flush();
      }
      for (; !cur.done; cur = current.next()) changes.push({ op: 'delete', key: cur.value.key });
      flush();
      current.return?.();
      return session.commit();
    } catch (err) {
      session.abort();
      throw err;
    } finally {
      reader.close();
    }
  }

  /** Point a location elsewhere (or mark it offline): what it is known to hold stays. */
  setLocationUrl(name: string, kind: string, url: string): Location {
    const loc = this.location(name);
    this.db.prepare('UPDATE locations SET kind = ?, url = ? WHERE id = ?').run(kind, url, loc.id);
    return this.location(name);
  }

  /** Replace a location's settings (kept as JSON beside it). */
  setLocationOptions(locationId: number, options: Record<string, string>): void {
    this.db.prepare('UPDATE locations SET options = ? WHERE id = ?').run(JSON.stringify(options), locationId);
  }

  /**
   * A version of a location's recorded state: the last event appended for it, and the
   * number and newest verification of its stored blobs. Equal versions, equal state.
   */
  stateVersion(locationId: number): string {
    const seq = this.lastSeq(locationId);
    const blobs = this.cached('SELECT count(*) || \':\' || ifnull(max(verified_at), \'\') FROM copies WHERE location_id = ?').pluck().get(locationId) as string;
    const packs = this.cached('SELECT count(*) || \':\' || ifnull(max(id), 0) || \':\' || ifnull(max(verified_at), \'\') FROM packs WHERE location_id = ?').pluck().get(locationId) as string;
    return `${seq}:${blobs}:${packs}`;
  }

  /** The last event recorded for a location (0 when none). */
  lastSeq(locationId: number): number {
    return (this.cached('SELECT max(seq) FROM events WHERE location_id = ?').pluck().get(locationId) as number | null) ?? 0;
  }

  /** A location's run marks (first key -> [last key, fingerprint]), if still valid: recorded at its last event `seq`. */
  runMarks(locationId: number, seq: number): Map<string, [string, string]> {
    const row = this.cached('SELECT seq, marks FROM run_marks WHERE location_id = ?').get(locationId) as { seq: number; marks: string } | undefined;
    if (!row || row.seq !== seq) return new Map();
    try {
      return new Map(Object.entries(JSON.parse(row.marks) as Record<string, [string, string]>));
    } catch {
      return new Map();
    }
  }

  /**
   * Keep a location's run marks, made while its last event was `seq`: only if it still is
   * (nothing recorded meanwhile), and only if the database is free now (marks are a
   * shortcut; never worth waiting for a writer). Returns whether they were kept.
   */
  saveRunMarks(locationId: number, seq: number, marks: Map<string, [string, string]>): boolean {
    const timeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      return this.db
        .transaction(() => {
          if (this.lastSeq(locationId) !== seq) return false;
          this.putRunMarks(locationId, seq, marks);
          return true;
        })
        .immediate();
    } catch {
      return false;
    } finally {
      this.db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  private putRunMarks(locationId: number, seq: number, marks: Map<string, [string, string]>): void {
    this.cached('INSERT INTO run_marks (location_id, seq, marks) VALUES (?, ?, ?) ON CONFLICT (location_id) DO UPDATE SET seq = excluded.seq, marks = excluded.marks').run(
      locationId,
      seq,
      JSON.stringify(Object.fromEntries(marks)),
    );
  }

  /** Where this repository keeps a verified blob that is not (yet) a file of its tree. */
  objectPath(hash: string): string {
    return path.join(this.hoardDir, 'objects', storeKey(hash));
  }

  /** Where this repository's store holds a blob, if it does (stores written before storeKey keep blobKey's layout). */
  storedObject(hash: string): string | undefined {
    for (const file of [this.objectPath(hash), path.join(this.hoardDir, 'objects', blobKey(hash))]) if (fs.existsSync(file)) return file;
    return undefined;
  }

  stagingDir(transferId: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(transferId)) throw new UsageError(`transfer id "${transferId}" must be letters, digits, . _ -`);
    return path.join(this.hoardDir, 'staging', transferId);
  }

  get trashDir(): string {
    return path.join(this.hoardDir, 'trash');
  }

  /** Path of a file inside the repository, relative to its root, or throws. */
  relative(p: string): string {
    const rel = path.relative(this.root, path.resolve(p));
    if (rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) throw new UsageError(`${p} is outside the repository ${this.root}`);
    return rel;
  }

  /**
   * Take the repository's write lock; waits up to `waitMs`, then fails with who holds it.
   * A lock left by a process that no longer exists (killed) is taken over.
   */
  lock(command: string, waitMs = 30_000): () => void {
    const file = path.join(this.hoardDir, 'lock');
    const deadline = Date.now() + waitMs;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    // A workflow holding the lock hands its token to the tools it runs (git's way with hooks).
    const inherited = process.env.HOARD_LOCK_TOKEN;
    if (inherited && readLock(file)?.token === inherited) return () => {};
    const token = crypto.randomUUID();
    for (;;) {
      try {
        // Written whole under another name, then linked into place (fails if held): a process
        // killed at any instant never leaves a lock file that cannot say who held it.
        const tmp = `${file}.${process.pid}.${token.slice(0, 8)}`;
        fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), command, token }), { mode: 0o600 });
        try {
          fs.linkSync(tmp, file);
        } finally {
          fs.rmSync(tmp, { force: true });
        }
        this.lockToken = token;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          fs.rmSync(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readLock(file);
      if (!holder && lockAgeMs(file) > 5_000) {
        fs.rmSync(file, { force: true }); // an unreadable lock left by an older hoard killed while writing it
        continue;
      }
      if (holder && holder.host === os.hostname() && !processAlive(holder.pid)) {
        fs.rmSync(file, { force: true }); // its owner died (kill -9): the lock is stale
        continue;
      }
      if (Date.now() >= deadline) {
        const who = holder ? `pid ${holder.pid} (${holder.command}) on ${holder.host} since ${holder.since}` : 'another process';
        throw new LockedError(`repository ${this.root} is locked by ${who}`);
      }
      Atomics.wait(sleeper, 0, 0, 50);
    }
  }

  /** A location's entries in key order (= path order), streamed. */
  entries(locationId: number, under = ''): EntryCursor {
    // Pages of raw rows, not a row-by-row cursor: several times faster for long states, and
    // the connection is free to write between pages. A plain iterator, not a generator:
    // callers step through 100,000s of entries.
    const [lo, hi] = underBounds(under);
    const first = this.cached('SELECT key, hash, size, mode, mtime_ms, ino FROM entries WHERE location_id = ? AND key >= ? AND key < ? ORDER BY key LIMIT 4096').raw(true);
    const next = this.cached('SELECT key, hash, size, mode, mtime_ms, ino FROM entries WHERE location_id = ? AND key > ? AND key < ? ORDER BY key LIMIT 4096').raw(true);
    const rangeStats = (lower: string) =>
      this.cached(`SELECT count(*), min(key), max(key), ifnull(sum(size), 0) FROM entries WHERE location_id = ? AND key ${lower} ? AND key <= ? AND key >= ? AND key < ?`).raw(true);
    const runFrom = rangeStats('>=');
    const runAfter = rangeStats('>');
    type Row = [string, string, number, number, number, number];
    let rows = first.all(locationId, lo, hi) as Row[];
    let i = 0;
    /** The key of the last entry handed out (or passed over). */
    let returned: string | undefined;
    let more = rows.length === 4096;
    let after = rows.length ? rows[rows.length - 1]![0] : lo;
    const it: EntryCursor = {
      next(): IteratorResult<Entry> {
        if (i === rows.length) {
          if (!more) return { done: true, value: undefined };
          rows = next.all(locationId, after, hi) as Row[];
          i = 0;
          more = rows.length === 4096;
          if (!rows.length) return { done: true, value: undefined };
          after = rows[rows.length - 1]![0];
        }
        const r = rows[i++]!;
        returned = r[0];
        return { done: false, value: { key: r[0], hash: r[1], size: r[2], mode: r[3], mtimeMs: r[4], ino: r[5] } };
      },
      skipRun(from: string, through: string, count: number): { bytes: number } | undefined {
        let stats: [number, string | null, string | null, number];
        const start = returned === from ? i - 1 : i;
        if (start >= 0 && start < rows.length && rows[start]![0] === from) {
          // A run that ends inside the page read is counted there, without a query.
          let end = start;
          let bytes = 0;
          while (end < rows.length && comparePaths(rows[end]![0], through) <= 0) bytes += rows[end++]![2];
          if (end < rows.length || !more) {
            if (end - start !== count || rows[end - 1]![0] !== through) return undefined;
            i = end;
            returned = through;
            return { bytes };
          }
        }
        if (returned === from || (i < rows.length && rows[i]![0] === from)) stats = runFrom.get(locationId, from, through, lo, hi) as typeof stats;
        else if (i === rows.length && more && (returned === undefined || comparePaths(returned, from) < 0)) {
          // Nothing unread may come before the run: counted from past the page read, the
          // first key must be the run's own.
          stats = runAfter.get(locationId, after, through, lo, hi) as typeof stats;
        } else return undefined;
        const [n, min, max, bytes] = stats;
        if (n !== count || min !== from || max !== through) return undefined;
        while (i < rows.length && comparePaths(rows[i]![0], through) <= 0) i++;
        // Past the page read: the next page starts after the run, never reading it.
        if (i === rows.length && more && comparePaths(after, through) < 0) after = through;
        returned = through;
        return { bytes };
      },
      return(): IteratorResult<Entry> {
        rows = [];
        i = 0;
        more = false;
        return { done: true, value: undefined };
      },
      [Symbol.iterator]() {
        return it;
      },
    };
    return it;
  }

  /**
   * Other places the content is known to be: entries elsewhere, or verified copies. A sync
   * base is no place (it records what two sides last agreed on, and may keep content both have lost).
   */
  copiesOf(hash: string, exceptLocation: number, exceptKey: string): number {
    const entries = this.db
      .prepare(`SELECT count(*) FROM entries WHERE ${byContentId('@hash')} AND ${NOT_BASE} AND NOT (location_id = @loc AND key = @key) AND location_id IN (SELECT id FROM locations WHERE kind <> 'base')`)
      .pluck()
      .get({ hash, loc: exceptLocation, key: exceptKey }) as number;
    const copies = this.db.prepare('SELECT count(*) FROM copies WHERE hash = ?').pluck().get(hash) as number;
    // packed is keyed by (location, hash): naming the locations lets a lookup use that key.
    const packed = this.db.prepare('SELECT count(*) FROM packed WHERE location_id IN (SELECT id FROM locations) AND hash = ?').pluck().get(hash) as number;
    return entries + copies + packed;
  }

  beginScan(locationId: number, under: string, startedAt = new Date().toISOString()): number {
    return Number(this.db.prepare('INSERT INTO scans (location_id, under, started_at) VALUES (?, ?, ?)').run(locationId, under, startedAt).lastInsertRowid);
  }

  /**
   * Collect changes for a location, then apply them all in one write transaction.
   * `apply` only collects changes (in memory up to MEMORY_CHANGES, beyond that in a
   * temporary table: flat memory), and takes no write lock on the repository while
   * upstream tools are still running (they may need to write the hash cache); `commit` takes the write lock (BEGIN IMMEDIATE), updates entries,
   * appends one event per real change and records the scan. A change already reflected
   * in the state appends nothing, so applying the same changes twice is harmless. A
   * crash before COMMIT leaves the state as it was.
   */
  beginChanges(locationId: number, options: { origin?: 'user' | 'sync'; scan?: { under: string; startedAt?: string } } = {}): ChangeSession {
    const db = this.db;
    const origin = options.origin ?? 'user';
    const startedAt = options.scan?.startedAt ?? new Date().toISOString();
    db.exec('DROP TABLE IF EXISTS temp.staged_changes');
    db.exec(`CREATE TEMP TABLE staged_changes (n INTEGER PRIMARY KEY, op TEXT NOT NULL, key TEXT NOT NULL, from_key TEXT,
      hash TEXT, size INTEGER, mode INTEGER, mtime_ms REAL, ino INTEGER)`);
    const stage = db.prepare('INSERT INTO temp.staged_changes (op, key, from_key, hash, size, mode, mtime_ms, ino) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const spill = db.transaction((changes: StateChange[]) => {
      for (const c of changes) stage.run(c.op, c.key, c.fromKey ?? null, c.hash ?? null, c.size ?? null, c.mode ?? null, c.mtimeMs ?? null, c.ino ?? null);
    });
    let held: StateChange[] = [];
    let spilled = false;
    const stageAll = (changes: Iterable<StateChange>) => {
      for (const c of changes) if (c.op !== 'unchanged') held.push(c);
      if (held.length > MEMORY_CHANGES) {
        spill(held);
        held = [];
        spilled = true;
      }
    };
    const staged = db.prepare('SELECT op, key, from_key AS fromKey, hash, size, mode, mtime_ms AS mtimeMs, ino FROM temp.staged_changes WHERE n > ? ORDER BY n LIMIT 5000');
    const get = db.prepare('SELECT key, hash, size, mode, mtime_ms AS mtimeMs, ino FROM entries WHERE location_id = ? AND key = ?');
    // An upsert, not INSERT OR REPLACE: REPLACE costs twice as much on a table with indexes.
    const put = db.prepare(
      `INSERT INTO entries (location_id, key, hash, size, mode, mtime_ms, ino, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (location_id, key) DO UPDATE SET hash = excluded.hash, size = excluded.size, mode = excluded.mode, mtime_ms = excluded.mtime_ms, ino = excluded.ino, seq = excluded.seq`,
    );
    const del = db.prepare('DELETE FROM entries WHERE location_id = ? AND key = ?');
    const event = db.prepare(
      `INSERT INTO events (time, location_id, op, key, from_key, hash, prev_hash, size, mode, mtime_ms, ino, origin, scan_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const hasEntries = db.prepare(HAS_ENTRIES).pluck();
    const lastEvent = db.prepare(LAST_EVENT).pluck();
    const fillEntries = db.prepare(FILL_ENTRIES);
    const finishScan = db.prepare('UPDATE scans SET finished_at = ?, complete = ?, files = ?, errors = ?, recorded_at = ? WHERE id = ?');
    let done = false;

    const commit = (scan?: { complete: boolean; files: number; errors: number; finishedAt?: string }, marks?: ScanMarks): number => {
      const time = new Date().toISOString();
      let appended = 0;
      let scanId: number | null = null;
      const kept = marks && keptMarks(marks.marks);
      const append = (op: string, key: string, fromKey: string | null, now: Entry | undefined, prevHash: string | null): number => {
        appended++;
        kept?.touch(key);
        if (fromKey !== null) kept?.touch(fromKey);
        return Number(event.run(time, locationId, op, key, fromKey, now?.hash ?? null, prevHash, now?.size ?? null, now?.mode ?? null, now?.mtimeMs ?? null, now?.ino ?? null, origin, scanId).lastInsertRowid);
      };
      const store = (e: Entry, seq: number) => {
        put.run(locationId, e.key, e.hash, e.size, e.mode, e.mtimeMs, e.ino, seq);
      };
      const applyOne = (c: StateChange) => {
        const current = get.get(locationId, c.key) as Entry | undefined;
        if (c.op === 'delete') {
          if (!current) return;
          del.run(locationId, c.key);
          append('delete', c.key, null, undefined, current.hash);
          return;
        }
        const next = toEntry(c);
        if (c.op === 'move' && c.fromKey) {
          const source = get.get(locationId, c.fromKey) as Entry | undefined;
          if (source) {
            del.run(locationId, c.fromKey);
            store(next, append('move', c.key, c.fromKey, next, source.hash));
            return;
          }
          // The source is gone already: the move was applied before, or this is an add.
        }
        if (current && sameEntry(current, next)) return;
        store(next, append(current ? 'modify' : 'add', c.key, null, next, current?.hash ?? null));
      };
      writeTransaction(db, () => {
        const before = this.lastSeq(locationId);
        if (options.scan) scanId = this.beginScan(locationId, options.scan.under, startedAt);
        if (!spilled && firstLook(held) && !hasEntries.get(locationId)) {
          // A location that records nothing yet takes every change as an add (a first scan, a
          // remote's first state, a base's): its entries are the events just appended, copied
          // by SQLite, with no lookup and no insert of ours per file.
          const after = lastEvent.get() as number | null;
          for (const c of held) append('add', c.key, null, toEntry(c), null);
          fillEntries.run(locationId, after ?? 0);
          held = [];
        }
        for (let last = 0; spilled; ) {
          const rows = staged.all(last) as Array<StateChange & { fromKey: string | null }>;
          if (!rows.length) break;
          for (const row of rows) applyOne({ ...row, fromKey: row.fromKey ?? undefined });
          last += rows.length;
        }
        for (const c of held) applyOne(c);
        if (scanId !== null && scan) finishScan.run(scan.finishedAt ?? time, scan.complete ? 1 : 0, scan.files, scan.errors, time, scanId);
        // A scan marks only runs whose every file and entry matched, so its own changes fall
        // in none (a mark over a changed key is dropped all the same): its marks hold past
        // them, unless something else was recorded since the scan began (then they stay
        // void, as any marks do).
        if (kept && before === marks!.seq) this.putRunMarks(locationId, this.lastSeq(locationId), kept.marks());
      });
      done = true;
      held = [];
      db.exec('DROP TABLE IF EXISTS temp.staged_changes');
      return appended;
    };
    return {
      apply: (changes) => {
        if (done) throw new Error('change session already committed');
        stageAll(changes);
      },
      commit,
      abort: () => {
        done = true;
        db.exec('DROP TABLE IF EXISTS temp.staged_changes');
      },
    };
  }

  /**
   * A location that records nothing yet (a base before the first exchange settles) takes, as
   * its first look, every entry of `fromId` that `otherId` holds in the same version, its rows
   * carrying `ino`: the events (origin sync) and entries setState would write, in two
   * statements. Settling the base of a first push of 100,000 files through setState took
   * 1.2 s of reading both states, merging them and appending events one by one. Returns the
   * events appended, or undefined when the location records something already.
   */
  adoptAgreed(locationId: number, fromId: number, otherId: number, ino: number): number | undefined {
    return writeTransaction(this.db, () => {
      if (this.cached(HAS_ENTRIES).get(locationId) !== undefined) return undefined;
      const after = (this.cached(LAST_EVENT).pluck().get() as number | null) ?? 0;
      const appended = this.cached(
        `INSERT INTO events (time, location_id, op, key, from_key, hash, prev_hash, size, mode, mtime_ms, ino, origin, scan_id)
         SELECT @time, @loc, 'add', a.key, NULL, a.hash, NULL, a.size, a.mode, a.mtime_ms, @ino, 'sync', NULL
         FROM entries a JOIN entries b ON b.location_id = @other AND b.key = a.key
         WHERE a.location_id = @from AND ${sameVersionSql('a', 'b')} ORDER BY a.key`,
      ).run({ time: new Date().toISOString(), loc: locationId, ino, from: fromId, other: otherId }).changes;
      this.cached(FILL_ENTRIES).run(locationId, after);
      return appended;
    });
  }

  /** Apply a list of changes and commit (tests, small callers); `marks` as in ChangeSession.commit. */
  applyChanges(locationId: number, changes: Iterable<StateChange>, options: { origin?: 'user' | 'sync'; marks?: ScanMarks } = {}): number {
    const session = this.beginChanges(locationId, options);
    try {
      session.apply(changes);
      return session.commit(undefined, options.marks);
    } catch (err) {
      session.abort();
      throw err;
    }
  }

  /** The event log, oldest first, streamed. */
  *events(filter: { since?: number; location?: string; key?: string } = {}): IterableIterator<EventRow> {
    const where = ['e.seq > ?'];
    const args: unknown[] = [filter.since ?? 0];
    if (filter.location !== undefined) {
      where.push('l.name = ?');
      args.push(filter.location);
    }
    if (filter.key !== undefined) {
      where.push('(e.key = ? OR e.from_key = ?)');
      args.push(filter.key, filter.key);
    }
    const stmt = this.db.prepare(
      `SELECT e.seq, e.time, l.name AS location, e.op, e.key, e.from_key AS fromKey, e.hash, e.prev_hash AS prevHash, e.size, e.mode,
              e.mtime_ms AS mtimeMs, e.ino, e.origin, e.scan_id AS scanId
       FROM events e JOIN locations l ON l.id = e.location_id WHERE ${where.join(' AND ')} ORDER BY e.seq`,
    );
    yield* stmt.iterate(...args) as IterableIterator<EventRow>;
  }

  /**
   * Replay the whole event log into a temporary table `rebuilt_entries` (same shape as
   * entries), streaming: memory stays flat however long the log.
   */
  private replayLog(): void {
    this.db.exec('DROP TABLE IF EXISTS temp.rebuilt_entries');
    this.db.exec(`CREATE TEMP TABLE rebuilt_entries (location_id INTEGER NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL,
      mode INTEGER NOT NULL, mtime_ms REAL NOT NULL, ino INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (location_id, key)) WITHOUT ROWID`);
    const put = this.db.prepare('INSERT OR REPLACE INTO temp.rebuilt_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const del = this.db.prepare('DELETE FROM temp.rebuilt_entries WHERE location_id = ? AND key = ?');
    // better-sqlite3 cannot write while a statement on the same connection iterates: replay in chunks.
    let last = 0;
    const chunk = this.db.prepare('SELECT seq, location_id, op, key, from_key, hash, size, mode, mtime_ms, ino FROM events WHERE seq > ? ORDER BY seq LIMIT 10000').raw(true);
    for (;;) {
      const rows = chunk.all(last) as Array<[number, number, string, string, string | null, string, number, number, number, number]>;
      if (!rows.length) break;
      this.db.transaction(() => {
        for (const [seq, loc, op, key, fromKey, hash, size, mode, mtimeMs, ino] of rows) {
          if (op === 'delete') del.run(loc, key);
          else {
            if (op === 'move' && fromKey !== null) del.run(loc, fromKey);
            put.run(loc, key, hash, size, mode, mtimeMs, ino, seq);
          }
        }
      })();
      last = rows[rows.length - 1]![0];
    }
  }

  /** Differences between the cached state and the state rebuilt from the log (empty: they agree). */
  verifyState(limit = 100): Array<{ location: number; key: string; cached: Entry | null; rebuilt: Entry | null }> {
    this.replayLog();
    const cols = 'location_id, key, hash, size, mode, mtime_ms, ino, seq';
    const onlyCached = this.db.prepare(`SELECT ${cols} FROM main.entries EXCEPT SELECT ${cols} FROM temp.rebuilt_entries LIMIT ?`).raw(true).all(limit) as unknown[][];
    const onlyRebuilt = this.db.prepare(`SELECT ${cols} FROM temp.rebuilt_entries EXCEPT SELECT ${cols} FROM main.entries LIMIT ?`).raw(true).all(limit) as unknown[][];
    const asEntry = (r: unknown[]): Entry => ({ key: r[1] as string, hash: r[2] as string, size: r[3] as number, mode: r[4] as number, mtimeMs: r[5] as number, ino: r[6] as number });
    const diffs = new Map<string, { location: number; key: string; cached: Entry | null; rebuilt: Entry | null }>();
    for (const r of onlyCached) diffs.set(`${r[0]}\0${r[1]}`, { location: r[0] as number, key: r[1] as string, cached: asEntry(r), rebuilt: null });
    for (const r of onlyRebuilt) {
      const k = `${r[0]}\0${r[1]}`;
      const d = diffs.get(k);
      if (d) d.rebuilt = asEntry(r);
      else diffs.set(k, { location: r[0] as number, key: r[1] as string, cached: null, rebuilt: asEntry(r) });
    }
    this.db.exec('DROP TABLE temp.rebuilt_entries');
    return [...diffs.values()];
  }

  /** Replace the cached state by the state rebuilt from the log. Returns how many entries it holds. */
  rebuildState(): number {
    this.replayLog();
    let count = 0;
    this.db.transaction(() => {
      this.db.exec('DELETE FROM main.entries');
      this.db.exec('INSERT INTO main.entries SELECT * FROM temp.rebuilt_entries');
      count = this.db.prepare('SELECT count(*) FROM main.entries').pluck().get() as number;
    })();
    this.db.exec('DROP TABLE temp.rebuilt_entries');
    return count;
  }
}

/** Changes that are all adds, each of a different key (what a location recording nothing yet may take at once). */
function firstLook(changes: StateChange[]): boolean {
  if (!changes.length || changes.some((c) => c.op !== 'add')) return false;
  return new Set(changes.map((c) => c.key)).size === changes.length;
}

function toEntry(c: StateChange): Entry {
  if (c.hash === undefined || c.size === undefined || c.mode === undefined || c.mtimeMs === undefined) {
    throw new HoardError(`change "${c.op}" of ${c.key} lacks hash, size, mode or mtimeMs`, 'bad-input');
  }
  return { key: c.key, hash: c.hash, size: c.size, mode: c.mode, mtimeMs: c.mtimeMs, ino: c.ino ?? 0 };
}

/** Same version: content, permission bits and modification time (to the millisecond). */
export function sameVersion(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b) return a === b;
  return a.hash === b.hash && (a.mode & 0o7777) === (b.mode & 0o7777) && Math.abs(a.mtimeMs - b.mtimeMs) < 1;
}

/** sameVersion of two entries rows `a` and `b` that both exist, in SQL. */
function sameVersionSql(a: string, b: string): string {
  return `${a}.hash = ${b}.hash AND (${a}.mode & 4095) = (${b}.mode & 4095) AND abs(${a}.mtime_ms - ${b}.mtime_ms) < 1`;
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.hash === b.hash && a.size === b.size && a.mode === b.mode && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

function readLock(file: string): { pid: number; host: string; since: string; command: string; token?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined; // being written, or removed meanwhile
  }
}

function lockAgeMs(file: string): number {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? Date.now() - st.mtimeMs : 0;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
