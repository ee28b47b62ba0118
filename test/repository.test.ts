import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BIN, hoardEnv, jsonl, sh } from './support/cli.js';
import { tempDir, writeHostileTree, writeNonUtf8File } from './support/trees.js';

const hoard = (cwd: string, ...args: string[]) => execa(path.join(BIN, 'hoard'), args, { cwd, env: hoardEnv({ XDG_CACHE_HOME: tempDir() }), reject: false });

function writeTree(root: string, files: number, tag = 'v1'): void {
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 17}`, `s${i % 5}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}.txt`), `${tag} file ${i}\n`.repeat(1 + (i % 7)));
  }
}

async function status(root: string): Promise<string[]> {
  const r = await hoard(root, 'status', '--json');
  expect(r.exitCode, r.stderr).toBe(0);
  return jsonl(r.stdout).map((c) => `${c.op} ${c.from ? `${c.from} -> ` : ''}${c.path}`);
}

describe('a repository: init, add, status, events, fsck', () => {
  it('records a hostile tree, then exactly what changed, and rebuilds the same state from the log', async () => {
    const root = tempDir();
    writeHostileTree(root);
    writeNonUtf8File(root, 'raw');
    expect((await hoard(root, 'init')).exitCode).toBe(0);
    const first = await hoard(root, 'add', '--json');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(jsonl(first.stdout).at(-1)).toMatchObject({ type: 'summary', command: 'add', deleted: 0, complete: true });
    expect(await status(root)).toEqual([]);

    fs.appendFileSync(path.join(root, 'with space.txt'), 'more');
    fs.renameSync(path.join(root, `quote"d'.txt`), path.join(root, 'renamed.txt'));
    fs.rmSync(path.join(root, 'new\nline.txt'));
    fs.writeFileSync(path.join(root, 'brand new'), 'new');
    expect((await status(root)).sort()).toEqual(['add brand new', `move quote"d'.txt -> renamed.txt`, 'delete new\nline.txt', 'modify with space.txt'].sort());

    const missing = await hoard(root, 'missing');
    expect(jsonl(missing.stdout).map((m) => [m.path, m.how]).sort()).toEqual([
      ['new\nline.txt', 'deleted'],
      ['with space.txt', 'overwritten'],
    ]);

    expect((await hoard(root, 'add')).exitCode).toBe(0);
    expect(await status(root)).toEqual([]);
    const events = jsonl((await hoard(root, 'events', '--path', 'renamed.txt')).stdout);
    expect(events).toEqual([expect.objectContaining({ type: 'event', op: 'move', from: `quote"d'.txt`, path: 'renamed.txt', origin: 'user' })]);

    const rebuild = await hoard(root, 'state', 'rebuild');
    expect(rebuild.exitCode, rebuild.stderr).toBe(0);
    const fsck = await hoard(root, 'fsck', '--state');
    expect(fsck.exitCode, fsck.stderr).toBe(0);
    expect(jsonl(fsck.stdout).at(-1)).toMatchObject({ mismatches: 0, integrity: true });
  });

  it('adds a subfolder alone: changes inside it only, no deletions elsewhere', async () => {
    const root = tempDir();
    writeTree(root, 200);
    await hoard(root, 'init');
    await hoard(root, 'add');
    fs.rmSync(path.join(root, 'd1'), { recursive: true });
    fs.writeFileSync(path.join(root, 'd2', 'extra.txt'), 'x');
    fs.appendFileSync(path.join(root, 'd2', 's2', 'f2.txt'), 'changed');
    const r = await hoard(path.join(root, 'd2'), 'status', '--json', '.');
    expect(jsonl(r.stdout).map((c) => `${c.op} ${c.path}`).sort()).toEqual(['add d2/extra.txt', 'modify d2/s2/f2.txt']);
    await hoard(root, 'add', 'd2');
    expect((await status(root)).filter((s) => !s.startsWith('delete d1/'))).toEqual([]);
    expect((await status(root)).length).toBeGreaterThan(0); // d1's deletion is still to be recorded
  });

  it('refuses a nested repository, and commands outside any repository exit 10', async () => {
    const root = tempDir();
    await hoard(root, 'init');
    fs.mkdirSync(path.join(root, 'inner'));
    const nested = await hoard(path.join(root, 'inner'), 'init');
    expect(nested.exitCode).toBe(2);
    expect(nested.stderr).toMatch(/inside the hoard repository/);
    const outside = await hoard(tempDir(), 'status');
    expect(outside.exitCode).toBe(10);
    expect(outside.stderr).toMatch(/not a hoard repository/);
  });
});

