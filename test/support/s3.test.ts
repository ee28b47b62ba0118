import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3, type S3Server } from './s3.js';
import { HOSTILE_NAMES, tempDir } from './trees.js';

const md5 = (data: Uint8Array) => crypto.createHash('md5').update(data).digest('hex');

interface Entry {
  Path: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  Hashes?: { md5?: string };
}

describe('the s3rver test fixture, driven by rclone', () => {
  let server: S3Server | undefined;
  let scratch: string;
  let src: string;
  let emptyConfig: string;
  /** The tree copied up: relative path -> content. */
  const files = new Map<string, Buffer>([
    ['a/big.bin', crypto.randomBytes(12 * 1024 * 1024 + 123)], // over the 5 MiB cutoff: 3 parts
    ['a/sub/one.txt', Buffer.from('one\n')],
    ['b.txt', Buffer.from('bee\nno final newline')],
  ]);
  const mtime = new Date('2021-03-04T05:06:07.500Z'); // a fraction that survives utimes' float seconds exactly

  beforeAll(async () => {
    scratch = tempDir('hoard-s3-test-');
    src = path.join(scratch, 'src');
    for (const [rel, content] of files) {
      fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
      fs.writeFileSync(path.join(src, rel), content);
      fs.utimesSync(path.join(src, rel), mtime, mtime);
    }
    emptyConfig = path.join(scratch, 'rclone.conf');
    fs.writeFileSync(emptyConfig, '');
    server = await startS3();
  });

  afterAll(async () => {
    await server?.stop();
    if (server) expect(fs.existsSync(server.dir)).toBe(false);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const remote = (p: string) => `s3test:${server!.bucket}/${p}`;
  const rclone = (args: string[]) =>
    execa('rclone', args, {
      env: { ...process.env, RCLONE_CONFIG: emptyConfig, ...server!.rcloneEnv },
      stdin: 'ignore',
      reject: false,
    });
  const ok = async (args: string[]) => {
    const r = await rclone(args);
    expect(r.exitCode, `rclone ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };
  const lsjson = async (p: string): Promise<Entry[]> => {
    const r = await ok(['lsjson', '-R', '--files-only', '--hash', remote(p)]);
    return (JSON.parse(r.stdout) as Entry[]).sort((x, y) => x.Path.localeCompare(y.Path));
  };
  const sizes = (entries: Entry[]) => Object.fromEntries(entries.map((e) => [e.Path, e.Size]));
  const writeList = (name: string, lines: string[]) => {
    const list = path.join(scratch, name);
    fs.writeFileSync(list, lines.map((l) => `${l}\n`).join(''));
    return list;
  };

  it('describes itself', () => {
    const s = server!;
    expect(s.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.bucket).toBe('hoard-test');
    expect(fs.statSync(s.dir).isDirectory()).toBe(true);
    expect(s.rcloneEnv.RCLONE_CONFIG_S3TEST_ENDPOINT).toBe(s.endpoint);
  });

  it('takes a tree with rclone copy, the big file as a multipart upload', async () => {
    const r = await ok(['copy', '-vv', src, remote('x')]);
    expect(r.stderr).toMatch(/a\/big\.bin: multipart upload starting chunk 3 /);
    expect(r.stderr).not.toMatch(/ERROR/);

    const entries = await lsjson('x');
    expect(sizes(entries)).toEqual({ 'a/big.bin': 12 * 1024 * 1024 + 123, 'a/sub/one.txt': 4, 'b.txt': 20 });
    for (const e of entries) {
      expect(new Date(e.ModTime).getTime(), e.Path).toBe(mtime.getTime());
      expect(e.Hashes?.md5, e.Path).toBe(md5(files.get(e.Path)!));
    }
  });

  it('gives the bytes back with rclone cat', async () => {
    for (const rel of ['b.txt', 'a/big.bin']) {
      const r = await execa('rclone', ['cat', remote(`x/${rel}`)], {
        env: { ...process.env, RCLONE_CONFIG: emptyConfig, ...server!.rcloneEnv },
        stdin: 'ignore',
        encoding: 'buffer',
      });
      expect(Buffer.from(r.stdout).equals(files.get(rel)!), rel).toBe(true);
    }
  });

  it('gives md5 sums with rclone hashsum md5, a multipart upload included', async () => {
    const r = await ok(['hashsum', 'md5', remote('x')]);
    const sums = Object.fromEntries(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => [line.slice(34), line.slice(0, 32)]),
    );
    expect(sums).toEqual(Object.fromEntries([...files].map(([rel, content]) => [rel, md5(content)])));
  });

  it('copies just the listed files with --files-from-raw --no-traverse, and single files with copyto', async () => {
    const list = writeList('copy-list', ['b.txt', 'a/sub/one.txt']);
    await ok(['copy', '--files-from-raw', list, '--no-traverse', src, remote('x2')]);
    expect(sizes(await lsjson('x2'))).toEqual({ 'a/sub/one.txt': 4, 'b.txt': 20 });

    await ok(['copyto', path.join(src, 'b.txt'), remote('x2/renamed b.txt')]);
    const r = await ok(['cat', remote('x2/renamed b.txt')]);
    expect(r.stdout).toBe('bee\nno final newline');
  });

  it('moves listed files server-side from one prefix to another with rclone move --files-from-raw', async () => {
    const list = writeList('move-list', ['big.bin', 'sub/one.txt']);
    const r = await ok(['move', '-v', '--files-from-raw', list, remote('x/a'), remote('y')]);
    // S3 has no rename: rclone moves by a server-side CopyObject, then a delete.
    for (const name of ['big.bin', 'sub/one.txt']) {
      expect(r.stderr).toContain(`${name}: Copied (server-side copy)\n`);
      expect(r.stderr).toContain(`${name}: Deleted\n`);
    }

    expect(await lsjson('x/a')).toEqual([]);
    const moved = await lsjson('y');
    expect(sizes(moved)).toEqual({ 'big.bin': 12 * 1024 * 1024 + 123, 'sub/one.txt': 4 });
    for (const e of moved) {
      expect(e.Hashes?.md5, e.Path).toBe(md5(files.get(`a/${e.Path}`)!));
      expect(new Date(e.ModTime).getTime(), e.Path).toBe(mtime.getTime());
    }
  });

  it('renames one object server-side with rclone moveto', async () => {
    const r = await ok(['moveto', '-v', remote('y/big.bin'), remote('y/big renamed.bin')]);
    expect(r.stderr).toContain('big.bin: Copied (server-side copy) to: big renamed.bin\n');
    expect(r.stderr).toContain('big.bin: Deleted\n');
    const entries = await lsjson('y');
    expect(sizes(entries)).toEqual({ 'big renamed.bin': 12 * 1024 * 1024 + 123, 'sub/one.txt': 4 });
    expect(entries[0].Hashes?.md5).toBe(md5(files.get('a/big.bin')!));
  });

  it('keeps hostile names, byte for byte', async () => {
    const hostile = path.join(scratch, 'hostile');
    fs.mkdirSync(hostile);
    // Not the 255-byte name (too long for s3rver, see below).
    const names = HOSTILE_NAMES.filter((n) => Buffer.byteLength(n) < 200).concat(['plus+amp&pct%20?q#f.txt']);
    names.forEach((n, i) => fs.writeFileSync(path.join(hostile, n), `content ${i}`));
    // --no-unicode-normalization: else rclone takes the NFC and NFD cafés for one name.
    await ok(['copy', '--no-unicode-normalization', hostile, remote('h')]);
    const stored = fs.readdirSync(path.join(server!.dir, server!.bucket, 'h'));
    await Promise.all(
      names.map(async (n, i) => {
        expect(stored, n).toContain(`${n}._S3rver_object`); // the key as it was, control characters included
        // rclone shows, and takes, control characters as their Unicode pictures: \n as U+240A.
        const shown = n.replace(/[\x00-\x1f]/g, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0)));
        const r = await ok(['cat', remote(`h/${shown}`)]);
        expect(r.stdout, n).toBe(`content ${i}`);
      }),
    );
    expect(await lsjson('h')).toHaveLength(names.length);
    await ok(['purge', remote('h')]);
  });

  it('refuses, without crashing, a key too long for s3rver to store', async () => {
    const longest = 'y'.repeat(229) + '.txt'; // 233 bytes: the most s3rver can keep
    const tooLong = 'z'.repeat(230) + '.txt';
    await ok(['copyto', path.join(src, 'b.txt'), remote(`long/${longest}`)]);
    const r = await rclone(['copyto', '--retries', '1', path.join(src, 'b.txt'), remote(`long/${tooLong}`)]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('KeyTooLongError');
    expect(sizes(await lsjson('long'))).toEqual({ [longest]: 20 });
    await ok(['purge', remote('long')]);
  });

  it('deletes with rclone delete and deletefile', async () => {
    await ok(['deletefile', remote('x2/renamed b.txt')]);
    expect(sizes(await lsjson('x2'))).toEqual({ 'a/sub/one.txt': 4, 'b.txt': 20 });
    for (const p of ['x', 'x2', 'y']) {
      await ok(['delete', remote(p)]);
      expect(await lsjson(p)).toEqual([]);
    }
    const r = await ok(['lsjson', '-R', `s3test:${server!.bucket}`]);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });
});
