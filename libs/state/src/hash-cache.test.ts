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

describe('HashCache', () => {
  it('returns a stored hash only for the exact same file state', () => {
    const { db } = tempDb();
    const cache = new HashCache(db, 'sha256');
    cache.store(key, 'sha256:aa00', later);
    cache.flush();
    expect(cache.lookupMany([key])).toEqual(['sha256:aa00']);
    expect(cache.lookupMany([{ ...key, size: 101 }, { ...key, mtimeMs: key.mtimeMs + 0.001 }, { ...key, ctimeMs: key.ctimeMs + 1 }, { ...key, ino: 43 }, { ...key, dev: 8 }])).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(new HashCache(db, 'xxh3').lookupMany([key])).toEqual([undefined]);
  });

  it('does not trust an entry hashed within the racy window of its mtime or ctime', () => {
    const { db } = tempDb();
    const cache = new HashCache(db, 'sha256');
    cache.store(key, 'sha256:bb00', key.ctimeMs + 10);
    cache.flush();
    expect(cache.lookupMany([key])).toEqual([undefined]);
    expect(isRacy(key, key.ctimeMs + RACY_WINDOW_MS - 1)).toBe(true);
    expect(isRacy(key, later)).toBe(false);
  });

  it('looks up many keys at once, across devices, in order', () => {
    const { db } = tempDb();
    const cache = new HashCache(db, 'sha256', 3);
    const keys = Array.from({ length: 10 }, (_, i) => ({ ...key, dev: i % 2, ino: i }));
    keys.forEach((k, i) => cache.store(k, `sha256:0${i}`, later));
    cache.flush();
    expect(cache.lookupMany([...keys].reverse())).toEqual(keys.map((_, i) => `sha256:0${i}`).reverse());
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
