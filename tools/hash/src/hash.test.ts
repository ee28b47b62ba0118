import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HashPool } from '@hoard/hashing';
import { HashCache, RACY_WINDOW_MS, cacheMigrations, openDatabase } from '@hoard/state';
import { asInputLines, itemLines, parseLine, type InputLine, type OutputItem } from '@hoard/jsonl';
import type { AnyRecord, FileRecord } from '@hoard/schema';
import { scanTree } from '../../scan/src/scan.js';
import { hashRecords } from './hash.js';
import { tempDir } from '../../../test/support/trees.js';

const pool = new HashPool({ threads: 2 });
afterAll(() => pool.close());

const sha256 = (data: Buffer | string) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

function scanLines(dir: string): string[] {
  const out: string[] = [];
  for (const batch of scanTree(dir)) for (const item of batch.flatMap(itemLines)) out.push(typeof item === 'string' ? item : JSON.stringify(item));
  return out;
}

async function run(texts: string[], cache?: HashCache): Promise<OutputItem[]> {
  async function* input(): AsyncGenerator<InputLine[]> {
    yield texts.map((t, i) => parseLine(t, i + 1));
  }
  const out: OutputItem[] = [];
  for await (const batch of hashRecords(input(), { algo: 'sha256', pool: () => pool, cacheFor: cache ? () => cache : undefined })) out.push(...batch);
  return out;
}
const parse = (items: OutputItem[]): AnyRecord[] => items.map((i) => (typeof i === 'string' ? JSON.parse(i) : i));

function tempCache(): HashCache {
  return new HashCache(openDatabase(path.join(tempDir(), 'cache.db'), cacheMigrations), 'sha256');
}

