import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { asInputLines } from '@hoard/jsonl';
import { blobKey, Repository } from '@hoard/state';
import { integrateReceived } from './integrate.js';

const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

describe('integrate', () => {
  it('stores a received blob only when its content is the id it claims', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-integrate-'));
    const repo = Repository.init(root);
    const good = Buffer.from('good content\n');
    const claimed = Buffer.from('what the sender said it was\n');
    const staging = repo.stagingDir('t');
    for (const [hash, content] of [[sha(good), good], [sha(claimed), Buffer.from('tampered in transit\n')]] as const) {
      fs.mkdirSync(path.dirname(path.join(staging, blobKey(hash))), { recursive: true });
      fs.writeFileSync(path.join(staging, blobKey(hash)), content);
    }
    const results = [sha(good), sha(claimed)].map((hash) => ({ type: 'result', tool: 'transfer', op: 'copy', ok: true, key: blobKey(hash), hash, bytes: 1, target: 'local' }));
    const out = [];
    for await (const batch of integrateReceived(asInputLines([results]), { repo, transferId: 't', locate: () => undefined })) out.push(...batch);
    expect(out).toMatchObject([
      { tool: 'integrate', ok: true, hash: sha(good) },
      { tool: 'integrate', ok: false, code: 'hash-mismatch', hash: sha(claimed) },
    ]);
    expect(fs.readFileSync(repo.objectPath(sha(good)))).toEqual(good);
    expect(fs.existsSync(repo.objectPath(sha(claimed)))).toBe(false);
    expect(fs.existsSync(path.join(staging, blobKey(sha(claimed))))).toBe(false); // rejected content is not kept
    expect(repo.holdsMany(repo.location('local').id, [sha(good)]).has(sha(good))).toBe(true);
    expect(repo.holdsMany(repo.location('local').id, [sha(claimed)]).has(sha(claimed))).toBe(false);
    repo.close();
  });

  it('verifies batch after batch, each hashed while the one before is moved in: every result, in order', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-integrate-'));
    const repo = Repository.init(root);
    const staging = repo.stagingDir('t');
    const blobs = Array.from({ length: 11 }, (_, i) => Buffer.from(`blob ${i}\n`));
    const results = blobs.map((content, i) => {
      const hash = sha(content);
      fs.mkdirSync(path.dirname(path.join(staging, blobKey(hash))), { recursive: true });
      // The sixth arrived damaged: the batch it is in, and only that blob, is refused.
      fs.writeFileSync(path.join(staging, blobKey(hash)), i === 5 ? Buffer.from('damaged\n') : content);
      return { type: 'result', tool: 'transfer', op: 'copy', ok: true, key: blobKey(hash), hash, bytes: content.length, target: 'local' };
    });
    const out = [];
    // Records arrive a few at a time, as from a pipe; batches of three.
    const chunks = [results.slice(0, 4), results.slice(4, 9), results.slice(9)];
    for await (const batch of integrateReceived(asInputLines(chunks), { repo, transferId: 't', locate: () => undefined, batch: 3 })) out.push(...batch);
    expect(out.map((r) => [(r as { hash: string }).hash, (r as { ok: boolean }).ok])).toEqual(blobs.map((b, i) => [sha(b), i !== 5]));
    blobs.forEach((b, i) => {
      expect(fs.existsSync(repo.objectPath(sha(b)))).toBe(i !== 5);
      expect(repo.holdsMany(repo.location('local').id, [sha(b)]).has(sha(b))).toBe(i !== 5);
    });
    repo.close();
  });
});
