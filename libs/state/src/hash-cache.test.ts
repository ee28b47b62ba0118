import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { HashCache, RACY_WINDOW_MS, isRacy } from './hash-cache.js';
import { cacheMigrations } from './migrations.js';

function tempDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-cache-'));
  const file = path.join(dir, 'sub', 'cache.db');
  return { file, db: openDatabase(file, cacheMigrations) };
}

const key = { dev: 7, ino: 42, size: 100, mtimeMs: 1_000_000.25, ctimeMs: 1_000_000.5 };
const later = 1_000_000.5 + RACY_WINDOW_MS + 1;
const id = (c: string) => `sha256:${c.repeat(64)}`;

describe('HashCache', () => {
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

  it('keeps the database private to its owner', () => {
    const { file } = tempDb();
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
  });
});

describe('migrations', () => {
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
