import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LOCAL, Repository, blobKey, entryKey, keyPath, storeKeyHash, type StateChange } from './repository.js';
import { openDatabase } from './database.js';
import { stateMigrations } from './migrations.js';
import { tempDir } from '../../../test/support/trees.js';

const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const add = (key: string, n: number, extra: Partial<StateChange> = {}): StateChange => ({ op: 'add', key, hash: H(n), size: n, mode: 33188, mtimeMs: n, ino: n, ...extra });

function newRepo(): Repository {
  return Repository.init(tempDir());
}

describe('Repository', () => {
  it('is created private, found from a subfolder, and refuses to nest unless asked', () => {
    const repo = newRepo();
    expect(fs.statSync(repo.hoardDir).mode & 0o077).toBe(0);
    expect(fs.statSync(path.join(repo.hoardDir, 'state.db')).mode & 0o077).toBe(0);
    fs.mkdirSync(path.join(repo.root, 'a', 'b'), { recursive: true });
    expect(Repository.open(path.join(repo.root, 'a', 'b')).root).toBe(repo.root);
    expect(() => Repository.init(path.join(repo.root, 'a'))).toThrow(/inside the hoard repository/);
    expect(Repository.init(path.join(repo.root, 'a'), { nested: true }).root).toBe(path.join(repo.root, 'a'));
    expect(() => Repository.open(tempDir())).toThrow(/not a hoard repository/);
    expect(repo.meta('host')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stores blobs one folder level deep, and still finds those a store of two levels holds', () => {
    const repo = newRepo();
    const [fresh, legacy, absent] = [H(0xab01), H(0xcd02), H(0xef03)];
    expect(path.relative(repo.hoardDir, repo.objectPath(fresh))).toBe(`objects/sha256/00/${fresh.slice(7)}`);
    fs.mkdirSync(path.dirname(repo.objectPath(fresh)), { recursive: true });
    fs.writeFileSync(repo.objectPath(fresh), 'new');
    const old = path.join(repo.hoardDir, 'objects', blobKey(legacy));
    fs.mkdirSync(path.dirname(old), { recursive: true });
    fs.writeFileSync(old, 'old');
    expect(repo.storedObject(fresh)).toBe(repo.objectPath(fresh));
    expect(repo.storedObject(legacy)).toBe(old);
    expect(repo.storedObject(absent)).toBeUndefined();
    // fsck reads a store's names back into content ids, in either layout.
    expect(storeKeyHash(`sha256/00/${fresh.slice(7)}`)).toBe(fresh);
    expect(storeKeyHash(blobKey(legacy))).toBe(legacy);
    expect(storeKeyHash(`sha256/ff/${fresh.slice(7)}`)).toBeUndefined();
  });

  it('applies changes idempotently: the same changes twice append no new events', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    expect(repo.applyChanges(local, [add('a', 1), add('b', 2), add('d', 4)])).toBe(3);
    // One diff-state result: each path appears once.
    const changes: StateChange[] = [
      { ...add('c', 1), op: 'move', fromKey: 'a' },
      { op: 'delete', key: 'b' },
      { ...add('d', 5), op: 'modify' },
      add('e', 6),
    ];
    expect(repo.applyChanges(local, changes)).toBe(4);
    expect(repo.applyChanges(local, changes)).toBe(0);
    expect([...repo.entries(local)].map((e) => [e.key, e.hash])).toEqual([
      ['c', H(1)],
      ['d', H(5)],
      ['e', H(6)],
    ]);
    expect([...repo.events({ since: 3 })].map((e) => [e.op, e.key, e.fromKey, e.prevHash])).toEqual([
      ['move', 'c', 'a', H(1)],
      ['delete', 'b', null, H(2)],
      ['modify', 'd', null, H(4)],
      ['add', 'e', null, null],
    ]);
  });

  it('records inside a transaction already open as part of it: no statement journal, and a failure rolls back the whole', () => {
    // Bytes this process hands to write calls (Linux): a nested savepoint would copy every
    // page the recording changes to a statement journal first, about doubling them.
    const written = () => Number(/^wchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
    const seeded = () => {
      const repo = newRepo();
      const local = repo.location(LOCAL).id;
      repo.applyChanges(local, Array.from({ length: 3000 }, (_, i) => add(`f${String(i).padStart(5, '0')}`, i + 1)));
      repo.db.pragma('wal_checkpoint(TRUNCATE)');
      return { repo, local };
    };
    const modify = Array.from({ length: 3000 }, (_, i) => ({ ...add(`f${String(i).padStart(5, '0')}`, 10_000 + i), op: 'modify' as const }));
    const alone = seeded();
    let before = written();
    alone.repo.applyChanges(alone.local, modify);
    const aloneBytes = written() - before;
    const nested = seeded();
    before = written();
    nested.repo.db.transaction(() => nested.repo.applyChanges(nested.local, modify)).immediate();
    const nestedBytes = written() - before;
    expect(aloneBytes).toBeGreaterThan(1 << 20);
    expect(nestedBytes).toBeLessThan(aloneBytes * 1.25);
    expect(nested.repo.entry(nested.local, 'f00000')?.hash).toBe(H(10_000));
    // An error after the recording, in the same transaction: none of it stays.
    const undone = seeded();
    expect(() =>
      undone.repo.db
        .transaction(() => {
          undone.repo.applyChanges(undone.local, modify);
          throw new Error('stop');
        })
        .immediate(),
    ).toThrow('stop');
    expect(undone.repo.entry(undone.local, 'f00000')?.hash).toBe(H(1));
    expect([...undone.repo.events({ since: 3000 })]).toEqual([]);
  });

  it('answers entries at many keys in one question, and whether a location has any history', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    const far = repo.addLocation('far', 'path', '/elsewhere').id;
    expect(repo.hasHistory(local)).toBe(false);
    repo.applyChanges(local, [add('a', 1), add('b', 2), add('c/d', 3)]);
    repo.applyChanges(local, [{ op: 'delete', key: 'b' }]);
    const at = repo.entriesAt(local, ['c/d', 'b', 'a', 'a', 'nothing']);
    expect([...at.keys()].sort()).toEqual(['a', 'c/d']);
    expect(at.get('c/d')).toEqual(repo.entry(local, 'c/d'));
    expect(repo.entriesAt(far, ['a']).size).toBe(0);
    // History outlives the entries: a location whose every file went still had them.
    repo.applyChanges(local, [{ op: 'delete', key: 'a' }, { op: 'delete', key: 'c/d' }]);
    expect([repo.hasHistory(local), repo.hasHistory(far)]).toEqual([true, false]);
    expect(repo.hadPath(local, 'a')).toBe(true);
  });

  it('finds a location\'s last event through its own index, whatever the other locations hold', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    const far = repo.addLocation('far', 'path', '/elsewhere').id;
    repo.applyChanges(local, [add('a', 1), add('b', 2)]);
    repo.applyChanges(far, [add('x', 3)]);
    repo.applyChanges(local, [{ op: 'delete', key: 'a' }]);
    expect([repo.lastSeq(local), repo.lastSeq(far), repo.lastSeq(999)]).toEqual([4, 3, 0]);
    // A few index pages, not every event of the location (max(seq) through events_key read them all).
    const plan = repo.db.prepare('EXPLAIN QUERY PLAN SELECT max(seq) FROM events WHERE location_id = ?').all(local) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('; ')).toMatch(/USING COVERING INDEX events_seq/);
  });

  it('counts no copy of content in a sync base: only places that hold it', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    const far = repo.addLocation('far', 'path', '/elsewhere');
    repo.applyChanges(local, [add('a', 1)]);
    // Both sides changed `a` since they last agreed on content 1: only the base still has it.
    repo.applyChanges(repo.baseOf(far).id, [add('a', 1)]);
    expect(repo.copiesOf(H(1), local, 'a')).toBe(0);
    repo.applyChanges(far.id, [add('elsewhere', 1)]);
    expect(repo.copiesOf(H(1), local, 'a')).toBe(1);
  });

  it("keeps a scan's run marks past its own changes, less any mark over a changed key, and none if anything else was recorded", () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    repo.applyChanges(local, [add('d/a', 1), add('d/b', 2), add('d/c', 3), add('e/a', 4), add('e/b', 5)]);
    const seq = repo.lastSeq(local);
    const marks = new Map<string, [string, string]>([
      ['d/a', ['d/c', 'fp-d']],
      ['e/a', ['e/b', 'fp-e']],
    ]);
    // The scan's changes: one outside both runs, one inside e's (a caller that got it wrong).
    repo.applyChanges(local, [add('f/new', 6), { op: 'modify', key: 'e/b', hash: H(7), size: 7, mode: 33188, mtimeMs: 7, ino: 7 }], { marks: { seq, marks } });
    expect(repo.lastSeq(local)).toBe(seq + 2);
    expect(repo.runMarks(local, seq + 2)).toEqual(new Map([['d/a', ['d/c', 'fp-d']]]));

    // Marks of a scan that began before another writer's event are not kept.
    const stale = repo.lastSeq(local);
    repo.applyChanges(local, [add('g/other', 8)]);
    repo.applyChanges(local, [add('f/newer', 9)], { marks: { seq: stale, marks } });
    expect(repo.runMarks(local, repo.lastSeq(local))).toEqual(new Map());
  });

  it('keeps the event log append-only', () => {
    const repo = newRepo();
    repo.applyChanges(repo.location(LOCAL).id, [add('a', 1)]);
    expect(() => repo.db.exec("UPDATE events SET op = 'delete'")).toThrow(/append-only/);
    expect(() => repo.db.exec('DELETE FROM events')).toThrow(/append-only/);
  });

  it('rebuilds from the log exactly the state it caches, after many random changes', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    let seed = 42;
    const rnd = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    for (let round = 0; round < 30; round++) {
      const changes: StateChange[] = [];
      for (let i = 0; i < 100; i++) {
        const key = `d${rnd(10)}/f${rnd(50)}`;
        const r = rnd(4);
        if (r === 0) changes.push({ op: 'delete', key });
        else if (r === 1) changes.push({ ...add(key, rnd(1000)), op: 'move', fromKey: `d${rnd(10)}/f${rnd(50)}` });
        else changes.push(add(key, rnd(1000)));
      }
      repo.applyChanges(local, changes);
    }
    expect([...repo.events()].length).toBeGreaterThan(1000);
    expect(repo.verifyState()).toEqual([]);
    // Tamper with the cache: the check finds it, and a rebuild repairs it.
    repo.db.prepare('UPDATE entries SET hash = ? WHERE key = (SELECT min(key) FROM entries)').run(H(999999));
    expect(repo.verifyState().length).toBe(1);
    repo.rebuildState();
    expect(repo.verifyState()).toEqual([]);
  });

  it('records exactly the events and entries the semantics of each change give, in order, whatever the mix', () => {
    // A model of the documented semantics, one change at a time.
    type Row = { key: string; hash: string; size: number; mode: number; mtimeMs: number; ino: number };
    const model = new Map<string, Row>();
    const expected: unknown[][] = [];
    const applyModel = (c: StateChange) => {
      const current = model.get(c.key);
      if (c.op === 'unchanged') return;
      if (c.op === 'delete') {
        if (!current) return;
        model.delete(c.key);
        expected.push(['delete', c.key, null, null, current.hash]);
        return;
      }
      const next = { key: c.key, hash: c.hash!, size: c.size!, mode: c.mode!, mtimeMs: c.mtimeMs!, ino: c.ino ?? 0 };
      const source = c.op === 'move' && c.fromKey !== undefined ? model.get(c.fromKey) : undefined;
      if (source) {
        model.delete(c.fromKey!);
        model.set(c.key, next);
        expected.push(['move', c.key, c.fromKey, next.hash, source.hash]);
        return;
      }
      if (current && JSON.stringify(current) === JSON.stringify(next)) return;
      model.set(c.key, next);
      expected.push([current ? 'modify' : 'add', c.key, null, next.hash, current?.hash ?? null]);
    };
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    // First distinct adds into the empty location, then batches over few keys: adds of paths
    // that exist, moves onto and away from them, deletes, changes already reflected.
    const batches: StateChange[][] = [Array.from({ length: 1000 }, (_, i) => add(`k${String(i).padStart(4, '0')}`, i))];
    for (let round = 0; round < 12; round++) {
      const batch: StateChange[] = [];
      for (let i = 0; i < 300; i++) {
        const key = `k${String(rnd(round % 2 ? 1200 : 150)).padStart(4, '0')}`;
        const r = rnd(6);
        if (r === 0) batch.push({ op: 'delete', key });
        else if (r === 1) batch.push({ ...add(key, rnd(50)), op: 'move', fromKey: `k${String(rnd(1200)).padStart(4, '0')}` });
        else if (r === 2) batch.push({ ...add(key, rnd(50)), op: 'unchanged' });
        else if (r === 3 && model.has(key)) batch.push({ ...model.get(key)!, op: 'modify' }); // already so: no event
        else batch.push({ ...add(key, rnd(50)), op: rnd(2) ? 'add' : 'modify' });
      }
      batches.push(batch);
    }
    for (const batch of batches) {
      const before = expected.length;
      for (const c of batch) applyModel(c);
      expect(repo.applyChanges(local, batch)).toBe(expected.length - before);
    }
    const events = [...repo.events()];
    expect(events.map((e) => [e.op, e.key, e.fromKey, e.hash, e.prevHash])).toEqual(expected);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect([...repo.entries(local)].map((e) => ({ key: e.key, hash: e.hash, size: e.size, mode: e.mode, mtimeMs: e.mtimeMs, ino: e.ino }))).toEqual(
      [...model.values()].sort((a, b) => (a.key < b.key ? -1 : 1)),
    );
    expect(repo.verifyState()).toEqual([]);
  });

  it('records a first look of a location at once: its entries are its add events, whatever other locations hold', () => {
    const repo = newRepo();
    const local = repo.location(LOCAL).id;
    const far = repo.addLocation('far', 'path', '/elsewhere').id;
    const near = repo.addLocation('near', 'path', '/near').id;
    repo.applyChanges(local, [add('a', 1), add('b', 2)]);
    // Empty: taken at once. The events of another location sit between and after.
    expect(repo.setState(far, [add('a', 1), add('c', 3), add('d', 4)].map(({ op: _, ...e }) => e as never))).toBe(3);
    repo.applyChanges(local, [add('e', 5)]);
    // Not a first look (a key twice; not all adds; entries there already): one change at a time, as ever.
    expect(repo.applyChanges(near, [add('x', 7), add('x', 8)])).toBe(2);
    expect(repo.applyChanges(repo.addLocation('other', 'path', '/o').id, [add('y', 9), { op: 'delete', key: 'z' }])).toBe(1);
    expect(repo.applyChanges(far, [add('f', 6)])).toBe(1);
    const events = [...repo.events()];
    expect(events.map((e) => [e.seq, e.location, e.op, e.key])).toEqual([
      [1, LOCAL, 'add', 'a'], [2, LOCAL, 'add', 'b'], [3, 'far', 'add', 'a'], [4, 'far', 'add', 'c'], [5, 'far', 'add', 'd'], [6, LOCAL, 'add', 'e'],
      [7, 'near', 'add', 'x'], [8, 'near', 'modify', 'x'], [9, 'other', 'add', 'y'], [10, 'far', 'add', 'f'],
    ]);
    const rows = repo.db.prepare('SELECT key, hash, size, mode, mtime_ms AS mtimeMs, ino, seq FROM entries WHERE location_id = ? ORDER BY key').all(far);
    expect(rows).toEqual([
      { key: 'a', hash: H(1), size: 1, mode: 33188, mtimeMs: 1, ino: 1, seq: 3 },
      { key: 'c', hash: H(3), size: 3, mode: 33188, mtimeMs: 3, ino: 3, seq: 4 },
      { key: 'd', hash: H(4), size: 4, mode: 33188, mtimeMs: 4, ino: 4, seq: 5 },
      { key: 'f', hash: H(6), size: 6, mode: 33188, mtimeMs: 6, ino: 6, seq: 10 },
    ]);
    expect(repo.verifyState()).toEqual([]);
  });

  it('stages changes without holding the write lock until commit', () => {
    const repo = newRepo();
    const other = Repository.open(repo.root);
    const session = repo.beginChanges(repo.location(LOCAL).id, { scan: { under: '' } });
    session.apply([add('a', 1)]);
    // Another connection can still write (e.g. the hash cache) while changes are staged.
    other.db.prepare("INSERT INTO meta (key, value) VALUES ('probe', 'x')").run();
    expect(session.commit({ complete: true, files: 1, errors: 0 })).toBe(1);
    expect(other.db.prepare('SELECT complete FROM scans').pluck().all()).toEqual([1]);
  });

  it('locks against a second writer with a clear message, and takes over a dead holder', async () => {
    const repo = newRepo();
    const release = repo.lock('test');
    expect(() => Repository.open(repo.root).lock('second', 100)).toThrow(new RegExp(`locked by pid ${process.pid} \\(test\\)`));
    release();
    // A holder killed with SIGKILL leaves its lock file behind: the next writer takes it over.
    const child = spawn('sleep', ['30']);
    fs.writeFileSync(path.join(repo.hoardDir, 'lock'), JSON.stringify({ pid: child.pid, host: (await import('node:os')).hostname(), since: 'then', command: 'killed' }));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const again = repo.lock('after', 100);
    again();
  });

  it('keys non-UTF-8 paths reversibly', () => {
    const key = entryKey('bad\uFFFD', Buffer.from([0x62, 0xff]).toString('base64'));
    expect(keyPath(key)).toEqual({ path: 'bad\uFFFD', pathBytes: 'Yv8=' });
    expect(keyPath('plain/path')).toEqual({ path: 'plain/path' });
  });

  it('migrates a state of packs named per blob to packs numbered once, every blob still held where it was', () => {
    const root = tempDir();
    const file = path.join(root, '.hoard', 'state.db');
    const old = openDatabase(file, stateMigrations.filter((m) => m.version <= 5));
    const h = (i: number) => `sha256:${String(i).padStart(64, '0')}`;
    old.prepare("INSERT INTO locations (id, name, kind, url, layout, created_at) VALUES (1, 'local', 'local', '.', 'tree', 'now'), (2, 'v', 'rclone', 'rclone:/v', 'blobs', 'now')").run();
    for (let i = 0; i < 6; i++) {
      old.prepare('INSERT INTO copies (hash, location_id, verified_at, size) VALUES (?, 2, ?, 10)').run(h(i), 'then');
      if (i < 4) old.prepare('INSERT INTO packed (location_id, hash, pack, offset, length) VALUES (2, ?, ?, ?, 10)').run(h(i), i < 2 ? 'a'.repeat(32) : 'b'.repeat(32), (i % 2) * 10);
    }
    old.close();
    const repo = Repository.open(root);
    try {
      expect([...repo.knownPacks(2)].sort()).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
      // Asked for twice, and for a blob held as a single copy (not packed): one answer per packed blob.
      expect(Object.fromEntries(repo.packedBlobs(2, [h(3), h(3), h(0), h(4)]))).toEqual({
        [h(3)]: { hash: h(3), pack: 'b'.repeat(32), offset: 10, length: 10 },
        [h(0)]: { hash: h(0), pack: 'a'.repeat(32), offset: 0, length: 10 },
      });
      expect(repo.packBlobs(2, 'a'.repeat(32)).map((b) => b.hash)).toEqual([h(0), h(1)]);
      expect([...repo.holdsMany(2, [0, 1, 2, 3, 4, 5, 6].map(h))].sort()).toEqual([0, 1, 2, 3, 4, 5].map(h));
      // Packed blobs are held through their packs alone; single blobs keep their copies.
      expect([...repo.copies(2)].map((c) => c.hash)).toEqual([h(4), h(5)]);
      repo.dropPack(2, 'a'.repeat(32));
      expect(repo.holdsMany(2, [h(0)]).has(h(0))).toBe(false);
      expect(repo.holdsMany(2, [h(2)]).has(h(2))).toBe(true);
    } finally {
      repo.close();
    }
  });

  it('passes over a run of entries only when it is exactly what the caller says, across pages', () => {
    const repo = Repository.init(tempDir());
    try {
      const local = repo.location(LOCAL).id;
      const key = (i: number) => `k${String(i).padStart(5, '0')}`;
      repo.applyChanges(local, Array.from({ length: 10_000 }, (_, i) => ({ op: 'add' as const, key: key(i), hash: `sha256:${'0'.repeat(64)}`, size: i, mode: 0o100644, mtimeMs: 1, ino: i })));
      const cursor = repo.entries(local);
      expect(cursor.next().value!.key).toBe(key(0));
      expect(cursor.skipRun(key(2), key(10), 9)).toBeUndefined(); // k00001 is unread before it
      expect(cursor.skipRun(key(1), key(10), 9)).toBeUndefined(); // ten entries, not nine
      expect(cursor.skipRun(key(1), key(10), 10)).toEqual({ bytes: 55 });
      expect(cursor.next().value!.key).toBe(key(11));
      // Across the page read (4096 rows) and past it without reading.
      expect(cursor.skipRun(key(12), key(5000), 4989)).toEqual({ bytes: ((12 + 5000) * 4989) / 2 });
      expect(cursor.next().value!.key).toBe(key(5001));
      expect(cursor.skipRun(key(5002), key(9000), 7999)).toBeUndefined();
      expect(cursor.skipRun(key(5002), key(9998), 4997)).toBeDefined();
      expect(cursor.next().value!.key).toBe(key(9999));
      expect(cursor.next().done).toBe(true);
      // A run to the very end of the last page read is counted there too (nothing after it).
      const tail = repo.entries(local);
      expect(tail.skipRun(key(0), key(9000), 9001)).toBeDefined();
      expect(tail.next().value!.key).toBe(key(9001));
      expect(tail.skipRun(key(9002), key(9999), 997)).toBeUndefined();
      expect(tail.skipRun(key(9002), key(9999), 998)).toEqual({ bytes: ((9002 + 9999) * 998) / 2 });
      expect(tail.next().done).toBe(true);
    } finally {
      repo.close();
    }
  });
});
