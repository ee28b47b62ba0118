import { describe, expect, it } from 'vitest';
import { BASE_INO, LOCAL, Repository, openDatabase, stateMigrations, type StateChange } from '@hoard/state';
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
    expect(repo.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'entries_hash'").pluck().get()).toMatch(/WHERE ino >= 0$/);

    // The lookups by content id answer as before, and none scans the table.
    expect(repo.holdsMany(far.id, [H(1), H(99)])).toEqual(new Set([H(1)]));
    expect(repo.holdsMany(base.id, [H(1)])).toEqual(new Set());
    expect(repo.entryWithContent(local.id, H(2))?.key).toBe('f1');
    expect(repo.copiesOf(H(3), local.id, 'f2')).toBe(1); // the far side's; the base's is no copy
    expect(repo.whereIs(H(4)).map((w) => w.location).sort()).toEqual(['far', LOCAL]);
    const byContent = [...new Set(seen)].filter((sql) => /FROM entries/.test(sql) && /\bhash = /.test(sql));
    expect(byContent).toHaveLength(4);
    for (const sql of byContent) {
      const plan = planOf(repo, sql);
      expect(plan, sql).toMatch(/SEARCH (entries|e) USING (COVERING )?INDEX entries_hash/);
      expect(plan, sql).not.toMatch(/SCAN (entries|e)\b/);
    }
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
