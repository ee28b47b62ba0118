import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ALGOS, createHasher, hashBuffer } from './algorithms.js';
import { hashFile } from './hash-file.js';
import { tempDir } from '../../../test/support/trees.js';

/** Published digests of the empty input. */
const EMPTY = {
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  blake3: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
  xxh64: 'ef46db3751d8e999',
  xxh3: '2d06800538d394c2',
};

describe('algorithms', () => {
  it.each(ALGOS)('%s gives the published digest of the empty input', (algo) => {
    expect(hashBuffer(algo, new Uint8Array())).toBe(EMPTY[algo]);
    expect(createHasher(algo).digest()).toBe(EMPTY[algo]);
  });

  it.each(ALGOS)('%s: chunked file hashing equals one-shot hashing', (algo) => {
    const data = crypto.randomBytes(300_001);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'f'), data);
    const outcome = hashFile(path.join(dir, 'f'), algo, Buffer.alloc(65536));
    expect(outcome).toMatchObject({ ok: true, hash: `${algo}:${hashBuffer(algo, data)}` });
  });

  it('sha256 and blake3 agree with sha256sum and b3sum', () => {
    const dir = tempDir();
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, crypto.randomBytes(5_000_000));
    const buffer = Buffer.alloc(1 << 20);
    expect(hashFile(file, 'sha256', buffer)).toMatchObject({ hash: `sha256:${execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]}` });
    expect(hashFile(file, 'blake3', buffer)).toMatchObject({ hash: `blake3:${execFileSync('b3sum', [file], { encoding: 'utf8' }).split(' ')[0]}` });
  });
});