describe('crash safety and concurrency', () => {
  it('survives SIGKILL at 20 random moments during add: DB intact, state = log, next add correct', async () => {
    const root = tempDir();
    writeTree(root, 3000);
    await hoard(root, 'init');
    const env = hoardEnv({ XDG_CACHE_HOME: tempDir() });
    // How long an uninterrupted add takes here, to aim the kills inside it.
    const probe = tempDir();
    writeTree(probe, 3000);
    await hoard(probe, 'init');
    const t0 = Date.now();
    await execa(path.join(BIN, 'hoard'), ['add'], { cwd: probe, env });
    const span = Date.now() - t0;
    for (let round = 0; round < 20; round++) {
      // Change something every round so that each add has real work to record.
      writeTree(root, 3000, `v${round % 3}`);
      if (round % 4 === 0) fs.rmSync(path.join(root, `d${round % 17}`), { recursive: true, force: true });
      const child = execa(path.join(BIN, 'hoard'), ['add'], { cwd: root, env, reject: false });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * span)));
      child.kill('SIGKILL');
      await child;
      const db = new Database(path.join(root, '.hoard', 'state.db'));
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
      const fsck = await execa(path.join(BIN, 'hoard'), ['fsck', '--state'], { cwd: root, env, reject: false });
      expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
    }
    const finish = await execa(path.join(BIN, 'hoard'), ['add'], { cwd: root, env, reject: false });
    expect(finish.exitCode, finish.stderr).toBe(0);
    expect(await status(root)).toEqual([]);
    expect((await execa(path.join(BIN, 'hoard'), ['fsck', '--state'], { cwd: root, env, reject: false })).exitCode).toBe(0);
  }, 180_000);

  it('two adds at once: one waits for the other; the state ends correct', async () => {
    const root = tempDir();
    writeTree(root, 2000);
    await hoard(root, 'init');
    const [a, b] = await Promise.all([hoard(root, 'add', '--json'), hoard(root, 'add', '--json')]);
    expect([a.exitCode, b.exitCode], a.stderr + b.stderr).toEqual([0, 0]);
    const recorded = [a, b].map((r) => jsonl(r.stdout).at(-1)!.added as number).sort((x, y) => x - y);
    expect(recorded).toEqual([0, 2000]);
    expect(await status(root)).toEqual([]);
    const fail = await sh('exec 9>"$DIR/.hoard/lock"; echo "{\\"pid\\":$$,\\"host\\":\\"$(hostname)\\",\\"since\\":\\"now\\",\\"command\\":\\"holder\\"}" >&9; hoard add --wait 0.3', { DIR: root }, { cwd: root });
    expect(fail.exitCode).toBe(11);
    expect(fail.stderr).toMatch(/locked by pid \d+ \(holder\)/);
  });
});

describe('diff-state --against', () => {
  it('compares two recorded locations: what the first has that the second lacks or holds otherwise', async () => {
    const root = tempDir();
    writeTree(root, 30);
    await hoard(root, 'init');
    await hoard(root, 'add');
    // A second location that saw an older state: some files missing, one differing, one elsewhere.
    const { Repository, LOCAL } = await import('@hoard/state');
    const repo = Repository.open(root);
    const nas = repo.addLocation('nas', 'path', '/mnt/nas');
    const local = [...repo.entries(repo.location(LOCAL).id)];
    const [moved, changed, ...rest] = local;
    repo.applyChanges(nas.id, [
      { op: 'add', ...moved!, key: `old/${moved!.key}` },
      { op: 'add', ...changed!, hash: `sha256:${'0'.repeat(64)}` },
      ...rest.slice(5).map((e) => ({ op: 'add' as const, ...e })),
      { op: 'add', key: 'only-on-nas', hash: `sha256:${'1'.repeat(64)}`, size: 1, mode: 33188, mtimeMs: 1, ino: 1 },
    ]);
    expect(() => repo.addLocation('nas', 'path', '/x')).toThrow(/exists already/);
    repo.close();
    const r = await hoard(root, 'diff-state', '--against', 'nas');
    expect(r.exitCode, r.stderr).toBe(0);
    const changes = jsonl(r.stdout).filter((c) => c.type === 'change');
    expect(changes.every((c) => c.location === 'nas')).toBe(true);
    expect(changes.map((c) => `${c.op} ${c.from ? `${c.from} -> ` : ''}${c.path}`).sort()).toEqual(
      [`move old/${moved!.key} -> ${moved!.key}`, `modify ${changed!.key}`, ...rest.slice(0, 5).map((e) => `add ${e.key}`), 'delete only-on-nas'].sort(),
    );
  });
});

