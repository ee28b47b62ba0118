import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository } from '@hoard/state';
import { stateAt, stateTotals } from './snapshots.js';

const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('a folder as it was at a time', () => {
  it('gives each path its newest version then, not deletions; the totals count exactly those', () => {
    const host = Repository.init(fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-snapshots-')));
    const dir = host.addLocation('dir-1', 'dir', '/data', 'tree');
    const snap = host.db.prepare(
      `INSERT INTO snapshots (location_id, key, hash, size, mode, uid, gid, atime_ms, mtime_ms, ctime_ms, birthtime_ms, created_at, backup_id, deleted)
       VALUES (?, ?, ?, ?, 33188, 0, 0, 0, 1000, 0, 0, ?, NULL, ?)`,
    );
    const t1 = '2026-01-01T00:00:00.000Z';
    const t2 = '2026-02-01T00:00:00.000Z';
    const t3 = '2026-03-01T00:00:00.000Z';
    snap.run(dir.id, 'a/x', H(1), 10, t1, 0);
    snap.run(dir.id, 'a/y', H(2), 20, t1, 0);
    snap.run(dir.id, 'b', H(3), 300, t1, 0);
    snap.run(dir.id, 'a/x', H(4), 40, t2, 0); // a new version
    snap.run(dir.id, 'a/y', H(2), 20, t2, 1); // deleted
    snap.run(dir.id, 'a/z', H(5), 5000, t3, 0); // later
    const seen = (under: string, at: string) => [...stateAt(host, dir.id, under, at)].map((s) => [s.key, s.size]);
    const cases: Array<[string, string, Array<[string, number]>]> = [
      ['', t1, [['a/x', 10], ['a/y', 20], ['b', 300]]],
      ['', t2, [['a/x', 40], ['b', 300]]],
      ['a', t3, [['a/x', 40], ['a/z', 5000]]],
      ['b', t3, [['b', 300]]],
      ['', '2025-12-31T00:00:00.000Z', []],
    ];
    for (const [under, at, want] of cases) {
      expect(seen(under, at), `${under || '(all)'} at ${at}`).toEqual(want);
      expect(stateTotals(host, dir.id, under, at), `${under || '(all)'} at ${at}`).toEqual({ files: want.length, bytes: want.reduce((n, [, size]) => n + size, 0) });
    }
  });
});
