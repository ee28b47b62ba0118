import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeerSession } from './forward.js';
import type { PeerUrl } from './peer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-session-'));
const here: PeerUrl = { kind: 'path', path: dir };
const note = (n: number) => ({ type: 'error', tool: 'test', code: 'note', message: `record ${n}`, target: 'far' }) as const;

async function answered(session: PeerSession, want: number): Promise<unknown[]> {
  const got: unknown[] = [];
  for (let waited = 0; got.length < want && waited < 20_000; waited += 20) {
    got.push(...session.take());
    if (got.length < want) await new Promise((r) => setTimeout(r, 20));
  }
  return got;
}

describe('PeerSession', () => {
  it('has the peer answer the first records while more are still to come, names translated both ways', async () => {
    // hoard validate passes every record on as it reads it.
    const session = new PeerSession(here, 'far', 'validate', []);
    await session.send([note(1), note(2)]);
    // Nothing more is sent (nor the input ended) until the first two came back.
    const first = await answered(session, 2);
    expect(first).toEqual([note(1), note(2)]);
    await session.send([note(3)]);
    expect(await session.end()).toEqual([note(3)]);
    expect(session.failure).toBeUndefined();
  });

  it('lets go of a sender when the peer cannot run, and says why', async () => {
    const session = new PeerSession({ kind: 'path', path: path.join(dir, 'nowhere') }, 'far', 'validate', []);
    for (let i = 0; i < 5; i++) await session.send(Array.from({ length: 10_000 }, (_, n) => note(n)));
    expect(await session.end()).toEqual([]);
    expect(session.failure?.message).toMatch(/does not exist/);
  });
});
