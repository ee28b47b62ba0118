import { describe, expect, it } from 'vitest';
import { BASE_INO, LOCAL, Repository, openDatabase, sameVersion, stateMigrations, type StateChange } from '@hoard/state';
import { settleBase } from './fetch.js';
import { tempDir } from '../../../test/support/trees.js';

const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const add = (key: string, n: number, ino = n): StateChange => ({ op: 'add', key, hash: H(n), size: n, mode: 33188, mtimeMs: n, ino });

/** EXPLAIN QUERY PLAN of a statement as the state runs it, its parameters bound to nothing. */
function planOf(repo: Repository, sql: string): string {
  const named = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
  const explain = repo.db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = (named.length ? explain.all(Object.fromEntries(named.map((n) => [n, null]))) : explain.all(...Array<null>((sql.match(/\?/g) ?? []).length).fill(null))) as Array<{ detail: string }>;
  return rows.map((r) => r.detail).join('; ');
}

describe('settleBase', () => {
  it("keeps a base's rows out of the lookup by content id, which every lookup by content id still uses", () => {
    const repo = Repository.init(tempDir());
    const local = repo.location(LOCAL);
    const far = repo.addLocation('far', 'path', '/elsewhere');
    const files = Array.from({ length: 50 }, (_, i) => add(`f${i}`, i + 1));
    repo.applyChanges(local.id, files);
    repo.applyChanges(far.id, files.map((f) => ({ ...f, ino: 0 })));
    // Every statement the state prepares from here on, to read their plans.
    const seen: string[] = [];
    const prepare = repo.db.prepare.bind(repo.db);
    repo.db.prepare = ((sql: string) => (seen.push(sql), prepare(sql))) as typeof repo.db.prepare;

    settleBase(repo, far);
    const base = repo.baseOf(far);
    const inos = repo.db.prepare('SELECT ino FROM entries WHERE location_id = ?').pluck().all(base.id);
    expect(inos).toHaveLength(50);
    expect(new Set(inos)).toEqual(new Set([BASE_INO]));
    // Keyed by twelve hex digits of the content id: the whole id is compared after.
    expect(repo.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'entries_hash'").pluck().get()).toMatch(/\(substr\(hash, 8, 12\)\) WHERE ino >= 0$/);

    // The lookups by content id answer as before, and none scans the table.
    expect(repo.holdsMany(far.id, [H(1), H(99)])).toEqual(new Set([H(1)]));
    expect(repo.holdsMany(base.id, [H(1)])).toEqual(new Set());
    expect(repo.entryWithContent(local.id, H(2))?.key).toBe('f1');
    expect(repo.copiesOf(H(3), local.id, 'f2')).toBe(1); // the far side's; the base's is no copy
    expect(repo.whereIs(H(4)).map((w) => w.location).sort()).toEqual(['far', LOCAL]);
    // A lookup by content id compares hash with a value, not with another row's hash (a join by key).
    const byContent = [...new Set(seen)].filter((sql) => /FROM entries/.test(sql) && /\bhash = (?!\w+\.hash)/.test(sql));
    expect(byContent).toHaveLength(4);
    for (const sql of byContent) {
      const plan = planOf(repo, sql);
      expect(plan, sql).toMatch(/SEARCH (entries|e) USING (COVERING )?INDEX entries_hash/);
      expect(plan, sql).not.toMatch(/SCAN (entries|e)\b/);
    }
  });

  it('settles a first base at once to exactly what the merge gives: where both sides hold the same version', () => {
    const repo = Repository.init(tempDir());
    const local = repo.location(LOCAL);
    const far = repo.addLocation('far', 'path', '/elsewhere');
    const nul = 'raw\0cmF3/w=='; // a non-UTF-8 name's key holds a NUL
    const here = [add('same', 1), add('other-content', 2), add('other-mode', 3), add('file-type-bits-only', 4), add('within-a-ms', 5), add('a-ms-apart', 6), add('only-here', 7), add(nul, 8), add('é-nfc', 9)];
    const there: StateChange[] = [
      add('same', 1, 0), { ...add('other-content', 2, 0), hash: H(20) }, { ...add('other-mode', 3, 0), mode: 0o100755 }, { ...add('file-type-bits-only', 4, 0), mode: 0o644 },
      { ...add('within-a-ms', 5, 0), mtimeMs: 5.6 }, { ...add('a-ms-apart', 6, 0), mtimeMs: 7 }, add('only-there', 10, 0), add(nul, 8, 0), add('é-nfc', 9, 0),
    ];
    repo.applyChanges(local.id, here);
    repo.applyChanges(far.id, there);
    const before = repo.lastSeq(repo.baseOf(far).id);
    settleBase(repo, far);
    const base = repo.baseOf(far);
    const rows = repo.db.prepare('SELECT key, hash, size, mode, mtime_ms AS mtimeMs, ino FROM entries WHERE location_id = ? ORDER BY key').all(base.id);
    // What the merge keeps, worked out entry by entry with sameVersion.
    const theirs = new Map(there.map((c) => [c.key, c]));
    const agreed = here
      .filter((c) => sameVersion(c as never, theirs.get(c.key) as never))
      .map((c) => ({ key: c.key, hash: c.hash, size: c.size, mode: c.mode, mtimeMs: c.mtimeMs, ino: BASE_INO }))
      .sort((a, b) => (Buffer.from(a.key) < Buffer.from(b.key) ? -1 : 1));
    expect(agreed.map((e) => e.key)).toEqual(['file-type-bits-only', nul, 'same', 'within-a-ms', 'é-nfc']);
    expect(rows).toEqual(agreed);
    // Each row is a sync add event of the base, as setState appends; the state rebuilt from the log is the same.
    const events = [...repo.events({ since: before, location: base.name })];
    expect(events.map((e) => [e.op, e.key, e.origin, e.hash])).toEqual(agreed.map((e) => ['add', e.key, 'sync', e.hash]));
    expect(repo.verifyState()).toEqual([]);
    // Settled again after a change here: the merge way (the base records something), same rule.
    repo.applyChanges(local.id, [{ ...add('same', 1), hash: H(30) }, add('only-there', 10)]);
    settleBase(repo, far);
    const keys = repo.db.prepare('SELECT key FROM entries WHERE location_id = ? ORDER BY key').pluck().all(base.id);
    expect(keys).toEqual(['file-type-bits-only', 'only-there', nul, 'same', 'within-a-ms', 'é-nfc']);
    expect(repo.adoptAgreed(base.id, local.id, far.id, BASE_INO)).toBeUndefined();
  });

  it('gives a state made before the lookup without bases that lookup when it is opened', () => {
    const dir = tempDir();
    const repo = Repository.init(dir);
    const file = repo.db.name;
    repo.close();
    const old = openDatabase(`${file}.old`, stateMigrations.slice(0, 10));
    expect(old.prepare("SELECT sql FROM sqlite_master WHERE name = 'entries_hash'").pluck().get()).not.toMatch(/WHERE/);
    old.close();
    const db = openDatabase(`${file}.old`, stateMigrations);
    expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'entries_hash'").pluck().get()).toMatch(/WHERE ino >= 0$/);
    db.close();
  });
});
