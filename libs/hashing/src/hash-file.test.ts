import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hashFile } from './hash-file.js';
import { HashPool } from './pool.js';
import { tempDir } from '../../../test/support/trees.js';

const sha256 = (data: Buffer) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

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
    fs.writeFileSync(file, crypto.randomBytes(32 << 20));
    // Another process appends continuously while we read 32 MB in 64 KB steps.
    const writer = spawn('sh', ['-c', `while :; do printf x >> '${file}'; done`], { stdio: 'ignore' });
    // Read only once it is appending (a fixed wait can end before it starts on a loaded machine).
    for (let waited = 0; fs.statSync(file).size === 32 << 20 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
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
});