describe('hashRecords', () => {
  it('hands out the results of jobs that finished together one job at a time, in order', async () => {
    const dir = tempDir();
    const datas = Array.from({ length: 200 }, (_, i) => crypto.randomBytes(100 + i));
    datas.forEach((d, i) => fs.writeFileSync(path.join(dir, `f${String(i).padStart(3, '0')}`), d));
    async function* input(): AsyncGenerator<InputLine[]> {
      yield scanLines(dir).map((t, i) => parseLine(t, i + 1));
    }
    const sizes: number[] = [];
    const hashes: string[] = [];
    for await (const batch of hashRecords(input(), { algo: 'sha256', pool: () => pool })) {
      const files = parse(batch).filter((r) => r.type === 'file');
      sizes.push(files.length);
      hashes.push(...files.map((r) => String(r.hash)));
      // A consumer busy with each batch (a backup recording it): by the next pull, every job is done.
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(sizes).toEqual([64, 64, 64, 8]);
    expect(hashes).toEqual(datas.map(sha256));
  });

  it('adds sha256 to regular files only and passes everything else through, in order, byte for byte', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a'), 'alpha');
    fs.writeFileSync(path.join(dir, 'b'), 'beta');
    fs.symlinkSync('a', path.join(dir, 'link'));
    const scanned = scanLines(dir);
    const foreign = '{"type":"future","keep":[1,{"x":"y"}],  "spacing":"kept"}';
    const texts = [foreign, ...scanned, 'not json'];
    const out = await run(texts);
    expect(out[0]).toBe(foreign);
    const recs = parse(out.slice(1));
    expect(recs.map((r) => [r.type, r.path, r.hash])).toEqual([
      ['file', 'a', sha256('alpha')],
      ['file', 'b', sha256('beta')],
      ['file', 'link', undefined],
      ['scan', undefined, undefined],
      ['error', undefined, undefined],
    ]);
    expect(recs.at(-1)).toMatchObject({ type: 'error', tool: 'hash', code: 'bad-input', line: texts.length });
    // Everything but the added hash is the scanner's text, unchanged.
    expect(out[1]).toBe(`${scanned[0]!.slice(0, -1)},"hash":"${sha256('alpha')}"}`);
  });

  it('answers from the cache for an unchanged file without reading it', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'f'), 'real content');
    const [line] = scanLines(dir);
    const rec = JSON.parse(line!) as FileRecord;
    const cache = tempCache();
    // A cached id that differs from the content proves the answer came from the cache.
    cache.store(dir, rec, 'sha256:' + 'c'.repeat(64), Math.max(rec.mtimeMs, rec.ctimeMs) + RACY_WINDOW_MS + 1);
    cache.flush();
    expect(parse(await run([line!], cache))[0]).toMatchObject({ hash: 'sha256:' + 'c'.repeat(64) });
  });

  it('fills the cache, and re-reads a file rewritten in the same second with the same size', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'f');
    // Whole-second mtimes, as on a file system with 1 s granularity.
    const second = Math.floor(Date.now() / 1000);
    fs.writeFileSync(file, 'version one');
    fs.utimesSync(file, second, second);
    const before = fs.statSync(file);
    const cache = tempCache();
    expect(parse(await run(scanLines(dir), cache))[0]).toMatchObject({ hash: sha256('version one') });
    cache.flush();
    fs.writeFileSync(file, 'version two');
    fs.utimesSync(file, second, second);
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
    expect(parse(await run(scanLines(dir), cache))[0]).toMatchObject({ hash: sha256('version two') });
  });

  it('describes what it actually hashed when the file changed after the scan', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'f'), 'short');
    const [line] = scanLines(dir);
    fs.writeFileSync(path.join(dir, 'f'), 'much longer now');
    const [rec] = parse(await run([line!]));
    expect(rec).toMatchObject({ type: 'file', path: 'f', size: 15, hash: sha256('much longer now') });
  });

  it('reports a file that vanished after the scan as an error, not a record', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'gone'), 'x');
    const [line] = scanLines(dir);
    fs.unlinkSync(path.join(dir, 'gone'));
    expect(parse(await run([line!]))).toEqual([expect.objectContaining({ type: 'error', tool: 'hash', code: 'ENOENT', path: 'gone' })]);
  });

  it('stops reading ahead while a taker of kept bytes is behind: what it holds stays bounded', async () => {
    const dir = tempDir();
    const files = 240;
    const size = 256 << 10; // 60 MB in all, far past the bound
    for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${String(i).padStart(3, '0')}`), crypto.randomBytes(size));
    // A taker like a pack stream on a slow disk: it releases one buffer every few ms and
    // asks the reading to wait while it holds more than 4 MB.
    let held = 0;
    let peak = 0;
    const queue: Buffer[] = [];
    const drained: Array<() => void> = [];
    const timer = setInterval(() => {
      const b = queue.shift();
      if (b) held -= b.length;
      if (held <= 4 << 20) for (const wake of drained.splice(0)) wake();
    }, 2);
    const taken: string[] = [];
    const take = (_rec: FileRecord, hash: string, data: Buffer) => {
      expect(hash).toBe(sha256(data));
      taken.push(hash);
      queue.push(data);
      held += data.length;
      peak = Math.max(peak, held);
      return held > 4 << 20 ? new Promise<void>((resolve) => drained.push(resolve)) : undefined;
    };
    async function* input(): AsyncGenerator<InputLine[]> {
      const lines = scanLines(dir).map((t, i) => parseLine(t, i + 1));
      for (let i = 0; i < lines.length; i += 16) yield lines.slice(i, i + 16);
    }
    const out: OutputItem[] = [];
    try {
      for await (const batch of hashRecords(input(), { algo: 'sha256', pool: () => pool, keep: { maxBytes: 4 << 20, take } })) out.push(...batch);
    } finally {
      clearInterval(timer);
    }
    expect(parse(out).filter((r) => r.type === 'file' && typeof r.hash === 'string')).toHaveLength(files);
    expect(taken).toHaveLength(files);
    // Without the pause every file would be read (and held) at once: 60 MB. With it: what the
    // taker holds before it asks to wait, plus the jobs out (4 of up to 4 MB) and one more.
    expect(peak).toBeLessThanOrEqual(28 << 20);
  });

  it('with keep, goes on reading small files while the threads are slow to answer: what is out is bounded in bytes, not in jobs', async () => {
    const dir = tempDir();
    const files = 40;
    for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${String(i).padStart(2, '0')}`), crypto.randomBytes(2000));
    // The real threads, answering only once the reading stopped (as while they start):
    // how many jobs went out by then is how far the reading went on without them.
    let out = 0;
    let peak = 0;
    let open!: () => void;
    const started = new Promise<void>((resolve) => (open = resolve));
    let idle: ReturnType<typeof setTimeout> | undefined;
    const slow = {
      hash: async (...args: Parameters<HashPool['hash']>) => {
        peak = Math.max(peak, ++out);
        clearTimeout(idle);
        idle = setTimeout(open, 50);
        await started;
        out--;
        return pool.hash(...args);
      },
    } as unknown as HashPool;
    async function* input(): AsyncGenerator<InputLine[]> {
      // One file per batch: a backup after a small change passes on what may have changed a few lines at a time.
      for (const [i, t] of scanLines(dir).entries()) yield [parseLine(t, i + 1)];
    }
    const taken: string[] = [];
    const items: OutputItem[] = [];
    for await (const batch of hashRecords(input(), { algo: 'sha256', pool: () => slow, keep: { maxBytes: 4 << 20, take: (_r, hash) => void taken.push(hash) } })) items.push(...batch);
    expect(taken).toHaveLength(files);
    expect(parse(items).filter((r) => r.type === 'file').map((r) => r.hash)).toEqual(fs.readdirSync(dir).sort().map((f) => sha256(fs.readFileSync(path.join(dir, f)))));
    // 40 jobs of 2 KB each: far under the bound in bytes, so all went out before any answer.
    expect(peak).toBe(files);
  });

  it('with keep, hands over the bytes of small files whose hashes are cached (a backup needs them), big ones not', async () => {
    const dir = tempDir();
    const small = Array.from({ length: 20 }, (_, i) => crypto.randomBytes(1000 + i));
    small.forEach((b, i) => fs.writeFileSync(path.join(dir, `s${i}`), b));
    fs.writeFileSync(path.join(dir, 'zbig'), crypto.randomBytes(300_000));
    const cache = tempCache();
    // Hashed once, cached (times set back: not racy).
    for (const f of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, f), 1_700_000_000, 1_700_000_000);
    await new Promise((r) => setTimeout(r, RACY_WINDOW_MS + 100));
    const texts = scanLines(dir);
    await run(texts, cache);
    cache.flush();
    const taken = new Map<string, string>();
    async function* input(): AsyncGenerator<InputLine[]> {
      yield texts.map((t, i) => parseLine(t, i + 1));
    }
    // The big file's cached id made different from its content: an answer from the cache shows.
    const big = JSON.parse(texts.find((t) => t.includes('"zbig"'))!) as FileRecord;
    cache.store(dir, big, 'sha256:' + 'b'.repeat(64), Date.now());
    cache.flush();
    // Only what is not read anyway is looked up: the big file.
    const asked: string[] = [];
    const watched = Object.assign(Object.create(cache) as HashCache, {
      lookupMany: (items: Parameters<HashCache['lookupMany']>[0]) => (asked.push(...items.map((i) => (i.key as FileRecord).path)), cache.lookupMany(items)),
    });
    const out: OutputItem[] = [];
    const take = (rec: FileRecord, hash: string, data: Buffer) => void taken.set(rec.path, `${hash}=${sha256(data)}`);
    for await (const batch of hashRecords(input(), { algo: 'sha256', pool: () => pool, cacheFor: () => watched, keep: { maxBytes: 100_000, take } })) out.push(...batch);
    expect(asked).toEqual(['zbig']);
    expect(new Map([...taken].map(([p]) => [p, true]))).toEqual(new Map(small.map((_, i) => [`s${i}`, true])));
    for (const [p, pair] of taken) expect(pair, p).toBe(`${sha256(small[Number(p.slice(1))]!)}=${sha256(small[Number(p.slice(1))]!)}`);
    // The big file (past maxBytes) is not handed over; its id comes from the cache.
    expect(parse(out).find((r) => r.type === 'file' && r.path === 'zbig')).toMatchObject({ hash: 'sha256:' + 'b'.repeat(64) });
  });

  it('as objects: gives a record it parsed its hash in place, and never changes a record another tool handed over', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a'), 'alpha');
    fs.writeFileSync(path.join(dir, 'b'), 'beta');
    const texts = scanLines(dir).filter((t) => t.startsWith('{"type":"file"'));
    const handed = texts.map((t) => JSON.parse(t) as FileRecord);
    const parsed: InputLine[] = [];
    const hashOf = async (lines: AsyncIterable<InputLine[]>) => {
      const out: AnyRecord[] = [];
      for await (const batch of hashRecords(lines, { algo: 'sha256', pool: () => pool, asObjects: true })) out.push(...(batch as AnyRecord[]));
      return out;
    };
    const fromObjects = await hashOf(asInputLines([handed]));
    const fromText = await hashOf(
      (async function* () {
        for await (const b of asInputLines([texts], { trusted: true })) yield (parsed.push(...b), b);
      })(),
    );
    const want = [sha256('alpha'), sha256('beta')];
    expect(fromObjects.map((r) => r.hash)).toEqual(want);
    expect(fromText.map((r) => r.hash)).toEqual(want);
    expect(handed.map((r) => r.hash)).toEqual([undefined, undefined]);
    expect(fromObjects.every((r, i) => r !== handed[i])).toBe(true);
    expect(fromText.every((r, i) => r === parsed[i]!.record)).toBe(true);
  });
});
