import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hashFile } from './hash-file.js';
import { HashPool } from './pool.js';
import type { HashOutcome } from './hash-file.js';
import { hashFiles } from '@hoard/native';
import { tempDir, writeHostileTree, writeNonUtf8File } from '../../../test/support/trees.js';

const sha256 = (data: Buffer) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

/**
 * A file of `size` random bytes that another process appends to until killed, returned once
 * it is appending (a fixed wait can end before it starts on a loaded machine).
 */
async function appending(file: string, size: number): Promise<ChildProcess> {
  fs.writeFileSync(file, crypto.randomBytes(size));
  const writer = spawn('sh', ['-c', `while :; do printf x >> '${file}'; done`], { stdio: 'ignore' });
  for (let waited = 0; fs.statSync(file).size === size && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  return writer;
}

describe('hashFile', () => {
  it('hashes in chunks smaller than the file, equal to a one-shot sha256', () => {
    const dir = tempDir();
    const data = crypto.randomBytes(100_003);
    fs.writeFileSync(path.join(dir, 'f'), data);
    const outcome = hashFile(path.join(dir, 'f'), 'sha256', Buffer.alloc(4096));
    expect(outcome).toMatchObject({ ok: true, hash: sha256(data), state: { size: data.length } });
  });

  it('refuses to follow a symlink put where a file was', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'target'), 'secret');
    fs.symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
    expect(hashFile(path.join(dir, 'link'), 'sha256', Buffer.alloc(64))).toMatchObject({ ok: false, code: 'ELOOP' });
  });

  it('reports a file that vanished', () => {
    expect(hashFile('/nonexistent/hoard', 'sha256', Buffer.alloc(64))).toMatchObject({ ok: false, code: 'ENOENT' });
  });

  it('never gives a hash for a file that changes while it is read', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'growing');
    // Another process appends continuously while we read 32 MB in 64 KB steps.
    const writer = await appending(file, 32 << 20);
    try {
      const outcome = hashFile(file, 'sha256', Buffer.alloc(64 << 10));
      expect(outcome).toMatchObject({ ok: false, code: 'changed-while-reading' });
    } finally {
      writer.kill('SIGKILL');
    }
  });
});

describe('HashPool', () => {
  it('hashes batches on threads, one outcome per file in order', async () => {
    const dir = tempDir();
    const datas = Array.from({ length: 20 }, (_, i) => crypto.randomBytes(i * 1000));
    datas.forEach((d, i) => fs.writeFileSync(path.join(dir, `f${i}`), d));
    const pool = new HashPool({ threads: 2 });
    try {
      const [a, b] = await Promise.all([
        pool.hash('sha256', datas.slice(0, 10).map((_, i) => path.join(dir, `f${i}`)), 0),
        pool.hash('sha256', [...datas.slice(10).map((_, i) => path.join(dir, `f${i + 10}`)), path.join(dir, 'missing')], 0),
      ]);
      expect([...a!, ...b!].map((o) => (o.ok ? o.hash : o.code))).toEqual([...datas.map(sha256), 'ENOENT']);
    } finally {
      await pool.close();
    }
  });

  it('hands back the very bytes it hashed for the files asked to be kept', async () => {
    const dir = tempDir();
    const datas = Array.from({ length: 12 }, (_, i) => crypto.randomBytes(1 + i * 3000));
    datas.forEach((d, i) => fs.writeFileSync(path.join(dir, `f${i}`), d));
    // f5 grew after the scan said 10 bytes: hashed as it is now, its bytes not kept (no room).
    const keep = datas.map((d, i) => (i === 5 ? 10 : i === 7 ? -1 : d.length));
    const pool = new HashPool({ threads: 2 });
    try {
      const outcomes = await pool.hash('sha256', datas.map((_, i) => path.join(dir, `f${i}`)), 0, keep);
      outcomes.forEach((o, i) => {
        expect(o).toMatchObject({ ok: true, hash: sha256(datas[i]!) });
        const data = o.ok ? o.data : undefined;
        if (i === 5 || i === 7) expect(data).toBeUndefined();
        else expect(Buffer.compare(data!, datas[i]!)).toBe(0);
      });
    } finally {
      await pool.close();
    }
  });

  it('answers for each file what hashFile answers, from the native hasher where it was built', async () => {
    if (!hashFiles) expect(process.platform).not.toBe('linux'); // built by npm install on Linux
    const dir = tempDir();
    const rels = [...writeHostileTree(dir).keys()];
    const sizes = { empty: 0, 'chunk-1': (2 << 20) - 1, chunk: 2 << 20, 'chunk+1': (2 << 20) + 1, big: 5 * (1 << 20) + 3 };
    let t = 1_500_000_000.123;
    for (const [name, size] of Object.entries(sizes)) {
      fs.writeFileSync(path.join(dir, name), crypto.randomBytes(size));
      fs.utimesSync(path.join(dir, name), t, (t += 7.25)); // each time its own, none equal to another
    }
    fs.symlinkSync('empty', path.join(dir, 'link'));
    fs.mkdirSync(path.join(dir, 'folder'));
    rels.push(...Object.keys(sizes), 'link', 'folder', 'missing');
    const files: Array<string | Buffer> = [...rels.map((r) => path.join(dir, r)), writeNonUtf8File(dir, 'raw bytes named')];
    // A first read moves the atimes, which later reads (relatime) leave as they are: both
    // answers below then see the same atimes.
    for (const f of files) if (fs.lstatSync(f, { throwIfNoEntry: false })?.isFile()) fs.readFileSync(f);
    const expected = files.map((f) => hashFile(f, 'sha256', Buffer.alloc(64 << 10)));
    const keep = files.map((f, i) => (i % 2 ? (fs.lstatSync(f, { throwIfNoEntry: false })?.size ?? 0) : -1));
    const pool = new HashPool({ threads: 2 });
    try {
      const outcomes = await pool.hash('sha256', files, 0, keep);
      const comparable = (o: HashOutcome, withData: boolean) =>
        o.ok ? { hash: o.hash, state: o.state, data: withData ? o.data?.toString('hex') : undefined } : { code: o.code };
      expect(outcomes.map((o) => comparable(o, false))).toEqual(expected.map((o) => comparable(o, false)));
      expect(expected.map((o) => o.ok)).toEqual(files.map((f) => fs.lstatSync(f, { throwIfNoEntry: false })?.isFile() === true));
      expect(outcomes.slice(-4).map((o) => (o.ok ? 'ok' : o.code))).toEqual(['ELOOP', 'not-a-file', 'ENOENT', 'ok']);
      // Kept bytes are the file's bytes, for the files asked (the odd ones).
      outcomes.forEach((o, i) => {
        if (!o.ok) return;
        expect(o.data === undefined, String(files[i])).toBe(i % 2 === 0);
        if (o.data) expect(o.data.equals(fs.readFileSync(files[i]!)), String(files[i])).toBe(true);
      });
    } finally {
      await pool.close();
    }
  });

  it('never gives a hash for a file that changes while the pool reads it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'growing');
    const writer = await appending(file, 64 << 20);
    const pool = new HashPool({ threads: 1 });
    try {
      const [outcome] = await pool.hash('sha256', [file], 64 << 20);
      expect(outcome).toMatchObject({ ok: false, code: 'changed-while-reading' });
    } finally {
      writer.kill('SIGKILL');
      await pool.close();
    }
  });
});
