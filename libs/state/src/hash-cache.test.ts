import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { HashCache, RACY_WINDOW_MS, isRacy } from './hash-cache.js';
import { cacheMigrations } from './migrations.js';

/** One stored entry as the hash cache lays it out: ino, dev, size, mtime, ctime, verified at, digest. */
function entryBytes(k: typeof key, verifiedAtMs: number, c: string): Buffer {
  const b = Buffer.alloc(48 + 32);
  [k.ino, k.dev, k.size, k.mtimeMs, k.ctimeMs, verifiedAtMs].forEach((v, i) => b.writeDoubleLE(v, i * 8));
  Buffer.from(c.repeat(64), 'hex').copy(b, 48);
  return b;
}

function tempDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-cache-'));
  const file = path.join(dir, 'sub', 'cache.db');
  return { file, db: openDatabase(file, cacheMigrations) };
}

const key = { dev: 7, ino: 42, size: 100, mtimeMs: 1_000_000.25, ctimeMs: 1_000_000.5 };
const later = 1_000_000.5 + RACY_WINDOW_MS + 1;
const id = (c: string) => `sha256:${c.repeat(64)}`;

describe('HashCache', () => {
  it('opened empty, asks the database only for folders it wrote itself: what another wrote meanwhile is a miss (rehashed)', () => {
    const { db, file } = tempDb();
    const first = new HashCache(db, 'sha256', 16384, 0); // nothing kept in memory: found in the database or not at all
    const other = new HashCache(openDatabase(file, cacheMigrations), 'sha256');
    other.store('/o', key, id('b'), later);
    other.flush();
    first.store('/d', key, id('a'), later);
    first.flush();
    expect(first.lookupMany([{ dir: '/d', key }, { dir: '/o', key }])).toEqual([id('a'), undefined]);
    // Opened with rows there, a cache reads them.
    expect(new HashCache(openDatabase(file, cacheMigrations), 'sha256').lookupMany([{ dir: '/d', key }, { dir: '/o', key }])).toEqual([id('a'), id('b')]);
  });

  it('returns a stored hash only for the exact same file state, from a fresh process too', () => {
    const { db, file } = tempDb();
    const cache = new HashCache(db, 'sha256');
    cache.store('/d', key, id('a'), later);
    expect(cache.lookupMany([{ dir: '/d', key }])).toEqual([id('a')]); // before it is written
    cache.flush();
    db.close();
    const reopened = new HashCache(openDatabase(file, cacheMigrations), 'sha256');
    expect(reopened.lookupMany([{ dir: '/d', key }])).toEqual([id('a')]);
    const changed = [{ ...key, size: 101 }, { ...key, mtimeMs: key.mtimeMs + 0.001 }, { ...key, ctimeMs: key.ctimeMs + 1 }, { ...key, ino: 43 }, { ...key, dev: 8 }];
    expect(reopened.lookupMany(changed.map((k) => ({ dir: '/d', key: k })))).toEqual(changed.map(() => undefined));
    expect(reopened.lookupMany([{ dir: '/elsewhere', key }])).toEqual([undefined]);
    expect(new HashCache(openDatabase(file, cacheMigrations), 'blake3').lookupMany([{ dir: '/d', key }])).toEqual([undefined]);
  });

  it('writes each digest from its content id exactly, and refuses an id that is not one rather than keep part of it', () => {
    const { db, file } = tempDb();
    const cache = new HashCache(db, 'sha256');
    const digest = '0123456789abcdef'.repeat(4);
    cache.store('/d', key, `sha256:${digest}`, later);
    cache.flush();
    const [, , entries] = db.prepare('SELECT dir, part, entries FROM hash_cache').raw(true).get() as [string, number, Buffer];
    expect(entries.toString('hex', 48)).toBe(digest);
    expect(new HashCache(openDatabase(file, cacheMigrations), 'sha256').lookupMany([{ dir: '/d', key }])).toEqual([`sha256:${digest}`]);
    for (const bad of [`sha256:${digest.slice(0, 40)}zz`, `sha256:${digest}ff`, `sha256:${digest.slice(2)}`, `blake3:${digest}`]) {
      cache.store('/e', key, bad, later);
      expect(() => cache.flush(), bad).toThrow(/not a sha256 content id/);
    }
    expect(new HashCache(openDatabase(file, cacheMigrations), 'sha256').lookupMany([{ dir: '/e', key }])).toEqual([undefined]);
  });

  it('does not trust an entry hashed within the racy window of its mtime or ctime', () => {
    const { db } = tempDb();
    const cache = new HashCache(db, 'sha256');
    cache.store('/d', key, id('b'), key.ctimeMs + 10);
    cache.flush();
    expect(cache.lookupMany([{ dir: '/d', key }])).toEqual([undefined]);
    expect(isRacy(key, key.ctimeMs + RACY_WINDOW_MS - 1)).toBe(true);
    expect(isRacy(key, later)).toBe(false);
  });

  it('merges new entries into a folder, across batches and a small memory bound, in order', () => {
    const { db, file } = tempDb();
    const cache = new HashCache(db, 'xxh3', 3, 4);
    const items = Array.from({ length: 20 }, (_, i) => ({ dir: `/d${i % 3}`, key: { ...key, dev: i % 2, ino: i } }));
    items.forEach((item, i) => cache.store(item.dir, item.key, `xxh3:${String(i).padStart(16, '0')}`, later));
    cache.flush();
    const fresh = new HashCache(openDatabase(file, cacheMigrations), 'xxh3', 3, 4);
    expect(fresh.lookupMany([...items].reverse())).toEqual(items.map((_, i) => `xxh3:${String(i).padStart(16, '0')}`).reverse());
    // A rewritten file replaces its entry; its neighbours stay.
    fresh.store('/d0', { ...items[0]!.key, size: 5 }, `xxh3:${'f'.repeat(16)}`, later);
    fresh.flush();
    expect(fresh.lookupMany([{ dir: '/d0', key: { ...items[0]!.key, size: 5 } }, items[3]!])).toEqual([`xxh3:${'f'.repeat(16)}`, `xxh3:${'3'.padStart(16, '0')}`]);
  });

  it('adds new entries as a part of their own, and merges a folder found in several parts back into one', () => {
    const { db, file } = tempDb();
    const hex = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;
    const files = Array.from({ length: 50 }, (_, i) => ({ ...key, ino: 1000 + ((i * 37) % 50) }));
    const first = new HashCache(db, 'sha256');
    files.forEach((k, i) => first.store('/big', k, hex(i), later));
    first.flush();
    const parts = () => db.prepare("SELECT part, length(entries) AS bytes FROM hash_cache WHERE dir = '/big' ORDER BY part").all() as Array<{ part: number; bytes: number }>;
    expect(parts()).toEqual([{ part: 0, bytes: 50 * 80 }]);
    // Three later runs each rehash one file: each adds a part of 80 bytes, the 4 KB part stays as it was.
    for (let run = 1; run <= 3; run++) {
      const cache = new HashCache(db, 'sha256');
      expect(cache.lookupMany([{ dir: '/big', key: files[run]! }])).toEqual([hex(run)]);
      cache.store('/big', { ...files[run]!, size: 7 }, hex(100 + run), later);
      cache.flush();
    }
    expect(parts()).toEqual([{ part: 0, bytes: 4000 }, { part: 1, bytes: 80 }, { part: 2, bytes: 80 }, { part: 3, bytes: 80 }]);
    // Newer parts win; the rest still answers from part 0, in a fresh process too.
    const reader = new HashCache(openDatabase(file, cacheMigrations), 'sha256');
    const asked = [files[0]!, { ...files[1]!, size: 7 }, files[1]!, { ...files[3]!, size: 7 }, files[49]!];
    expect(reader.lookupMany(asked.map((k) => ({ dir: '/big', key: k })))).toEqual([hex(0), hex(101), undefined, hex(103), hex(49)]);
    // That look found four parts: the next write merges them into one, every entry kept.
    reader.store('/big', { ...files[4]!, size: 7 }, hex(104), later);
    reader.flush();
    expect(parts()).toEqual([{ part: 0, bytes: 4000 }]);
    const merged = new HashCache(openDatabase(file, cacheMigrations), 'sha256');
    expect(merged.lookupMany([...asked, { ...files[4]!, size: 7 }].map((k) => ({ dir: '/big', key: k })))).toEqual([hex(0), hex(101), undefined, hex(103), hex(49), hex(104)]);
  });

  it('keeps the database private to its owner', () => {
    const { file } = tempDb();
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
  });
});

