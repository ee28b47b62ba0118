import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository } from '@hoard/state';
import { IDLE_COMMIT_MS } from './recorder-protocol.js';
import { Recorder, type Addition } from './recorder.js';
import { INSERT_SNAPSHOT } from './snapshots.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-recorder-'));
const hashOf = (i: number) => `sha256:${crypto.createHash('sha256').update(String(i)).digest('hex')}`;

/** A host's state with a folder and a vault, and a backup run to tie snapshots to. */
function setup() {
  const host = Repository.init(tempDir(), { nested: true });
  const dir = host.addLocation('dir-1', 'dir', '/data', 'tree');
  const vault = host.addLocation('vault', 'rclone', 'rclone:/vault', 'blobs');
  const backupId = Number(host.db.prepare("INSERT INTO backups (host, started_at) VALUES ('h', '2026-01-01T00:00:00Z')").run().lastInsertRowid);
  // Any wait for a lock fails at once: a write through this connection must never need one.
  host.db.pragma('busy_timeout = 0');
  return { host, dir, vault, backupId };
}

const additions = (from: number, n: number, prefix = 'f'): Addition[] =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    // Hostile keys travel as they are: a newline, quotes, a non-UTF-8 name's key (path, NUL, bytes).
    const key = i % 7 === 0 ? `${prefix}${i}\n"$(x)"` : i % 11 === 0 ? `${prefix}${i}\0${Buffer.from([0xff, i & 0xff]).toString('base64')}` : `${prefix}${i}`;
    return { key, hash: hashOf(i), size: 100 + i, mode: 0o100644, uid: 1000, gid: 1000, atimeMs: 1e12 + i, mtimeMs: 1.5e12 + i + 0.25, ctimeMs: 1.6e12 + i, birthtimeMs: 1.4e12 + i, ino: 5000 + i };
  });

