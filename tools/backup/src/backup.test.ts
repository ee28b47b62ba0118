import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureConfig, openHost } from '@hoard/state';
import { PACK_MAX_BLOB } from '@hoard/backup';
import { treeSnapshot } from '../../../test/support/compare.js';
import { tempDir } from '../../../test/support/trees.js';
import { runBackup } from './backup.js';

function write(file: string, data: Buffer): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return data;
}

/** A host of its own: config, state, cache and default vault under a new folder. */
function hostHome(): string {
  const home = tempDir('hoard-backup-');
  process.env.XDG_CONFIG_HOME = path.join(home, 'config');
  process.env.XDG_DATA_HOME = path.join(home, 'data');
  process.env.XDG_CACHE_HOME = path.join(home, 'cache');
  return home;
}

describe('runBackup', () => {
  it('records a first look as it goes, a batch at a time, each file once with its content; another folder keeps its run marks', async () => {
    const home = hostHome();
    const a = path.join(home, 'a');
    const b = path.join(home, 'b');
    const known = Array.from({ length: 40 }, (_, i) => write(path.join(a, i < 20 ? 'x' : 'y', `k${i}`), crypto.randomBytes(500 + i)));
    // b, in scan order: content the vault will already hold (recorded as soon as enough is
    // held), big files (each sent on its own), new small files (on their way into a pack
    // until the scan ends), then copies of all three kinds.
    known.forEach((data, i) => write(path.join(b, '1-held', `h${String(i).padStart(2, '0')}`), data));
    // One sent during the scan under a hostile name: nothing in it may run.
    const bigNames = ['big0', `-f $(touch pwned) 'q"\nbig1`, 'big2'];
    const big = bigNames.map((name, i) => write(path.join(b, '2-big', name), crypto.randomBytes(PACK_MAX_BLOB + 1000 + i)));
    const fresh = Array.from({ length: 30 }, (_, i) => write(path.join(b, '3-new', `n${String(i).padStart(2, '0')}`), crypto.randomBytes(700 + i)));
    write(path.join(b, '4-copies', 'big0'), big[0]!);
    write(path.join(b, '4-copies', 'held0'), known[0]!);
    write(path.join(b, '4-copies', 'new0'), fresh[0]!);
    await new Promise((r) => setTimeout(r, 2100)); // past the racy window: a's cached hashes are trusted, its runs can be marked

    const config = ensureConfig();
    const host = openHost();
    try {
      await runBackup(host, config, { all: false, dirs: [a] });
      await runBackup(host, config, { all: true, dirs: [] }); // proves a's runs unchanged and marks them
      // An edit to content the vault holds: one change, fewer than a record takes, so it waits for the end (with a's marks).
      write(path.join(a, 'y', 'k39'), known[1]!);
      const recorded: number[] = [];
      const phases: string[] = [];
      const summary = await runBackup(host, config, { all: true, dirs: [b], recordEvery: 10, onRecorded: (n) => recorded.push(n), onPhase: (p) => phases.push(p) });

      const files = Object.entries(treeSnapshot(b)).map(([name, f]): [string, string] => [Buffer.from(name, 'base64').toString(), `sha256:${f.sha256}`]);
      expect(files).toHaveLength(76);
      // b recorded during its scan, more than once, and the rest at the end with a's edit: every change once.
      expect(recorded.length).toBeGreaterThan(2);
      expect(recorded.reduce((n, r) => n + r, 0)).toBe(files.length + 1);
      expect(recorded.at(-1)!).toBeLessThan(files.length - 40);
      // The progress line says so, then goes back to counting the scan.
      expect(phases.slice(phases.indexOf('scanning') - 1, phases.indexOf('scanning') + 1)).toEqual(['recording', 'scanning']);
      expect(phases.slice(-2)).toEqual(['recording', 'uploading']);
      // New content counted and sent once, whichever record found its copies.
      expect(summary).toMatchObject({ files: 116, newFiles: 33, sentFiles: 33, errors: 0 });
      expect(summary.sentBytes).toBe([...big, ...fresh].reduce((n, d) => n + d.length, 0));
      expect(Object.keys(treeSnapshot(path.join(home, 'data', 'hoard', 'vault', 'blobs')))).toHaveLength(3);

      // The state holds every file with the content it has, and one version each.
      const locationOf = (dir: string) => host.db.prepare('SELECT location_id FROM directories WHERE path = ?').pluck().get(dir) as number;
      const entries = new Map((host.db.prepare('SELECT key, hash FROM entries WHERE location_id = ?').all(locationOf(b)) as Array<{ key: string; hash: string }>).map((e) => [e.key, e.hash]));
      expect(new Map(files)).toEqual(entries);
      expect(host.db.prepare('SELECT count(*) FROM snapshots WHERE location_id = ?').pluck().get(locationOf(b))).toBe(76);
      // a's changes waited for the end, recorded with the marks its scan proved: still valid.
      const marks = host.db.prepare('SELECT seq, marks, (SELECT max(seq) FROM events e WHERE e.location_id = r.location_id) AS last FROM run_marks r WHERE location_id = ?').get(locationOf(a)) as { seq: number; marks: string; last: number };
      expect(marks.seq).toBe(marks.last);
      expect(Object.keys(JSON.parse(marks.marks) as object)).toEqual(['x/k0']);

      expect(fs.readdirSync(home).filter((n) => n.includes('pwned'))).toEqual([]);
      for (const where of [path.join(b, '2-big'), process.cwd()]) expect(fs.existsSync(path.join(where, 'pwned'))).toBe(false);

      const again = await runBackup(host, config, { all: true, dirs: [] });
      expect(again).toMatchObject({ newFiles: 0, sentFiles: 0, errors: 0 });
    } finally {
      host.close();
    }
  }, 60_000);

  it("records a later look's modifications as it goes, additions and deletions at the end, its run marks following its own records", async () => {
    const home = hostHome();
    const c = path.join(home, 'c');
    // Enough files that the scan hands them on in several batches (a few hundred lines each), whatever the timing.
    const N = 400;
    const name = (prefix: string, i: number) => `${prefix}${String(i).padStart(3, '0')}`;
    const p = Array.from({ length: N }, (_, i) => write(path.join(c, 'p', name('p', i)), crypto.randomBytes(400 + i)));
    const q = Array.from({ length: N }, (_, i) => write(path.join(c, 'q', name('q', i)), crypto.randomBytes(600 + i)));
    write(path.join(c, 'q', 'r-big'), crypto.randomBytes(PACK_MAX_BLOB + 10));
    for (let i = 0; i < 10; i++) write(path.join(c, 'r', `r${i}`), crypto.randomBytes(300 + i));
    await new Promise((r) => setTimeout(r, 2100)); // past the racy window: the runs can be marked

    const config = ensureConfig();
    const host = openHost();
    try {
      await runBackup(host, config, { all: false, dirs: [c] });
      await runBackup(host, config, { all: true, dirs: [] }); // proves the runs unchanged and marks them
      const id = host.db.prepare('SELECT location_id FROM directories WHERE path = ?').pluck().get(c) as number;
      // p and q swap contents (held in the vault: recorded as soon as enough are held), a big
      // file gets new content (sent on its own during the scan), one file is added, one deleted.
      for (let i = 0; i < N - 1; i++) write(path.join(c, 'p', name('p', i)), q[i]!);
      for (let i = 0; i < N; i++) write(path.join(c, 'q', name('q', i)), p[i]!);
      const big = write(path.join(c, 'q', 'r-big'), crypto.randomBytes(PACK_MAX_BLOB + 20));
      const added = write(path.join(c, 'q', 'z-new'), crypto.randomBytes(900));
      fs.rmSync(path.join(c, 'p', name('p', N - 1)));

      const recorded: number[] = [];
      const summary = await runBackup(host, config, { all: true, dirs: [], recordEvery: 5, onRecorded: (n) => recorded.push(n) });

      // Modifications recorded during the scan, more than once; the addition and deletion at the end.
      expect(recorded.length).toBeGreaterThan(2);
      expect(recorded.reduce((n, r) => n + r, 0)).toBe(2 * N + 1 + 1);
      expect(recorded.at(-1)!).toBeLessThan(2 * N);
      expect(summary).toMatchObject({ newFiles: 2, sentFiles: 2, deleted: 1, errors: 0 });
      expect(summary.sentBytes).toBe(big.length + added.length);

      // Every file with the content it has; each changed path one version more (the deleted one's says so), none twice.
      const files = new Map(Object.entries(treeSnapshot(c)).map(([name, f]): [string, string] => [Buffer.from(name, 'base64').toString(), `sha256:${f.sha256}`]));
      const entries = new Map((host.db.prepare('SELECT key, hash FROM entries WHERE location_id = ?').all(id) as Array<{ key: string; hash: string }>).map((e) => [e.key, e.hash]));
      expect(entries).toEqual(files);
      const versions = new Map(host.db.prepare('SELECT key, count(*) FROM snapshots WHERE location_id = ? GROUP BY key').raw(true).all(id) as Array<[string, number]>);
      expect([...versions].filter(([, n]) => n === 2).map(([k]) => k).sort()).toEqual([...p.keys()].map((i) => `p/${name('p', i)}`).concat([...q.keys()].map((i) => `q/${name('q', i)}`), ['q/r-big']).sort());
      expect(versions.get('q/z-new')).toBe(1);
      expect(versions.get('r/r0')).toBe(1);

      // The marks made by this look stay valid past its own records: r, untouched, is still marked.
      const marks = host.db.prepare('SELECT seq, marks, (SELECT max(seq) FROM events e WHERE e.location_id = r.location_id) AS last FROM run_marks r WHERE location_id = ?').get(id) as { seq: number; marks: string; last: number };
      expect(marks.seq).toBe(marks.last);
      expect(Object.keys(JSON.parse(marks.marks) as object)).toContain('r/r0');

      const again = await runBackup(host, config, { all: true, dirs: [] });
      expect(again).toMatchObject({ newFiles: 0, sentFiles: 0, deleted: 0, errors: 0 });
    } finally {
      host.close();
    }
  }, 60_000);

  it("keeps none of a repository's lookups by content id and by history path in a host's state; a vault's lookups by content id use keys", async () => {
    const home = hostHome();
    const d = path.join(home, 'd');
    const data = Array.from({ length: 30 }, (_, i) => write(path.join(d, `f${i}`), crypto.randomBytes(200 + i)));
    const config = ensureConfig();
    // The state is made as a repository's is (with every index), then opened as a host's.
    let host = openHost();
    try {
      expect((await runBackup(host, config, { all: false, dirs: [d] })).errors).toBe(0);
      const indexes = () => host.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all() as string[];
      expect(indexes()).not.toContain('entries_hash');
      expect(indexes()).not.toContain('events_key');
      expect(indexes()).toEqual(expect.arrayContaining(['snapshots_key', 'events_seq']));
      // What a backup asks of the vault by content id reads the rows of that one place, never every entry.
      const plan = (sql: string) => (host.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 'sha256:x') as Array<{ detail: string }>).map((r) => r.detail).join('; ');
      expect(plan('SELECT 1 FROM entries WHERE location_id = ? AND hash = ?')).toMatch(/SEARCH entries USING PRIMARY KEY \(location_id=\?\)/);
      expect(plan('SELECT 1 FROM packed WHERE location_id = ? AND hash = ?')).toMatch(/SEARCH packed USING PRIMARY KEY \(location_id=\? AND hash=\?\)/);
      host.close();
      host = openHost();
      // Opened again: nothing to drop, and a backup of a copy of the same content sends nothing.
      write(path.join(d, 'copy'), data[3]!);
      expect(await runBackup(host, config, { all: true, dirs: [] })).toMatchObject({ newFiles: 0, sentFiles: 0, errors: 0 });
    } finally {
      host.close();
    }
  }, 60_000);
});
