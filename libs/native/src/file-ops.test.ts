import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir, writeHostileTree, NON_UTF8_NAME } from '../../../test/support/trees.js';
import { copyFiles, HASHED, hashFiles, KEEP_TIMES, nativeError, nameList, NOT_AS_RECORDED, placeFiles, PLACED, renameFiles, WRITE_META, writeBlobs, writeDirect } from './index.js';

const pairsOf = nameList;
const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
const names = (errnos: Int32Array) => [...errnos].map((e) => (e ? (ERRNO_NAMES.get(e) ?? String(e)) : 'ok'));

describe('native copier (copyFiles)', () => {
  it('copies hostile names byte for byte into folders it makes, with modes and, asked, times', async () => {
    if (!copyFiles) return expect(process.platform).not.toBe('linux'); // built by npm install on Linux
    const src = tempDir();
    const dst = path.join(tempDir(), 'new', 'place');
    const files = writeHostileTree(src);
    const rawFrom = Buffer.concat([Buffer.from(`${src}/`), NON_UTF8_NAME]);
    fs.writeFileSync(rawFrom, 'not utf-8 named\n');
    const big = path.join(src, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    fs.chmodSync(path.join(src, 'empty'), 0o751);
    let t = 1_500_000_000;
    for (const rel of [...files.keys(), 'big.bin']) fs.utimesSync(path.join(src, rel), t, (t += 3.25));
    const rels = [...files.keys(), 'big.bin'];
    const pairs: Array<[string | Buffer, string | Buffer]> = rels.map((rel) => [path.join(src, rel), path.join(dst, rel)]);
    pairs.push([rawFrom, Buffer.concat([Buffer.from(`${dst}/raw/`), NON_UTF8_NAME])]);
    // The sources as they were: reading them for the copy may move their atimes.
    const before = new Map(rels.map((rel) => [rel, fs.statSync(path.join(src, rel))]));
    expect(names(await copyFiles(pairsOf(pairs), KEEP_TIMES))).toEqual(pairs.map(() => 'ok'));
    for (const rel of rels) {
      const [a, b] = [path.join(src, rel), path.join(dst, rel)];
      const [sa, sb] = [before.get(rel)!, fs.statSync(b)];
      expect([sb.mode, sb.mtimeMs, sb.atimeMs], rel).toEqual([sa.mode, sa.mtimeMs, sa.atimeMs]);
      expect(fs.readFileSync(b).equals(fs.readFileSync(a)), rel).toBe(true);
    }
    expect(fs.readFileSync(Buffer.concat([Buffer.from(`${dst}/raw/`), NON_UTF8_NAME]), 'utf8')).toBe('not utf-8 named\n');
    // Folders it had to make are private, as staging folders are.
    expect(fs.statSync(path.join(dst, 'raw')).mode & 0o777).toBe(0o700);
    // Without KEEP_TIMES the copy is new: its mtime is now, not the source's.
    const plain = path.join(dst, 'plain-copy');
    expect(names(await copyFiles(pairsOf([[big, plain]]), 0))).toEqual(['ok']);
    expect(fs.statSync(plain).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('refuses a symlink or fifo as source, never writes through a symlink, and reports each pair', async () => {
    if (!copyFiles) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, 'not to be sent\n');
    fs.writeFileSync(path.join(dir, 'a'), 'a\n');
    fs.symlinkSync(secret, path.join(dir, 'link'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    // A destination that is a symlink to a file outside: the copy must not land there.
    const outside = path.join(tempDir(), 'outside');
    fs.writeFileSync(outside, 'untouched\n');
    fs.mkdirSync(path.join(dir, 'to'));
    fs.symlinkSync(outside, path.join(dir, 'to', 'trap'));
    fs.writeFileSync(path.join(dir, 'to', 'old'), 'an older, longer partial copy\n');
    const result = await copyFiles(
      pairsOf([
        [path.join(dir, 'link'), path.join(dir, 'to', 'l')],
        [path.join(dir, 'fifo'), path.join(dir, 'to', 'f')],
        [path.join(dir, 'a'), path.join(dir, 'to', 'trap')],
        [path.join(dir, 'gone'), path.join(dir, 'to', 'g')],
        [path.join(dir, 'a'), path.join(dir, 'to', 'old')],
        [path.join(dir, 'a'), path.join(dir, 'a', 'under-a-file')],
      ]),
      KEEP_TIMES,
    );
    expect(names(result)).toEqual(['ELOOP', 'EINVAL', 'ELOOP', 'ENOENT', 'ok', 'ENOTDIR']);
    expect(fs.readFileSync(outside, 'utf8')).toBe('untouched\n');
    expect(fs.readlinkSync(path.join(dir, 'to', 'trap'))).toBe(outside);
    expect(fs.readdirSync(path.join(dir, 'to')).sort()).toEqual(['old', 'trap']);
    expect(fs.readFileSync(path.join(dir, 'to', 'old'), 'utf8')).toBe('a\n'); // replaced whole, not overlaid
  });

  it('copies a source only when it is the regular file of the size and mtime recorded of it', async () => {
    if (!copyFiles) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const to = path.join(tempDir(), 'to');
    const put = (name: string, text: string, mtime: number) => {
      fs.writeFileSync(path.join(dir, name), text);
      fs.utimesSync(path.join(dir, name), mtime, mtime);
      return fs.statSync(path.join(dir, name));
    };
    const same = put('same', 'as recorded\n', 1_600_000_000.25);
    const longer = put('longer', 'grew since it was recorded\n', 1_600_000_000);
    const touched = put('touched', 'same size\n', 1_600_000_100);
    const unchecked = put('unchecked', 'no expectation\n', 1_600_000_000);
    fs.symlinkSync(path.join(dir, 'same'), path.join(dir, 'link'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const rows: Array<[string, number, number]> = [
      ['same', same.size, same.mtimeMs],
      ['longer', 12, longer.mtimeMs], // recorded at 12 bytes
      ['touched', touched.size, touched.mtimeMs - 2], // recorded 2 ms earlier
      ['unchecked', NaN, NaN],
      ['link', same.size, same.mtimeMs], // a symlink now where that file was recorded
      ['fifo', 0, 0],
      ['gone', 5, 5],
    ];
    const result = await copyFiles(pairsOf(rows.map(([n]) => [path.join(dir, n), path.join(to, n)])), KEEP_TIMES, new Float64Array(rows.flatMap(([, size, mtime]) => [size, mtime])));
    expect([...result].map((e) => (e === NOT_AS_RECORDED ? 'not as recorded' : names(Int32Array.of(e))[0]))).toEqual(['ok', 'not as recorded', 'not as recorded', 'ok', 'not as recorded', 'not as recorded', 'ENOENT']);
    // Nothing is made for a source refused: no empty or partial file at its place.
    expect(fs.readdirSync(to).sort()).toEqual(['same', 'unchecked']);
    expect(fs.readFileSync(path.join(to, 'same'), 'utf8')).toBe('as recorded\n');
    expect(fs.statSync(path.join(to, 'unchecked')).mtimeMs).toBe(unchecked.mtimeMs);
    // The expectations must be two numbers a pair.
    expect(() => copyFiles!(pairsOf([[path.join(dir, 'same'), path.join(to, 'x')]]), 0, new Float64Array(3))).toThrow(/mtimeMs\] per pair/);
    expect(fs.existsSync(path.join(to, 'x'))).toBe(false);
  });

  it('rejects a list that is not whole pairs before copying anything', async () => {
    if (!copyFiles) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a'), 'a\n');
    expect(() => copyFiles!(Buffer.from(`${dir}/a\0${dir}/b\0${dir}/a\0`), 0)).toThrow(/pairs/);
    expect(() => copyFiles!(Buffer.from(`${dir}/a\0${dir}/b`), 0)).toThrow(/pairs/);
    expect(fs.existsSync(path.join(dir, 'b'))).toBe(false);
  });
});

describe('native mover (renameFiles)', () => {
  it('moves each file in only where nothing is: what is in the way, even a dangling symlink, stays as it was', async () => {
    if (!renameFiles) return expect(process.platform).not.toBe('linux');
    const from = tempDir();
    const to = tempDir();
    const hostile = ['-f $(touch pwned) q"', 'line\nbreak', 'café', NON_UTF8_NAME];
    const pairs: Array<[string | Buffer, string | Buffer]> = hostile.map((n) => {
      const name = typeof n === 'string' ? n : Buffer.from(n);
      const a = typeof name === 'string' ? path.join(from, name) : Buffer.concat([Buffer.from(`${from}/`), name]);
      const b = typeof name === 'string' ? path.join(to, name) : Buffer.concat([Buffer.from(`${to}/`), name]);
      fs.writeFileSync(a, `content of ${String(n)}`);
      return [a, b];
    });
    for (const n of ['taken', 'dangling']) fs.writeFileSync(path.join(from, n), 'ours');
    fs.writeFileSync(path.join(to, 'taken'), 'theirs');
    fs.symlinkSync(path.join(to, 'nowhere'), path.join(to, 'dangling'));
    pairs.push([path.join(from, 'taken'), path.join(to, 'taken')], [path.join(from, 'dangling'), path.join(to, 'dangling')], [path.join(from, 'absent'), path.join(to, 'absent')]);
    const errnos = await renameFiles(nameList(pairs));
    expect(names(errnos)).toEqual(['ok', 'ok', 'ok', 'ok', 'EEXIST', 'EEXIST', 'ENOENT']);
    hostile.forEach((n, i) => {
      expect(fs.readFileSync(pairs[i]![1]!, 'utf8')).toBe(`content of ${String(n)}`);
      expect(fs.existsSync(pairs[i]![0]!)).toBe(false);
    });
    expect(fs.readFileSync(path.join(to, 'taken'), 'utf8')).toBe('theirs');
    expect(fs.readlinkSync(path.join(to, 'dangling'))).toBe(path.join(to, 'nowhere'));
    expect(fs.existsSync(path.join(to, 'nowhere'))).toBe(false);
    expect(fs.readFileSync(path.join(from, 'taken'), 'utf8')).toBe('ours');
    expect(() => renameFiles!(Buffer.from('/only-one\0'))).toThrow(/pairs of NUL-terminated from\/to paths/);
  });
});

describe('native placer (placeFiles)', () => {
  it('gives a file its mode and mtime and renames it in only where nothing is, never following a symlink', async () => {
    if (!placeFiles) return expect(process.platform).not.toBe('linux');
    const store = tempDir();
    const tree = tempDir();
    const blob = (name: string) => {
      fs.writeFileSync(path.join(store, name), `content of ${name}\n`, { mode: 0o600 });
      return path.join(store, name);
    };
    const [fresh, taken, linked, missing] = [blob('fresh'), blob('taken'), blob('linked'), path.join(store, 'missing')];
    fs.writeFileSync(path.join(tree, 'taken.txt'), 'a file already there\n');
    const outside = path.join(tempDir(), 'outside');
    fs.writeFileSync(outside, 'untouched\n');
    fs.symlinkSync(outside, path.join(tree, 'link.txt'));
    fs.symlinkSync(outside, path.join(store, 'symlink'));
    execFileSync('mkfifo', [path.join(store, 'fifo')]);
    const raw = Buffer.concat([Buffer.from(`${tree}/`), NON_UTF8_NAME]);
    const rawBlob = blob('raw');
    const mtimeMs = 1_600_000_000_123.456;
    const pairs: Array<[string | Buffer, string | Buffer]> = [
      [fresh, path.join(tree, 'fresh.txt')],
      [taken, path.join(tree, 'taken.txt')],
      [linked, path.join(tree, 'link.txt')],
      [missing, path.join(tree, 'missing.txt')],
      [path.join(store, 'symlink'), path.join(tree, 'via-symlink.txt')],
      [path.join(store, 'fifo'), path.join(tree, 'fifo.txt')],
      [rawBlob, raw],
    ];
    const modes = [0o755, 0o644, 0o644, 0o644, 0o644, 0o644, 0o640];
    const placed = await placeFiles(nameList(pairs), new Float64Array(modes.flatMap((m) => [m, mtimeMs])));
    const row = (i: number) => [...placed.subarray(i * PLACED, (i + 1) * PLACED)];
    expect(pairs.map((_, i) => (row(i)[0] ? util.getSystemErrorName(-row(i)[0]!) : 'ok'))).toEqual(['ok', 'EEXIST', 'EEXIST', 'ENOENT', 'ELOOP', 'EINVAL', 'ok']);
    // Placed: the blob itself, with the mode and mtime asked for, and what it reports is what is there.
    for (const [i, dest] of [[0, path.join(tree, 'fresh.txt')], [6, raw]] as const) {
      const st = fs.lstatSync(dest);
      expect(row(i).slice(1)).toEqual([st.size, st.mode, st.mtimeMs, st.ino]);
      expect(st.mode & 0o7777).toBe(modes[i]);
      expect(st.mtimeMs).toBe(fs.statSync(path.join(tree, 'fresh.txt')).mtimeMs);
      expect(Math.abs(st.mtimeMs - mtimeMs)).toBeLessThan(0.001);
    }
    expect(fs.existsSync(fresh)).toBe(false);
    expect(fs.readFileSync(path.join(tree, 'fresh.txt'), 'utf8')).toBe('content of fresh\n');
    // Refused: nothing in the way replaced or followed, nothing taken from the store.
    expect(fs.readFileSync(path.join(tree, 'taken.txt'), 'utf8')).toBe('a file already there\n');
    expect(fs.readlinkSync(path.join(tree, 'link.txt'))).toBe(outside);
    expect(fs.readFileSync(outside, 'utf8')).toBe('untouched\n');
    expect([taken, linked].every((f) => fs.existsSync(f))).toBe(true);
    expect(fs.readdirSync(tree).sort()).toEqual([NON_UTF8_NAME.toString(), 'fresh.txt', 'link.txt', 'taken.txt'].sort());
  });

  it('rejects a call whose modes and times do not match its pairs', () => {
    if (!placeFiles) return expect(process.platform).not.toBe('linux');
    expect(() => placeFiles!(nameList([['/a', '/b']]), new Float64Array([0o644]))).toThrow(/mode and an mtime per pair/);
  });
});

describe('native restore writer (writeBlobs)', () => {
  /** A pack of blobs and, per blob, its place and the 32 bytes of its SHA-256. */
  const makePack = (dir: string, blobs: Buffer[]) => {
    const file = path.join(dir, 'pack');
    fs.writeFileSync(file, Buffer.concat(blobs));
    let offset = 0;
    return {
      file,
      at: blobs.map((b) => {
        const place = { offset, length: b.length, hash: crypto.createHash('sha256').update(b).digest() };
        offset += b.length;
        return place;
      }),
    };
  };
  const meta = (m: { offset: number; length: number }, o: { create?: number; uid?: number; gid?: number; chmod?: number; atimeMs?: number; mtimeMs?: number } = {}) =>
    [m.offset, m.length, o.create ?? 0o600, o.uid ?? -1, o.gid ?? -1, o.chmod ?? -1, o.atimeMs ?? 0, o.mtimeMs ?? NaN];

  it('writes verified blobs with their mode and times at their places, through its temporary name only', async () => {
    if (!writeBlobs) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const big = crypto.randomBytes(3 * 1024 * 1024 + 5);
    const pack = makePack(dir, [Buffer.from('first\n'), big, Buffer.alloc(0), Buffer.from('set-id\n')]);
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    const tmp = path.join(tree, '.tmp');
    const raw = Buffer.concat([Buffer.from(`${tree}/sub/`), NON_UTF8_NAME]);
    const dests: Array<string | Buffer> = [path.join(tree, 'a.txt'), raw, path.join(tree, 'sub', 'empty'), path.join(tree, 'sub', 'suid')];
    const metas = [
      meta(pack.at[0]!, { create: 0o640, atimeMs: 1_500_000_000_250, mtimeMs: 1_600_000_000_123.456 }),
      meta(pack.at[1]!, { create: 0o600 }), // content only: no times given
      meta(pack.at[2]!, { create: 0o644, mtimeMs: 1_000 }),
      meta(pack.at[3]!, { create: 0o755, chmod: 0o4755, mtimeMs: 2_000 }),
    ];
    const errnos = await writeBlobs(nameList(dests.map((d) => [pack.file, tmp, d])), new Float64Array(metas.flat()), Buffer.concat(pack.at.map((a) => a.hash)));
    expect(names(errnos)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const a = fs.statSync(dests[0]!); // before reading it moves the access time
    expect([a.mode & 0o7777, a.atimeMs]).toEqual([0o640 & ~process.umask(), 1_500_000_000_250]);
    expect(Math.abs(a.mtimeMs - 1_600_000_000_123.456)).toBeLessThan(0.001);
    expect(fs.readFileSync(dests[0]!, 'utf8')).toBe('first\n');
    expect(fs.readFileSync(raw).equals(big)).toBe(true);
    expect(fs.readFileSync(dests[2]!).length).toBe(0);
    expect(fs.statSync(raw).mtimeMs).toBeGreaterThan(Date.now() - 60_000); // no times asked: made now
    expect(fs.statSync(dests[2]!).mtimeMs).toBe(1_000);
    expect(fs.statSync(dests[2]!).atimeMs).toBeGreaterThan(Date.now() - 60_000); // access time 0: now
    expect(fs.statSync(dests[3]!).mode & 0o7777).toBe(0o4755);
    expect(fs.existsSync(tmp)).toBe(false);
  });

  it('sets each time in the very millisecond asked, whole milliseconds included', async () => {
    if (!writeBlobs) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const pack = makePack(dir, [Buffer.from('t\n')]);
    // Whole milliseconds, and just inside one or just before its end, at today's times:
    // as seconds in a double, truncated to the microsecond, many came back 1 ms early.
    const times = Array.from({ length: 300 }, (_, i) => 1_796_096_893_000 + i * 7 + [0, 0.0001, 0.9996][i % 3]!);
    const dests = times.map((_, i) => path.join(dir, `f${i}`));
    const errnos = await writeBlobs(nameList(dests.map((d) => [pack.file, path.join(dir, '.tmp'), d])), new Float64Array(times.flatMap((t) => meta(pack.at[0]!, { atimeMs: t, mtimeMs: t }))), Buffer.concat(times.map(() => pack.at[0]!.hash)));
    expect(names(errnos).every((n) => n === 'ok')).toBe(true);
    const off = dests.flatMap((d, i) => {
      const st = fs.statSync(d);
      return Math.floor(st.mtimeMs) === Math.floor(times[i]!) && Math.floor(st.atimeMs) === Math.floor(times[i]!) && Math.abs(st.mtimeMs - times[i]!) < 0.0015 ? [] : [[times[i], st.mtimeMs]];
    });
    expect(off).toEqual([]);
  });

  it('refuses a blob that is not what its id says or that the pack lacks, and never writes through or over anything', async () => {
    if (!writeBlobs) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const pack = makePack(dir, [Buffer.from('one\n'), Buffer.from('two\n'), Buffer.from('three\n')]);
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(tree);
    const tmp = path.join(tree, '.tmp');
    // A symlink left at the temporary name, to a file outside: removed, never written through.
    const outside = path.join(tempDir(), 'outside');
    fs.writeFileSync(outside, 'untouched\n');
    fs.symlinkSync(outside, tmp);
    fs.writeFileSync(path.join(tree, 'taken'), 'was here first\n');
    const cases: Array<[string, number[], Buffer]> = [
      ['wrong-hash', meta(pack.at[0]!), pack.at[1]!.hash],
      ['past-the-end', meta({ offset: pack.at[2]!.offset, length: pack.at[2]!.length + 1 }), pack.at[2]!.hash],
      ['taken', meta(pack.at[1]!), pack.at[1]!.hash],
      ['good', meta(pack.at[2]!), pack.at[2]!.hash],
    ];
    const errnos = await writeBlobs(nameList(cases.map(([name]) => [pack.file, tmp, path.join(tree, name)])), new Float64Array(cases.flatMap((c) => c[1])), Buffer.concat(cases.map((c) => c[2])));
    expect(names(errnos)).toEqual(['EBADMSG', 'EBADMSG', 'EEXIST', 'ok']);
    expect(fs.readFileSync(path.join(tree, 'taken'), 'utf8')).toBe('was here first\n');
    expect(fs.readFileSync(path.join(tree, 'good'), 'utf8')).toBe('three\n');
    expect(fs.readFileSync(outside, 'utf8')).toBe('untouched\n');
    expect(fs.readdirSync(tree).sort()).toEqual(['good', 'taken']);
    // A pack that is not there: each of its files reported, nothing made.
    const gone = await writeBlobs(nameList([[path.join(dir, 'no-pack'), tmp, path.join(tree, 'x')]]), new Float64Array(meta(pack.at[0]!)), pack.at[0]!.hash);
    expect(names(gone)).toEqual(['ENOENT']);
    expect(() => writeBlobs!(nameList([[pack.file, tmp]]), new Float64Array(WRITE_META), Buffer.alloc(32))).toThrow(/pack\/tmp\/dest names/);
    expect(() => writeBlobs!(nameList([[pack.file, tmp, path.join(tree, 'y')]]), new Float64Array(WRITE_META), Buffer.alloc(31))).toThrow(/32-byte hash/);
  });
});

describe('native hasher (hashFiles)', () => {
  it('refuses a call whose rooms, numbers or hashes would not fit what it was given', async () => {
    if (!hashFiles) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a'), 'abc');
    const names = nameList([[path.join(dir, 'a')]]);
    const room = Float64Array.of(4);
    expect(() => hashFiles!(names, room, Buffer.alloc(3), new Float64Array(HASHED), Buffer.alloc(32))).toThrow(/room sizes within the store/);
    expect(() => hashFiles!(names, room, Buffer.alloc(4), new Float64Array(HASHED - 1), Buffer.alloc(32))).toThrow(/HASHED numbers/);
    expect(() => hashFiles!(names, room, Buffer.alloc(4), new Float64Array(HASHED), Buffer.alloc(31))).toThrow(/32 bytes of hash/);
    expect(() => hashFiles!(names, Float64Array.of(-1), Buffer.alloc(4), new Float64Array(HASHED), Buffer.alloc(32))).toThrow(/room sizes/);
    expect(() => hashFiles!(Buffer.from('no end'), room, Buffer.alloc(4), new Float64Array(HASHED), Buffer.alloc(32))).toThrow(/NUL-terminated/);
    const [store, out, hashes] = [Buffer.alloc(4), new Float64Array(HASHED), Buffer.alloc(32)];
    await hashFiles!(names, room, store, out, hashes);
    expect([out[0], out[1], out[13], store.subarray(0, 3).toString(), hashes.toString('hex')]).toEqual([0, 3, 3, 'abc', crypto.createHash('sha256').update('abc').digest('hex')]);
  });
});

describe('native pack writer (writeDirect)', () => {
  /** Parts across every edge the writer has: empty, one byte, a block less, a block, a block more, past its 4 MB buffer. */
  const partsOf = () => [0, 1, 4095, 4096, 4097, (4 << 20) + 3, 10].map((n) => crypto.randomBytes(n));

  it('writes its parts in order, exactly their length, only where nothing is, never through a symlink', async () => {
    if (!writeDirect) return expect(process.platform).not.toBe('linux');
    const dir = tempDir();
    const file = path.join(dir, 'pack');
    const parts = partsOf();
    expect(await writeDirect(nameList([[file]]), parts, 0o600)).toBe(0);
    const st = fs.statSync(file);
    expect([st.size, st.mode & 0o777]).toEqual([parts.reduce((n, p) => n + p.length, 0), 0o600]);
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true);
    // Nothing is ever replaced: the file there stays as it was.
    expect(nativeError(await writeDirect(nameList([[file]]), [Buffer.from('other')], 0o600))[0]).toBe('EEXIST');
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true);
    fs.writeFileSync(path.join(dir, 'target'), 'kept');
    fs.symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
    expect(nativeError(await writeDirect(nameList([[path.join(dir, 'link')]]), [Buffer.from('x')], 0o600))[0]).toBe('EEXIST');
    expect(fs.readFileSync(path.join(dir, 'target'), 'utf8')).toBe('kept');
    expect(nativeError(await writeDirect(nameList([[path.join(dir, 'no', 'such', 'dir')]]), [Buffer.from('x')], 0o600))[0]).toBe('ENOENT');
    expect(await writeDirect(nameList([[path.join(dir, 'empty')]]), [], 0o640)).toBe(0);
    expect(fs.statSync(path.join(dir, 'empty')).size).toBe(0);
    expect(() => writeDirect!(nameList([[file]]), ['text' as unknown as Buffer], 0o600)).toThrow(/parts must be Buffers/);
    expect(() => writeDirect!(Buffer.from('no end'), [], 0o600)).toThrow(/NUL-terminated/);
  });

  it('leaves what it wrote out of the page cache where the file system takes O_DIRECT, and writes plainly where it does not', async () => {
    if (!writeDirect) return expect(process.platform).not.toBe('linux');
    const parts = partsOf();
    const bytes = Buffer.concat(parts);
    const cached = (file: string) => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
    const takesDirect = (dir: string) => {
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'probe')}`, 'bs=4096', 'count=1', 'oflag=direct'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    let fincore = true;
    try {
      execFileSync('fincore', ['--version'], { stdio: 'ignore' });
    } catch {
      fincore = false;
    }
    // A file system in memory (tmpfs: /dev/shm) holds every file in the page cache, and refuses
    // O_DIRECT on kernels before 6.6: the plain path there, or direct writes that stay cached.
    const inMemory = (dir: string) => ['tmpfs', 'ramfs'].includes(execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim());
    for (const dir of [tempDir(), ...(fs.existsSync('/dev/shm') ? [fs.mkdtempSync('/dev/shm/hoard-test-')] : [])]) {
      const file = path.join(dir, 'pack');
      expect(await writeDirect(nameList([[file]]), parts, 0o600), dir).toBe(0);
      // Before reading it back, which brings it into the cache.
      if (fincore && takesDirect(dir) && !inMemory(dir)) expect(cached(file), dir).toBeLessThan(bytes.length / 2);
      expect(fs.readFileSync(file).equals(bytes), dir).toBe(true);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nativeError', () => {
  it('names an errno as Node does, and the jobs\' EINVAL as a source that is not a regular file', () => {
    expect(nativeError(2)).toEqual(['ENOENT', 'ENOENT: no such file or directory']);
    expect(nativeError(22)).toEqual(['not-a-file', 'not a regular file']);
    expect(nativeError(99999)[0]).toBe('errno-99999');
  });
});
