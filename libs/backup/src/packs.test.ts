import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Repository } from '@hoard/state';
import { Recorder } from './recorder.js';
import { learnPacks, openPacks, PackStream, PACK_MAX_BLOBS, PACK_TARGET, parsePackIndex, STREAM_MAX_BLOBS, STREAM_MAX_BYTES, verifyPacks, writePacks, type PackSource } from './packs.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-packs-'));
const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function setup(files: number) {
  const host = Repository.init(tempDir());
  const vaultDir = path.join(tempDir(), 'vault');
  const vault = host.addLocation('vault-test', 'rclone', `rclone:${vaultDir}`, 'blobs');
  const src = tempDir();
  const sources: PackSource[] = [];
  for (let i = 0; i < files; i++) {
    const data = crypto.randomBytes(1000 + i * 37);
    const file = path.join(src, `f${i}`);
    fs.writeFileSync(file, data);
    sources.push({ hash: sha(data), size: data.length, file });
  }
  return { host, vault, vaultDir, src, sources };
}

async function collect<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

describe('packs in a vault', () => {
  it('packs verified blobs, reads them back out, and a second host learns them from the indexes', async () => {
    const { host, vault, vaultDir, sources } = setup(50);
    const stored: string[] = [];
    await writePacks(host, vault, vaultDir, sources, { onStored: (b) => stored.push(b.hash) });
    expect(stored.sort()).toEqual(sources.map((s) => s.hash).sort());
    expect(fs.readdirSync(path.join(vaultDir, 'index'))).toHaveLength(1);
    expect(host.holdsMany(vault.id, sources.map((s) => s.hash)).size).toBe(50);
    expect((await collect(verifyPacks(vaultDir))).every((v) => v.ok)).toBe(true);

    // Another host knows nothing of them until it reads the vault's indexes.
    const other = Repository.init(tempDir());
    const seen = other.addLocation('vault-test', 'rclone', `rclone:${vaultDir}`, 'blobs');
    expect(other.holdsMany(seen.id, [sources[0]!.hash]).size).toBe(0);
    await learnPacks(other, seen, vaultDir);
    const at = other.packedBlobs(seen.id, sources.map((s) => s.hash));
    expect(at.size).toBe(sources.length);
    const where = sources.map((s) => at.get(s.hash)!);
    const packs = await openPacks(vaultDir, [...new Set(where.map((w) => w.pack))]);
    sources.forEach((s, i) => {
      const data = fs.readFileSync(packs.file(where[i]!.pack)!).subarray(where[i]!.offset, where[i]!.offset + where[i]!.length);
      expect(data.equals(fs.readFileSync(s.file as string))).toBe(true);
    });
    packs.done();
  });

  it('leaves out a file that changed since it was hashed, and fsck finds a pack damaged later', async () => {
    const { host, vault, vaultDir, sources } = setup(10);
    fs.writeFileSync(sources[3]!.file as string, Buffer.alloc(sources[3]!.size, 7)); // same size, other bytes
    const failed: string[] = [];
    await writePacks(host, vault, vaultDir, sources, { onFailed: (s, code) => failed.push(`${code} ${s.hash}`) });
    expect(failed).toEqual([`changed ${sources[3]!.hash}`]);
    expect(host.holdsMany(vault.id, [sources[3]!.hash]).size).toBe(0);
    const [id] = fs.readdirSync(path.join(vaultDir, 'index'));
    const index = parsePackIndex(id!, fs.readFileSync(path.join(vaultDir, 'index', id!), 'utf8'));
    expect(index.blobs.map((b) => b[0])).not.toContain(sources[3]!.hash);

    const packFile = path.join(vaultDir, 'packs', id!.slice(0, 2), id!);
    const bytes = fs.readFileSync(packFile);
    bytes[index.blobs[1]![1]] ^= 0xff;
    fs.writeFileSync(packFile, bytes);
    const bad = (await collect(verifyPacks(vaultDir))).filter((v) => !v.ok);
    expect(bad.map((v) => v.hash)).toEqual([index.blobs[1]![0]]);
  });

  it('refuses an index that is not what a pack index must be', () => {
    const id = 'a'.repeat(32);
    const good = { type: 'pack', pack: id, blobs: [[`sha256:${'0'.repeat(64)}`, 0, 5]] };
    expect(parsePackIndex(id, JSON.stringify(good)).blobs).toHaveLength(1);
    expect(() => parsePackIndex('../../etc', JSON.stringify({ ...good, pack: '../../etc' }))).toThrow(/not a pack index/);
    expect(() => parsePackIndex(id, JSON.stringify({ ...good, pack: 'b'.repeat(32) }))).toThrow(/not a pack index/);
    expect(() => parsePackIndex(id, JSON.stringify({ ...good, blobs: [['md5:00', 0, 5]] }))).toThrow(/not a pack index/);
    expect(() => parsePackIndex(id, JSON.stringify({ ...good, blobs: [[`sha256:${'0'.repeat(64)}`, -1, 5]] }))).toThrow(/not a pack index/);
    expect(() => parsePackIndex(id, 'nope')).toThrow(/not JSON/);
  });

  it('a pack stream stores what the vault lacks once, across several packs, each verified', async () => {
    const { host, vault, vaultDir, sources } = setup(20);
    // The vault holds the first five already (an earlier backup).
    await writePacks(host, vault, vaultDir, sources.slice(0, 5));
    const stored: string[] = [];
    let learned = 0;
    const stream = new PackStream(host, vault, vaultDir, { onStored: (b) => stored.push(b.hash) }, async () => void learned++);
    // Big enough for more than one pack, each blob offered twice (duplicate files).
    const big = Array.from({ length: 12 }, () => crypto.randomBytes(3 << 20));
    const offers = [...sources.map((s) => fs.readFileSync(s.file as string)), ...big];
    for (const round of [0, 1]) {
      for (const data of offers) await stream.offer(sha(data), data);
      expect(round === 0 || learned === 1).toBe(true);
    }
    await stream.finish();
    const expected = [...sources.slice(5).map((s) => s.hash), ...big.map(sha)];
    expect(stored.sort()).toEqual(expected.sort());
    expect(host.holdsMany(vault.id, [...sources.map((s) => s.hash), ...big.map(sha)]).size).toBe(32);
    const checked = await collect(verifyPacks(vaultDir));
    expect(checked.every((v) => v.ok)).toBe(true);
    expect(checked.map((v) => v.hash).sort()).toEqual([...sources.map((s) => s.hash), ...big.map(sha)].sort());
    expect(new Set(checked.map((v) => v.pack)).size).toBeGreaterThanOrEqual(1 + Math.floor((12 * (3 << 20)) / PACK_TARGET));
    expect(fs.existsSync(host.stagingDir('packs'))).toBe(false);
  });

  it('a pack stream into a vault that held nothing asks the state nothing per blob; recorded later, it remembers what it took until told', async () => {
    const { host, vault, vaultDir } = setup(0);
    const recorder = new Recorder(host.root);
    const asked = vi.spyOn(host, 'holdsMany');
    const stored: string[] = [];
    const stream = new PackStream(host, vault, vaultDir, {
      onStored: (b) => stored.push(b.hash),
      // As a backup's recorder takes them: committed on its thread, later.
      record: (vaultId, packs) => {
        recorder.packs(vaultId, packs);
        return true;
      },
    });
    const blobs = Array.from({ length: 8 }, () => crypto.randomBytes(3 << 20));
    try {
      // Each offered twice, the second time after the first pack was stored and its record posted, not committed.
      for (const b of blobs) await stream.offer(sha(b), b);
      for (let waited = 0; stored.length < 5 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      expect(stored.length).toBeGreaterThanOrEqual(5);
      for (const b of blobs) await stream.offer(sha(b), b);
      await stream.finish();
      expect(stored.sort()).toEqual(blobs.map(sha).sort());
      expect(asked).not.toHaveBeenCalled();
      // Once committed and told so, a stream asks the state, which holds them.
      await recorder.release();
      stream.recorded(stored);
      const again = new PackStream(host, vault, vaultDir, { onStored: (b) => stored.push(b.hash) });
      await again.offer(sha(blobs[0]!), blobs[0]!);
      await again.finish();
      expect(asked).toHaveBeenCalled();
      expect(stored).toHaveLength(blobs.length);
      await recorder.close();
    } finally {
      await recorder.abort();
    }
    // Each blob in the vault once.
    expect((await collect(verifyPacks(vaultDir))).map((v) => v.hash).sort()).toEqual(blobs.map(sha).sort());
  });

  it('a pack stream fed faster than it writes holds a bounded amount and refuses the rest', async () => {
    const { host, vault, vaultDir } = setup(0);
    const stream = new PackStream(host, vault, vaultDir);
    // One and a half times the bound, offered without waiting.
    const blobs = Array.from({ length: Math.ceil((1.5 * STREAM_MAX_BYTES) / (3 << 20)) }, () => crypto.randomBytes(3 << 20));
    for (const b of blobs) void stream.offer(sha(b), b); // never waiting: the stream must bound itself
    await stream.finish();
    expect(stream.stats.refused).toBeGreaterThan(0);
    expect(stream.stats.refused).toBeLessThan(blobs.length);
    expect(stream.stats.peakBytes).toBeLessThanOrEqual(STREAM_MAX_BYTES);
    // What was refused is simply not stored (a backup sends it the second way).
    expect(host.holdsMany(vault.id, blobs.map(sha)).size).toBe(blobs.length - stream.stats.refused);
    expect((await collect(verifyPacks(vaultDir))).every((v) => v.ok)).toBe(true);
  });
  it('a pack stream of tiny blobs holds a bounded number of them and records packs as it goes', async () => {
    const { host, vault, vaultDir } = setup(0);
    let finishing = false;
    let recordedEarly = 0;
    const stream = new PackStream(host, vault, vaultDir, { onStored: () => void (finishing || recordedEarly++) });
    // 80,000 blobs of 16 bytes: 1.3 MB, not one pack's worth of bytes.
    const hashes: string[] = [];
    for (let i = 0; i < 80_000; i++) {
      const b = crypto.randomBytes(16);
      hashes.push(sha(b));
      await stream.offer(hashes[i]!, b);
    }
    finishing = true;
    await stream.finish();
    expect(stream.stats.refused).toBe(0);
    expect(stream.stats.peakBlobs).toBeLessThanOrEqual(STREAM_MAX_BLOBS);
    expect(recordedEarly).toBeGreaterThan(0);
    expect(host.holdsMany(vault.id, hashes).size).toBe(hashes.length);
    const checked = await collect(verifyPacks(vaultDir));
    expect(checked.every((v) => v.ok)).toBe(true);
    const perPack = new Map<string, number>();
    for (const v of checked) perPack.set(v.pack, (perPack.get(v.pack) ?? 0) + 1);
    expect(Math.max(...perPack.values())).toBeLessThanOrEqual(PACK_MAX_BLOBS);
  }, 60_000);
});
