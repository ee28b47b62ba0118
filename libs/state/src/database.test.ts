import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyDatabase, MMAP_FROM_BYTES, openDatabase, type Db } from './database.js';
import { tempDir } from '../../../test/support/trees.js';

const schema = [{ version: 1, name: 'rows', sql: 'CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL);' }];

describe('copyDatabase', () => {
  const open: Db[] = [];
  const track = (db: Db) => (open.push(db), db);
  afterEach(() => {
    for (const db of open.splice(0)) if (db.open) db.close();
  });

  /** A state whose last commits are still only in its write-ahead log. */
  function stateWithLog(dir: string): Db {
    const db = track(openDatabase(path.join(dir, 'state.db'), schema));
    db.pragma('wal_autocheckpoint = 0');
    const put = db.prepare('INSERT INTO rows (body) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) put.run(`row ${i} ${'x'.repeat(100)}`);
    })();
    expect(fs.statSync(path.join(dir, 'state.db-wal')).size).toBeGreaterThan(500_000);
    return db;
  }

  function rowsOf(file: string): { count: number; check: string } {
    const copy = track(openDatabase(file, schema));
    return { count: copy.prepare('SELECT count(*) FROM rows').pluck().get() as number, check: copy.pragma('integrity_check', { simple: true }) as string };
  }

  it('copies every committed row, those still in the log too, into a private file that stands alone', async () => {
    const dir = tempDir();
    const db = stateWithLog(dir);
    const file = path.join(tempDir(), 'copy.db');
    await copyDatabase(db, file);
    expect(fs.statSync(path.join(dir, 'state.db-wal')).size).toBe(0); // checkpointed, then the file copied
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    // The database file alone held none of them before the checkpoint: a plain file copy would have lost them all.
    expect(rowsOf(file)).toEqual({ count: 5000, check: 'ok' });
    // The source goes on as before.
    db.prepare('INSERT INTO rows (body) VALUES (?)').run('after');
    expect(db.prepare('SELECT count(*) FROM rows').pluck().get()).toBe(5001);
    expect(rowsOf(file).count).toBe(5000);
  });

  it('still copies everything while another connection reads from the log (the log cannot be emptied then)', async () => {
    const dir = tempDir();
    const db = stateWithLog(dir);
    const reader = track(openDatabase(path.join(dir, 'state.db'), schema));
    reader.exec('BEGIN');
    expect(reader.prepare('SELECT count(*) FROM rows').pluck().get()).toBe(5000);
    db.prepare('INSERT INTO rows (body) VALUES (?)').run('while read');
    const file = path.join(tempDir(), 'copy.db');
    await copyDatabase(db, file);
    expect(fs.statSync(path.join(dir, 'state.db-wal')).size).toBeGreaterThan(0); // copied page by page instead
    reader.exec('COMMIT');
    expect(rowsOf(file)).toEqual({ count: 5001, check: 'ok' });
  });
});

describe('openDatabase', () => {
  it('reads a state through a mapping only when it was large when opened', () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.db');
    const small = openDatabase(file, schema);
    expect(small.pragma('mmap_size', { simple: true })).toBe(0);
    const put = small.prepare('INSERT INTO rows (body) VALUES (?)');
    small.transaction(() => {
      for (let i = 0; i < 6; i++) put.run('x'.repeat(256 * 1024));
    })();
    small.pragma('wal_checkpoint(TRUNCATE)');
    small.close();
    expect(fs.statSync(file).size).toBeGreaterThanOrEqual(MMAP_FROM_BYTES);
    const large = openDatabase(file, schema);
    expect(large.pragma('mmap_size', { simple: true })).toBeGreaterThanOrEqual(MMAP_FROM_BYTES);
    large.close();
  });
});