describe('deletions need a complete scan', () => {
  it('an unreadable folder during add is not taken as deleted; it is recorded again once readable', async () => {
    const root = tempDir();
    writeTree(root, 120);
    fs.chmodSync(root, 0o755);
    const asUser = process.getuid?.() === 0 ? 'runuser -u nobody -- env PATH="$PATH" HOME=/tmp XDG_CACHE_HOME=/tmp/hoard-nobody-cache' : '';
    if (asUser) execaSync('chown', ['-R', 'nobody', root]);
    const run = (args: string) => sh(`cd "$DIR" && ${asUser} hoard ${args}`, { DIR: root });
    expect((await run('init')).exitCode).toBe(0);
    expect((await run('add --json')).exitCode).toBe(0);
    const locked = path.join(root, 'd3');
    const before = fs.readdirSync(locked, { recursive: true }).length;
    fs.chmodSync(locked, 0o000);
    fs.writeFileSync(path.join(root, 'new.txt'), 'n');
    if (asUser) execaSync('chown', ['nobody', path.join(root, 'new.txt')]);
    const partial = await run('add --json');
    fs.chmodSync(locked, 0o755);
    expect(partial.exitCode).toBe(1); // the read error is reported...
    expect(partial.stderr).toMatch(/d3: cannot read folder/);
    const summary = jsonl(partial.stdout).at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', added: 1, deleted: 0, complete: false }); // ...and nothing under it deleted
    const events = jsonl((await run('events')).stdout);
    expect(events.filter((e) => e.op === 'delete')).toEqual([]);
    expect(before).toBeGreaterThan(0);
    expect((await run('status --json')).stdout).toBe('');
  });
});

describe('fsck --content', () => {
  it('re-hashes the store in both of its layouts and reports a blob that does not hold its name', async () => {
    const root = tempDir();
    writeTree(root, 10);
    expect((await hoard(root, 'init')).exitCode).toBe(0);
    expect((await hoard(root, 'add')).exitCode).toBe(0);
    const sha = (data: string) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
    const put = (rel: string, data: string) => {
      fs.mkdirSync(path.dirname(path.join(root, '.hoard', 'objects', rel)), { recursive: true });
      fs.writeFileSync(path.join(root, '.hoard', 'objects', rel), data);
    };
    const [a, b] = [sha('stored now'), sha('stored by an older hoard')].map((h) => h.slice(7));
    put(`sha256/${a.slice(0, 2)}/${a}`, 'stored now');
    put(`sha256/${b.slice(0, 2)}/${b.slice(2, 4)}/${b}`, 'stored by an older hoard');
    const clean = await hoard(root, 'fsck', '--content');
    expect(clean.exitCode, clean.stdout + clean.stderr).toBe(0);
    expect(jsonl(clean.stdout).at(-1)).toMatchObject({ checked: 12 });
    put(`sha256/${a.slice(0, 2)}/${a}`, 'bit rot');
    const rotten = await hoard(root, 'fsck', '--content');
    expect(rotten.exitCode).toBe(1);
    expect(jsonl(rotten.stdout).filter((r) => r.type === 'error')).toEqual([expect.objectContaining({ code: 'corrupt', path: `.hoard/objects/sha256/${a.slice(0, 2)}/${a}` })]);
    expect(jsonl(rotten.stdout).at(-1)).toMatchObject({ checked: 12, errors: 1 });
  });
});
