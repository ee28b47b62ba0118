import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, hoardEnv, jsonl } from './support/cli.js';
import { snapshotNames, treeSnapshot } from './support/compare.js';
import { tempDir } from './support/trees.js';

const env = hoardEnv({ XDG_CACHE_HOME: tempDir() });
const hoard = (cwd: string, ...args: string[]) => execa(path.join(BIN, 'hoard'), args, { cwd, env, reject: false });

function writeFiles(root: string, round: number): void {
  for (let i = 0; i < 600; i++) {
    const dir = path.join(root, `d${i % 13}`);
    fs.mkdirSync(dir, { recursive: true });
    // Each round rewrites a slice, adds new files and renames some: there is always work to interrupt.
    if (round === 0 || i % 10 === round % 10) fs.writeFileSync(path.join(dir, `f${i}.bin`), crypto.randomBytes(i % 50 === 0 ? 400_000 : 3000 + i));
  }
  if (round > 0) {
    fs.writeFileSync(path.join(root, `new-${round}.bin`), crypto.randomBytes(50_000));
    const from = path.join(root, 'd0', `f${(round * 13) % 600}.bin`);
    if (fs.existsSync(from)) fs.renameSync(from, path.join(root, `moved-${round}.bin`));
  }
}

/** Rule 1: everything in the far store is exactly the content its name says. */
function storeIsSound(repo: string): void {
  const objects = path.join(repo, '.hoard', 'objects');
  if (!fs.existsSync(objects)) return;
  for (const rel of fs.readdirSync(objects, { recursive: true }) as string[]) {
    const file = path.join(objects, rel);
    if (!fs.statSync(file).isFile()) continue;
    const hex = path.basename(rel);
    expect(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'), `store blob ${rel}`).toBe(hex);
  }
}

function dbIsSound(repo: string): void {
  const db = new Database(path.join(repo, '.hoard', 'state.db'), { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  } finally {
    db.close();
  }
}

describe('push killed with SIGKILL at random moments', () => {
  it('never stores a blob that does not match its id, and the next push completes and verifies', async () => {
    const src = tempDir();
    const far = path.join(tempDir(), 'far');
    writeFiles(src, 0);
    expect((await hoard(src, 'init')).exitCode).toBe(0);
    expect((await hoard(src, 'remote', 'add', 'far', far, '--init')).exitCode).toBe(0);
    let interrupted = 0;
    for (let round = 0; round < 20; round++) {
      if (round > 0) writeFiles(src, round);
      const child = execa(path.join(BIN, 'hoard'), ['push', 'far', '--json'], { cwd: src, env, reject: false, detached: true });
      const delay = 30 + Math.floor(Math.random() * 2500);
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL'); // the whole pipeline, both repositories' tools
        } catch {
          /* finished already */
        }
      }, delay);
      const r = await child;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') interrupted++;
      storeIsSound(far);
      dbIsSound(far);
      dbIsSound(src);
      expect((await hoard(far, 'fsck', '--state')).exitCode).toBe(0);
      expect((await hoard(src, 'fsck', '--state')).exitCode).toBe(0);
    }
    expect(interrupted).toBeGreaterThan(5); // most moments fell inside a push
    const last = await hoard(src, 'push', 'far', '--json');
    expect(last.exitCode, last.stderr).toBe(0);
    expect(jsonl(last.stdout).at(-1)).toMatchObject({ type: 'summary', errors: 0 });
    const check = await hoard(src, 'fsck', '--remote', 'far');
    expect(check.exitCode, check.stdout).toBe(0);
    expect(jsonl(check.stdout).at(-1)).toMatchObject({ type: 'summary', errors: 0, changed: 0 });
    expect(snapshotNames(treeSnapshot(far))).toEqual(snapshotNames(treeSnapshot(src)));
    expect(treeSnapshot(far)).toEqual(treeSnapshot(src));
    storeIsSound(far);
  }, 240_000);
});
