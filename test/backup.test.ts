import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, hoardEnv, jsonl } from './support/cli.js';
import { treeSnapshot } from './support/compare.js';
import { tempDir } from './support/trees.js';

/** One host: its own config and state folders; all hosts may share a vault. */
function makeHost(extra: Record<string, string> = {}) {
  const home = tempDir('hoard-host-');
  const env = hoardEnv({ XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data'), XDG_CACHE_HOME: path.join(home, 'cache'), RCLONE_CONFIG: path.join(home, 'rclone.conf'), ...extra });
  fs.writeFileSync(env.RCLONE_CONFIG!, '');
  const run = (cwd: string, ...args: string[]) => execa(path.join(BIN, 'hoard'), args, { cwd, env, reject: false });
  const ok = async (cwd: string, ...args: string[]) => {
    const r = await run(cwd, ...args);
    expect(r.exitCode, `hoard ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const summary = async (cwd: string, ...args: string[]) => {
    const s = jsonl((await ok(cwd, ...args, '--json')).stdout).at(-1)!;
    expect(s).toMatchObject({ type: 'summary', errors: 0 });
    return s;
  };
  return { home, env, run, ok, summary };
}

function writeTree(root: string, tag: string, shared = 20): void {
  const put = (rel: string, content: string | Buffer, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
    fs.chmodSync(path.join(root, rel), mode);
    const t = 1_700_000_000 + rel.length * 1000;
    fs.utimesSync(path.join(root, rel), t, t);
  };
  for (let i = 0; i < shared; i++) put(`shared/s${i}.dat`, `shared content ${i}\n`.repeat(100));
  for (let i = 0; i < 10; i++) put(`${tag}/own${i}.txt`, `${tag} own ${i}\n`);
  put(`${tag}/run.sh`, '#!/bin/sh\n', 0o755);
  put(`${tag}/private`, 'secret\n', 0o600);
  put('empty', '');
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/**
 * Every blob in a vault folder, checked against its id: single blob files by their name,
 * packed blobs by their pack's index (a pack no index names holds nothing). Returns the
 * ids, one per stored copy (content stored twice shows twice).
 */
function vaultBlobs(vault: string): string[] {
  const out: string[] = [];
  const dir = path.join(vault, 'blobs');
  for (const rel of fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]) : []) {
    const file = path.join(dir, rel);
    if (!fs.statSync(file).isFile()) continue;
    expect(sha(fs.readFileSync(file)), `vault blob ${rel}`).toBe(path.basename(rel));
    out.push(path.basename(rel));
  }
  const index = path.join(vault, 'index');
  for (const id of fs.existsSync(index) ? fs.readdirSync(index) : []) {
    const idx = JSON.parse(fs.readFileSync(path.join(index, id), 'utf8')) as { pack: string; blobs: Array<[string, number, number]> };
    expect(idx.pack).toBe(id);
    const pack = fs.readFileSync(path.join(vault, 'packs', id.slice(0, 2), id));
    for (const [hash, offset, length] of idx.blobs) {
      expect(`sha256:${sha(pack.subarray(offset, offset + length))}`, `pack ${id} blob at ${offset}`).toBe(hash);
      out.push(hash.slice('sha256:'.length));
    }
  }
  return out.sort();
}

describe('backup and restore', () => {
  it('restores a whole folder identical to the source, and any older version bit-identical', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'docs');
    writeTree(src, 'a');
    const first = await h.summary(src, 'backup', src);
    expect(first).toMatchObject({ files: 33, newFiles: 33, sentFiles: 33 });
    const again = await h.summary(src, 'backup', '--all');
    expect(again).toMatchObject({ newFiles: 0, sentBytes: 0 });

    const v1 = fs.readFileSync(path.join(src, 'a/own1.txt'));
    fs.writeFileSync(path.join(src, 'a/own1.txt'), 'second version\n');
    await h.summary(src, 'backup', '--all');
    fs.writeFileSync(path.join(src, 'a/own1.txt'), 'third version\n');
    fs.chmodSync(path.join(src, 'a/own1.txt'), 0o640);
    const third = await h.summary(src, 'backup', '--all');
    expect(third).toMatchObject({ newFiles: 1, sentFiles: 1 });
    const log = jsonl((await h.ok(src, 'log', 'a/own1.txt', '--json')).stdout);
    expect(log.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(log[2]!.changed).toEqual(expect.arrayContaining(['content', 'mode']));

    const r = await h.summary(src, 'restore', 'a/own1.txt', '--version', '1');
    expect(fs.readFileSync(String(r.to))).toEqual(v1);
    expect(path.dirname(String(r.to))).toBe(path.join(src, 'a'));
    expect(path.basename(String(r.to))).toMatch(/^own1\.txt\.[0-9a-f]{12}$/);
    fs.rmSync(String(r.to));
    // Asked for what cannot be: one line saying what is wrong, exit 2, nothing written.
    for (const [args, said] of [
      [['a/never.txt'], 'a/never.txt has no backed-up version'],
      [['a'], 'a is a folder: say where to restore it with --to PATH'],
      [['a/own1.txt', '--version', '4'], 'there are 3 versions; --version takes 1..3'],
      [['a', '--at', '2001-01-01', '--to', path.join(tempDir(), 'x')], 'nothing under a was backed up at 2001-01-01T00:00:00.000Z'],
    ] as const) {
      const bad = await h.run(src, 'restore', ...args);
      expect([bad.exitCode, bad.stderr.trim()]).toEqual([2, `hoard restore: ${said}`]);
    }
    expect(fs.readdirSync(path.join(src, 'a')).filter((f) => f.includes('.txt.'))).toEqual([]);

    const to = path.join(tempDir(), 'restored');
    await h.summary(src, 'restore', src, '--to', to);
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    // Restoring never overwrites: what was in the way is in the trash. A file already as it
    // was (content, mode, mtime) is left alone; one that differs in content or mode is not.
    fs.writeFileSync(path.join(to, 'empty'), 'in the way');
    fs.chmodSync(path.join(to, 'a/own2.txt'), 0o600);
    const mtime = fs.statSync(path.join(to, 'a/own3.txt')).mtime;
    fs.writeFileSync(path.join(to, 'a/own3.txt'), 'a own 9\n'); // same size, same mtime, other content
    fs.utimesSync(path.join(to, 'a/own3.txt'), mtime, mtime);
    const again2 = await h.summary(src, 'restore', src, '--to', to);
    expect(again2).toMatchObject({ restored: 33, unchanged: 30, trashed: 3 });
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    const trash = (fs.readdirSync(path.join(h.home, 'data/hoard/.hoard/trash'), { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(h.home, 'data/hoard/.hoard/trash', f)).isFile());
    expect(trash.map((f) => path.basename(f)).sort()).toEqual(['empty', 'own2.txt', 'own3.txt']);
  }, 60_000);

  it('restores files named as its own temporary files, at the top and below, into a new folder and over itself', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'docs');
    writeTree(src, 'a', 3);
    for (const n of ['.hoard-restore.tmp', '.hoard-restore.tmp.thread/inner', '.hoard-restore.tmp.1', 'a/.hoard-restore.tmp', 'a/.hoard-restore.tmp.thread', 'a/.hoard-restore.tmp.1']) {
      fs.mkdirSync(path.dirname(path.join(src, n)), { recursive: true });
      fs.writeFileSync(path.join(src, n), `the file ${n}\n`);
    }
    await h.summary(src, 'backup', src);
    const to = path.join(tempDir(), 'restored');
    const first = await h.summary(src, 'restore', src, '--to', to);
    expect(first).toMatchObject({ files: 22, restored: 22, trashed: 0 });
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    // Again over the restored tree: what sits at the root's temporary names (a file, a folder)
    // is trashed first and restored last; the other files are already as they were. Nothing
    // lost or left over.
    const again = await h.summary(src, 'restore', src, '--to', to);
    expect(again).toMatchObject({ restored: 22, unchanged: 20, trashed: 2 });
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    // The same without the native writer (its worker-thread path).
    const plain = path.join(tempDir(), 'plain');
    const r = await execa(path.join(BIN, 'hoard'), ['restore', src, '--to', plain, '--json'], { env: { ...h.env, HOARD_NO_NATIVE: '1' }, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(jsonl(r.stdout).at(-1)).toMatchObject({ type: 'summary', restored: 22, errors: 0 });
    expect(treeSnapshot(plain)).toEqual(treeSnapshot(src));
  }, 60_000);

  it('restores permission bits the umask would strip, set-id bits and, as root, owners', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'modes');
    const asRoot = process.getuid?.() === 0;
    const files: Array<[string, number, number?, number?]> = [
      ['open.txt', 0o666], // group and others may write: a umask of 022 would strip that
      ['private.txt', 0o600],
      ['plain.txt', 0o644],
      ['tool', 0o4755, asRoot ? 1234 : undefined, asRoot ? 5678 : undefined], // set-user-id, another owner
      ['shared', 0o2750, asRoot ? 0 : undefined, asRoot ? 4321 : undefined], // set-group-id, another group
      ['sticky', 0o1777 & ~0o002, undefined, undefined],
      ['theirs.txt', 0o640, asRoot ? 1234 : undefined, asRoot ? 1234 : undefined],
    ];
    fs.mkdirSync(src, { recursive: true });
    for (const [name, mode, uid, gid] of files) {
      const file = path.join(src, name);
      fs.writeFileSync(file, `${name}\n`);
      if (uid !== undefined) fs.chownSync(file, uid, gid!);
      fs.chmodSync(file, mode); // after the owner: a change of owner clears set-id bits
    }
    await h.summary(src, 'backup', src);
    const to = path.join(tempDir(), 'restored');
    await h.summary(src, 'restore', src, '--to', to);
    for (const [name, mode, uid, gid] of files) {
      const st = fs.statSync(path.join(to, name));
      expect((st.mode & 0o7777).toString(8), name).toBe(mode.toString(8));
      if (uid !== undefined) expect([st.uid, st.gid], name).toEqual([uid, gid]);
    }
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
  }, 60_000);

  it('restore refuses content that is not what its id says, into a new folder and into an existing one', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'docs');
    writeTree(src, 'a');
    await h.summary(src, 'backup', src);
    // Damage one packed blob in the vault: a byte of a's own3.txt.
    const vault = path.join(h.env.XDG_DATA_HOME!, 'hoard', 'vault');
    const victim = `sha256:${sha(fs.readFileSync(path.join(src, 'a/own3.txt')))}`;
    let damaged = false;
    for (const id of fs.readdirSync(path.join(vault, 'index'))) {
      const idx = JSON.parse(fs.readFileSync(path.join(vault, 'index', id), 'utf8')) as { blobs: Array<[string, number, number]> };
      const at = idx.blobs.find(([hash]) => hash === victim);
      if (!at) continue;
      const pack = path.join(vault, 'packs', id.slice(0, 2), id);
      const bytes = fs.readFileSync(pack);
      bytes[at[1]] ^= 0xff;
      fs.writeFileSync(pack, bytes);
      damaged = true;
    }
    expect(damaged).toBe(true);
    const fresh = path.join(tempDir(), 'new');
    const existing = path.join(tempDir(), 'existing');
    fs.mkdirSync(path.join(existing, 'a'), { recursive: true }); // folders this restore did not make
    fs.mkdirSync(path.join(existing, 'shared'));
    for (const to of [fresh, existing]) {
      const r = await h.run(src, 'restore', src, '--to', to, '--json');
      expect(r.exitCode, to).not.toBe(0);
      const records = jsonl(r.stdout);
      expect(records.filter((x) => x.type === 'error'), to).toEqual([expect.objectContaining({ code: 'corrupt', path: 'a/own3.txt' })]);
      expect(records.at(-1), to).toMatchObject({ type: 'summary', restored: 32, errors: 1 });
      expect(fs.existsSync(path.join(to, 'a/own3.txt')), to).toBe(false);
      expect(fs.readFileSync(path.join(to, 'a/own2.txt')), to).toEqual(fs.readFileSync(path.join(src, 'a/own2.txt')));
      expect(fs.readdirSync(to).filter((n) => n.startsWith('.hoard-restore')), to).toEqual([]);
    }
  }, 60_000);

  it('tracking a parent absorbs tracked folders inside it, their history kept', async () => {
    const h = makeHost();
    const top = path.join(tempDir(), 'home');
    writeTree(path.join(top, 'docs'), 'a', 3);
    writeTree(path.join(top, 'music'), 'b', 3);
    await h.summary(top, 'backup', path.join(top, 'docs'));
    fs.writeFileSync(path.join(top, 'docs/a/own1.txt'), 'second\n');
    await h.summary(top, 'backup', '--all');
    const tracked = jsonl((await h.ok(top, 'dir', 'init', top)).stdout)[0]!;
    expect(tracked).toMatchObject({ path: top, absorbed: [path.join(top, 'docs')] });
    // The child's history is the parent's now; nothing it held is sent again.
    expect(jsonl((await h.ok(top, 'log', 'docs/a/own1.txt', '--json')).stdout).map((v) => v.version)).toEqual([1, 2]);
    const next = await h.summary(top, 'backup', '--all');
    expect(next.sentFiles).toBe(10); // music's own ten texts only; everything else is in the vault already
    expect(jsonl((await h.ok(path.join(top, 'docs'), 'dir', 'init')).stdout)[0]).toMatchObject({ path: top, already: true });
    const to = path.join(tempDir(), 'all');
    await h.summary(top, 'restore', top, '--to', to);
    expect(treeSnapshot(to)).toEqual(treeSnapshot(top));
  }, 60_000);

  it('hoard add stages files in a tracked folder; backup then takes only what is staged; dir status tells each state', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'work');
    writeTree(src, 'a', 2);
    await h.summary(src, 'backup', src);
    fs.writeFileSync(path.join(src, 'a/own1.txt'), 'edited\n');
    fs.writeFileSync(path.join(src, 'a/own2.txt'), 'edited too\n');
    fs.writeFileSync(path.join(src, 'fresh.txt'), 'new\n');
    fs.rmSync(path.join(src, 'a/own3.txt'));
    await h.ok(path.join(src, 'a'), 'add', 'own1.txt');
    const status = async () => Object.fromEntries(jsonl((await h.ok(src, 'dir', 'status', '--deleted', '--json')).stdout).map((r) => [r.path, r.status]));
    expect(await status()).toMatchObject({ 'a/own1.txt': 'staged', 'a/own2.txt': 'modified', 'fresh.txt': 'untracked', 'a/own3.txt': 'deleted', 'a/own4.txt': 'backed-up' });
    expect(await h.summary(src, 'backup')).toMatchObject({ sentFiles: 1, deleted: 0 });
    expect(await status()).toMatchObject({ 'a/own1.txt': 'backed-up', 'a/own2.txt': 'modified', 'fresh.txt': 'untracked', 'a/own3.txt': 'deleted' });
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ sentFiles: 2, deleted: 1 });
    expect(jsonl((await h.ok(src, 'log', 'a/own3.txt', '--json')).stdout).at(-1)).toMatchObject({ deleted: true });
  }, 60_000);

  it('refuses to track a path that is missing or a file outside any tracked folder; dir list tells what is tracked', async () => {
    const h = makeHost();
    const base = tempDir();
    const src = path.join(base, 'work');
    writeTree(src, 'a', 2);
    fs.writeFileSync(path.join(base, 'loose.txt'), 'not in a tracked folder\n');
    const list = async () => jsonl((await h.ok(base, 'dir', 'list', '--json')).stdout);
    for (const args of [['backup', path.join(base, 'missing')], ['backup', src, path.join(base, 'loose.txt')], ['dir', 'init', path.join(base, 'missing')]]) {
      const r = await h.run(base, ...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack
      expect(r.stderr).toMatch(/no such file or folder|is not a folder/);
    }
    expect(await list()).toEqual([]); // not even the good folder named beside the bad one
    expect(await h.summary(base, 'backup', src)).toMatchObject({ backup: 1, files: 15, newFiles: 15 });
    // Inside a tracked folder, a file or a mistyped name is checked too; a file there backs up its folder.
    expect((await h.run(base, 'backup', path.join(src, 'a', 'typo'))).exitCode).toBe(2);
    expect(await h.summary(base, 'backup', path.join(src, 'a', 'own1.txt'))).toMatchObject({ backup: 2, newFiles: 0 });
    expect(await list()).toEqual([{ type: 'tracked', path: src, files: 15, bytes: expect.any(Number), lastBackup: expect.stringMatching(/^\d{4}-/), removedAt: null }]);
  }, 60_000);

  it('dir remove stops backing a folder up (gone from disk, it is no error); its history restores; init takes it up again', async () => {
    const h = makeHost();
    const base = tempDir();
    const [keep, old] = [path.join(base, 'keep'), path.join(base, 'old')];
    writeTree(keep, 'k', 2);
    writeTree(old, 'o', 2);
    await h.summary(base, 'backup', keep, old);
    const before = treeSnapshot(old);
    fs.rmSync(old, { recursive: true });
    const gone = await h.run(base, 'backup', '--all', '--json');
    expect(gone.exitCode).toBe(1); // a tracked folder that is gone is an error...
    expect((await h.run(base, 'dir', 'remove', path.join(old, 'o'))).exitCode).toBe(2); // only the tracked folder itself
    expect((await h.ok(base, 'dir', 'remove', old, '--json')).stdout).toMatch(/"type":"untracked"/);
    // ...until removed; and the vault's copy of the state learns it (a new metadata version), once.
    expect(await h.summary(base, 'backup', '--all')).toMatchObject({ files: 15, errors: 0, metadata: expect.any(String) });
    expect(await h.summary(base, 'backup', '--all')).not.toHaveProperty('metadata');
    const listed = jsonl((await h.ok(base, 'dir', 'list', '--json')).stdout);
    expect(listed.map((t) => [t.path, t.removedAt === null])).toEqual([
      [keep, true],
      [old, false],
    ]);
    // Its history is still there: restored whole, identical to what was backed up.
    await h.summary(base, 'restore', old, '--to', path.join(base, 'back'));
    expect(treeSnapshot(path.join(base, 'back'))).toEqual(before);
    expect((await h.run(base, 'dir', 'remove', old)).exitCode).toBe(2); // not backed up any more
    // Tracked again: it carries on from its last state (the restored copy moved back: nothing new to send).
    fs.renameSync(path.join(base, 'back'), old);
    expect(await h.summary(base, 'backup', old)).toMatchObject({ files: 15, sentFiles: 0 });
    expect(jsonl((await h.ok(base, 'dir', 'list', '--json')).stdout).map((t) => t.removedAt)).toEqual([null, null]);
  }, 60_000);

  it('keeps the marks of runs of files it proved unchanged past what it records: the next backup passes over them', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'work');
    writeTree(src, 'a', 4);
    await new Promise((r) => setTimeout(r, 2100)); // past the racy window: cached hashes of these files are trusted
    await h.summary(src, 'backup', src);
    await h.summary(src, 'backup', '--all'); // proves each run unchanged file by file and marks it
    fs.writeFileSync(path.join(src, 'a/own1.txt'), 'edited\n');
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ sentFiles: 1 });
    const db = new Database(path.join(h.home, 'data/hoard/.hoard/state.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT seq, marks, (SELECT max(seq) FROM events e WHERE e.location_id = r.location_id) AS last FROM run_marks r').get() as { seq: number; marks: string; last: number };
      // Valid at the event the edit was recorded as; the run the edit is in is proved again next time.
      expect(row.seq).toBe(row.last);
      expect(Object.keys(JSON.parse(row.marks) as object).sort()).toEqual(['empty', 'shared/s0.dat']);
    } finally {
      db.close();
    }
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ sentFiles: 0, newFiles: 0, deleted: 0 });
  }, 60_000);

  it('two hosts share one vault: shared content is stored once; forget and prune keep what anyone needs', async () => {
    const vault = path.join(tempDir(), 'vault');
    const h1 = makeHost();
    const h2 = makeHost();
    for (const h of [h1, h2]) await h.ok(h.home, 'config', 'vault', 'init', 'shared', vault);
    const t1 = path.join(tempDir(), 'one');
    const t2 = path.join(tempDir(), 'two');
    writeTree(t1, 'a');
    writeTree(t2, 'b');
    await h1.summary(t1, 'backup', t1);
    const second = await h2.summary(t2, 'backup', t2);
    expect(second.newFiles).toBe(10); // b's own ten texts: not the shared files, run.sh, private or the empty file, which host 1 sent
    const unique = new Set([...Object.values(treeSnapshot(t1)), ...Object.values(treeSnapshot(t2))].map((f) => f.sha256));
    expect(vaultBlobs(vault)).toEqual([...unique].sort());

    // Host 1 rewrites a shared file twice; host 2 still has the original.
    const original = fs.readFileSync(path.join(t1, 'shared/s0.dat'));
    for (const v of ['v2', 'v3']) {
      fs.writeFileSync(path.join(t1, 'shared/s0.dat'), `${v}\n`);
      await h1.summary(t1, 'backup', '--all');
    }
    const v2 = sha(Buffer.from('v2\n'));
    expect(vaultBlobs(vault)).toContain(v2);
    const forgot = await h1.summary(t1, 'forget', '--keep-last', '1');
    expect(forgot.removed).toBe(2); // s0.dat's first two versions
    const pruned = await h1.summary(t1, 'prune', '--grace', '0');
    expect(pruned.removed).toBe(1); // v2 only: the original is host 2's too
    const blobs = vaultBlobs(vault);
    expect(blobs).not.toContain(v2);
    expect(blobs).toContain(sha(original));
    // Every remaining version still restores, on both hosts.
    const to1 = path.join(tempDir(), 'r1');
    await h1.summary(t1, 'restore', t1, '--to', to1);
    expect(treeSnapshot(to1)).toEqual(treeSnapshot(t1));
    const to2 = path.join(tempDir(), 'r2');
    await h2.summary(t2, 'restore', t2, '--to', to2);
    expect(treeSnapshot(to2)).toEqual(treeSnapshot(t2));

    // Disaster recovery: host 1 loses its state and config; the vault brings every file back.
    const id1 = jsonl((await h1.ok(t1, 'config', 'list', '--json')).stdout)[0]!.hostId as string;
    fs.rmSync(path.join(h1.home, 'config'), { recursive: true });
    fs.rmSync(path.join(h1.home, 'data'), { recursive: true });
    const listing = await h1.run(h1.home, 'restore', '--from-vault', '--vault', vault, '--to', path.join(tempDir(), 'x'), '--json');
    expect(listing.exitCode).toBe(2); // two hosts in the vault: it lists them and asks
    expect(jsonl(listing.stdout).map((r) => r.hostId).sort()).toEqual(expect.arrayContaining([id1]));
    const dr = path.join(tempDir(), 'dr');
    const recovered = await h1.summary(h1.home, 'restore', '--from-vault', '--vault', vault, '--host', id1, '--to', dr);
    expect(recovered.restored).toBe(33);
    expect(treeSnapshot(path.join(dr, t1))).toEqual(treeSnapshot(t1));
    // And this machine is that host now: backups go on.
    expect(jsonl((await h1.ok(t1, 'config', 'list', '--json')).stdout)[0]!.hostId).toBe(id1);
    expect(await h1.summary(t1, 'backup', '--all')).toMatchObject({ newFiles: 0 });
  }, 90_000);

  it('streams a large file through backup and restore with flat memory', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'big');
    const to = path.join(tempDir(), 'restored');
    fs.mkdirSync(src);
    try {
      // 768 MiB, mostly holes, with 1 MiB of random bytes every 64 MiB: held whole in memory it
      // would take the process past the bound below several times over.
      const file = path.join(src, 'video.bin');
      const size = 768 * 2 ** 20;
      const fd = fs.openSync(file, 'w');
      fs.ftruncateSync(fd, size);
      for (let at = 0; at < size; at += 64 * 2 ** 20) fs.writeSync(fd, crypto.randomBytes(2 ** 20), 0, 2 ** 20, at);
      fs.closeSync(fd);
      const hashOf = async (f: string) => {
        const hash = crypto.createHash('sha256');
        for await (const chunk of fs.createReadStream(f)) hash.update(chunk as Buffer);
        return hash.digest('hex');
      };
      const want = await hashOf(file);
      /** Peak resident memory of one hoard command (GNU time), and its summary. */
      const measured = async (...args: string[]) => {
        const r = await execa('/usr/bin/time', ['-f', '%M', path.join(BIN, 'hoard'), ...args, '--json'], { cwd: src, env: h.env, reject: false });
        expect(r.exitCode, r.stderr).toBe(0);
        return { kb: Number(r.stderr.trim().split('\n').at(-1)), summary: jsonl(r.stdout).at(-1)! };
      };
      const backup = await measured('backup', src);
      expect(backup.summary).toMatchObject({ newFiles: 1, sentBytes: size, errors: 0 });
      const restore = await measured('restore', src, '--to', to);
      expect(restore.summary).toMatchObject({ restored: 1, bytes: size, errors: 0 });
      expect(await hashOf(path.join(to, 'video.bin'))).toBe(want);
      // Measured: ~84 MB and ~81 MB. Anything that held the file would be past 768 MiB.
      expect(backup.kb, 'backup peak RSS (KB)').toBeLessThan(256 * 1024);
      expect(restore.kb, 'restore peak RSS (KB)').toBeLessThan(256 * 1024);
    } finally {
      // 2.3 GB between the three: not left in /tmp.
      for (const dir of [path.dirname(src), path.dirname(to), h.home]) fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('keeps symlinks: restored as the same links, never followed, a retargeted link a new version', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'links');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'file.txt'), 'hello\n');
    const outside = path.join(tempDir(), 'outside.txt');
    fs.writeFileSync(outside, 'keep me\n');
    fs.chmodSync(outside, 0o600);
    const links: Record<string, string> = { 'rel-link': 'sub/file.txt', 'abs-link': outside, dangling: 'nowhere/at/all', 'dir-link': 'sub', 'sub/up-link': '../sub/file.txt' };
    for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(src, name));
    await h.ok(src, 'dir', 'init');
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ errors: 0, newFiles: 6 }); // the file and five links
    const readLinks = (root: string) => Object.fromEntries(Object.keys(links).map((n) => [n, fs.lstatSync(path.join(root, n)).isSymbolicLink() ? fs.readlinkSync(path.join(root, n)) : 'not a link']));

    const to = path.join(tempDir(), 'restored');
    await h.summary(src, 'restore', src, '--to', to);
    expect(readLinks(to)).toEqual(links);
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    // Nothing was written through a link: the file it points to outside is as it was.
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me\n');
    expect(fs.statSync(outside).mode & 0o777).toBe(0o600);
    // Unchanged links are not new versions; a link pointed elsewhere is one, and its old target comes back.
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ newFiles: 0, errors: 0 });
    fs.rmSync(path.join(src, 'rel-link'));
    fs.symlinkSync('sub/elsewhere', path.join(src, 'rel-link')); // a target no other link has: new content
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ newFiles: 1, errors: 0 });
    const old = path.join(tempDir(), 'old-link');
    await h.summary(src, 'restore', path.join(src, 'rel-link'), '--version', '1', '--to', old);
    expect(fs.readlinkSync(old)).toBe('sub/file.txt');
  }, 60_000);

  it('backup killed with SIGKILL at random moments: the vault never holds a wrong blob, the next backup completes', async () => {
    const h = makeHost();
    const src = path.join(tempDir(), 'big');
    for (let i = 0; i < 400; i++) {
      fs.mkdirSync(path.join(src, `d${i % 9}`), { recursive: true });
      fs.writeFileSync(path.join(src, `d${i % 9}`, `f${i}`), crypto.randomBytes(i % 40 === 0 ? 300_000 : 2000 + i));
    }
    await h.ok(src, 'dir', 'init');
    // Each round brings new content (a pack's worth of work); kills land anywhere within the
    // time an uninterrupted round takes.
    // And 60 files swap contents with others (content the vault holds): with --record-every 20
    // they are recorded during the scan, so kills land in those records too.
    const newContent = (tag: string) => {
      fs.mkdirSync(path.join(src, tag), { recursive: true });
      for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, tag, `f${i}`), crypto.randomBytes(20_000 + i));
      const first = (Number(/\d+/.exec(tag)?.[0] ?? 0) * 7) % 140;
      for (let i = first; i < first + 60; i += 2) {
        const [a, b] = [i, i + 1].map((n) => path.join(src, `d${n % 9}`, `f${n}`));
        const [da, db] = [fs.readFileSync(a!), fs.readFileSync(b!)];
        fs.writeFileSync(a!, db);
        fs.writeFileSync(b!, da);
      }
    };
    // The first backup (the whole tree) is slower than a round: timing it would put most
    // kills after a round had already finished.
    await h.summary(src, 'backup', '--all');
    newContent('round-timed');
    const started = Date.now();
    await h.summary(src, 'backup', '--all', '--record-every', '20');
    let roundMs = Date.now() - started;
    let killed = 0;
    for (let round = 0; round < 20; round++) {
      newContent(`round-${round}`);
      const child = execa(path.join(BIN, 'hoard'), ['backup', '--all', '--json', '--record-every', '20'], { cwd: src, env: h.env, reject: false, detached: true });
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* done already */
        }
      }, 20 + Math.floor(Math.random() * roundMs));
      const r = await child;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') killed++;
      // A round that finished before its kill shows how long rounds take now.
      else roundMs = Math.min(roundMs, r.durationMs);
      vaultBlobs(path.join(h.home, 'data', 'hoard', 'vault'));
    }
    expect(killed, `rounds killed (an uninterrupted one took ${roundMs} ms)`).toBeGreaterThan(3);
    const last = await h.summary(src, 'backup', '--all');
    expect(last.errors).toBe(0);
    expect(await h.summary(src, 'backup', '--all')).toMatchObject({ newFiles: 0 });
    const to = path.join(tempDir(), 'restored');
    await h.summary(src, 'restore', src, '--to', to);
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
  }, 180_000);
});