const packOf = (list: Addition[], id: string) => ({ id, blobs: list.map((a, k) => ({ hash: a.hash, offset: k * 1000, length: a.size })) });
const count = (host: Repository, table: string) => host.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('Recorder', () => {
  it('records packs and first versions on its own thread exactly as the backup would record them itself', async () => {
    const a = setup();
    const list = additions(0, 300);
    const seqs: Array<[number, number]> = [];
    const recorder = new Recorder(a.host.root, { onRecorded: (r) => seqs.push([r.before, r.after]) });
    try {
      recorder.packs(a.vault.id, [packOf(list.slice(0, 200), 'p1'), packOf(list.slice(200), 'p2')]);
      recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', list.slice(0, 120));
      recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', list.slice(120));
      await recorder.close();
    } finally {
      await recorder.abort();
    }
    // The location's last event followed batch by batch: a scan's run marks can follow them.
    expect(seqs).toEqual([
      [0, 120],
      [120, 300],
    ]);

    // The same recorded by the backup's own connection, the way it records without a recorder.
    const b = setup();
    b.host.recordPacks(b.vault.id, [packOf(list.slice(0, 200), 'p1'), packOf(list.slice(200), 'p2')]);
    const snap = b.host.db.prepare(INSERT_SNAPSHOT);
    for (const x of list) snap.run(b.dir.id, x.key, x.hash, x.size, x.mode, x.uid, x.gid, x.atimeMs, x.mtimeMs, x.ctimeMs, x.birthtimeMs, '2026-01-02T00:00:00Z', b.backupId, 0);
    b.host.applyChanges(b.dir.id, list.map((x) => ({ op: 'add' as const, key: x.key, hash: x.hash, size: x.size, mode: x.mode, mtimeMs: x.mtimeMs, ino: x.ino })));

    const rows = (host: Repository, sql: string) => host.db.prepare(sql).raw(true).all();
    for (const sql of [
      'SELECT location_id, key, hash, size, mode, uid, gid, atime_ms, mtime_ms, ctime_ms, birthtime_ms, created_at, backup_id, deleted FROM snapshots ORDER BY id',
      'SELECT seq, location_id, op, key, from_key, hash, prev_hash, size, mode, mtime_ms, ino, origin FROM events ORDER BY seq',
      'SELECT * FROM entries ORDER BY location_id, key',
      'SELECT location_id, hash, offset, length, (SELECT name FROM packs k WHERE k.id = pack_id) FROM packed ORDER BY hash',
    ]) {
      const got = rows(a.host, sql);
      expect(got).toHaveLength(300);
      expect(got).toEqual(rows(b.host, sql));
    }
    expect(a.host.verifyState()).toEqual([]);
    a.host.close();
    b.host.close();
  }, 30_000);

  it('lets the backup write through its own connection inside exclusive, holding back what is posted meanwhile', async () => {
    const a = setup();
    const list = additions(0, 50);
    const recorder = new Recorder(a.host.root);
    try {
      recorder.packs(a.vault.id, [packOf(list, 'p1')]);
      recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', list);
      const later = additions(50, 10);
      await recorder.exclusive(async () => {
        // Everything posted before is committed.
        expect(count(a.host, 'snapshots')).toBe(50);
        expect(recorder.writing).toBe(false);
        // Posted now, it waits: sent at once, the recorder would hold the write lock for a
        // while (IDLE_COMMIT_MS) and these writes would fail (busy_timeout 0).
        recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', later);
        await new Promise((r) => setTimeout(r, IDLE_COMMIT_MS / 3));
        a.host.recordPacks(a.vault.id, [packOf(later, 'p2')]);
        a.host.db.prepare("UPDATE backups SET finished_at = 'x' WHERE id = ?").run(a.backupId);
        expect(count(a.host, 'snapshots')).toBe(50);
      });
      expect(recorder.writing).toBe(true);
      // What was held back went after: recorded once the recorder is released.
      await recorder.release();
      expect(count(a.host, 'snapshots')).toBe(60);
      expect(count(a.host, 'packed')).toBe(60);
      await recorder.close();
    } finally {
      await recorder.abort();
    }
    expect(a.host.verifyState()).toEqual([]);
    a.host.close();
  }, 30_000);

  it('commits by itself once nothing comes for a moment: another writer never waits for a release', async () => {
    const a = setup();
    const list = additions(0, 20);
    const recorder = new Recorder(a.host.root);
    try {
      recorder.packs(a.vault.id, [packOf(list, 'p1')]);
      recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', list);
      const until = Date.now() + 10_000;
      while (count(a.host, 'snapshots') < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, IDLE_COMMIT_MS));
      expect(count(a.host, 'snapshots')).toBe(20);
      // The write lock is free: this connection takes it without waiting (busy_timeout 0).
      expect(() => a.host.db.prepare("UPDATE backups SET finished_at = 'x' WHERE id = ?").run(a.backupId)).not.toThrow();
      await recorder.close();
    } finally {
      await recorder.abort();
    }
    a.host.close();
  }, 30_000);

  it('fails whole: what its open transaction held is rolled back, and the failure reaches the backup at release and close', async () => {
    const a = setup();
    const first = additions(0, 10);
    const recorder = new Recorder(a.host.root);
    try {
      recorder.packs(a.vault.id, [packOf(first, 'p1')]);
      recorder.additions(a.dir.id, a.backupId, '2026-01-02T00:00:00Z', first);
      await recorder.release();
      const second = additions(10, 10);
      recorder.packs(a.vault.id, [packOf(second, 'p2')]);
      // A location that does not exist: the snapshot row breaks its foreign key.
      recorder.additions(9999, a.backupId, '2026-01-02T00:00:00Z', second);
      await expect(recorder.release()).rejects.toThrow(/^recording the backup failed: FOREIGN KEY constraint failed$/);
      expect(recorder.writing).toBe(false);
      await expect(recorder.close()).rejects.toThrow(/recording the backup failed/);
    } finally {
      await recorder.abort();
    }
    // The first release's rows stay; the failed transaction's pack went with it.
    expect(count(a.host, 'snapshots')).toBe(10);
    expect(a.host.db.prepare('SELECT name FROM packs ORDER BY name').pluck().all()).toEqual(['p1']);
    expect(count(a.host, 'packed')).toBe(10);
    a.host.close();
  }, 30_000);
});