describe('migrations', () => {
  it('carry a hash cache of one row per folder over into parts, every entry kept', () => {
    const { file, db } = tempDb();
    db.close();
    fs.rmSync(file);
    const old = openDatabase(file, cacheMigrations.slice(0, 1));
    // Written as the old schema wants it: one row per folder (a byte copy of what the class encodes).
    // Not sorted by inode, as older hoards wrote them.
    const keys = [{ ...key, ino: 50 }, key, { ...key, ino: 7 }];
    const row = Buffer.concat(keys.map((k, i) => entryBytes(k, later, 'cde'[i]!)));
    old.prepare('INSERT INTO hash_cache (algo, dir, entries) VALUES (?, ?, ?)').run('sha256', '/d', row);
    old.close();
    const now = openDatabase(file, cacheMigrations);
    expect(now.prepare('SELECT dir, part FROM hash_cache').all()).toEqual([{ dir: '/d', part: 0 }]);
    const cache = new HashCache(now, 'sha256');
    expect(cache.lookupMany(keys.map((k) => ({ dir: '/d', key: k })))).toEqual([id('c'), id('d'), id('e')]);
    // Found unsorted, it is merged into one sorted part when next written.
    cache.store('/d', { ...key, ino: 7, size: 1 }, id('f'), later);
    cache.flush();
    const stored = now.prepare('SELECT part, entries FROM hash_cache').all() as Array<{ part: number; entries: Buffer }>;
    expect(stored.map((r) => [r.part, [0, 1, 2].map((i) => r.entries.readDoubleLE(i * 80))])).toEqual([[0, [7, 42, 50]]]);
    expect(new HashCache(now, 'sha256').lookupMany([{ ...key, ino: 7, size: 1 }, key].map((k) => ({ dir: '/d', key: k })))).toEqual([id('f'), id('d')]);
  });


  it('are applied once and refuse a database from a newer hoard', () => {
    const { file, db } = tempDb();
    expect(db.pragma('user_version', { simple: true })).toBe(cacheMigrations.length);
    db.close();
    const again = openDatabase(file, cacheMigrations);
    expect(again.pragma('user_version', { simple: true })).toBe(cacheMigrations.length);
    again.pragma('user_version = 99');
    again.close();
    expect(() => openDatabase(file, cacheMigrations)).toThrow(/newer than this hoard/);
  });
});
