import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActionRecord } from '@hoard/schema';
import { MirrorMovesAhead } from './rclone-side.js';
import { tempDir } from '../../../test/support/trees.js';

const H = `sha256:${'a'.repeat(64)}`;
const checkout = (p: string, extra: Partial<ActionRecord> = {}): ActionRecord => ({ type: 'action', op: 'checkout', target: 'm', path: p, hash: H, size: 5, mode: 0o100644, mtimeMs: 1, ...extra }) as ActionRecord;

describe('MirrorMovesAhead', () => {
  it('moves each new file in once it arrived whole, before the input ends; never over what is there, nor a path the plan touches otherwise', async () => {
    const root = tempDir();
    const staging = path.join(root, '.hoard', 'staging', 't');
    const names = ['a.txt', 'deep/b c.txt', 'in the way.txt', 'renamed-to.txt', 'old.txt', 'not yet.txt', 'overwrite.txt', 'copy.conflict.txt'];
    for (const n of names) {
      fs.mkdirSync(path.dirname(path.join(staging, n)), { recursive: true });
      fs.writeFileSync(path.join(staging, n), `new ${n}`);
    }
    fs.writeFileSync(path.join(root, 'in the way.txt'), 'made there meanwhile');
    const ahead = new MirrorMovesAhead(root, 't');
    // Every action still goes to the final run.
    const actions = [
      { type: 'action', op: 'move', target: 'm', path: 'renamed-to.txt', from: 'old.txt', hash: H, prevHash: H } as ActionRecord,
      checkout('a.txt'),
      checkout('deep/b c.txt'),
      checkout('in the way.txt'),
      checkout('renamed-to.txt'),
      checkout('not yet.txt'),
      checkout('overwrite.txt', { prevHash: `sha256:${'b'.repeat(64)}` }),
      checkout('copy.conflict.txt', { reason: 'conflict' }),
    ];
    for (const a of actions) expect(ahead.take(a)).toBe(false);
    // Arrived (integrate said so), except one; one arrived before its checkout was read.
    for (const n of names.filter((n) => n !== 'not yet.txt')) ahead.storedThere(H, n);
    ahead.take({ type: 'action', op: 'trash', target: 'm', path: 'a.txt', hash: H, prevHash: H } as ActionRecord); // touched after all
    await ahead.send(true);
    // In place before end() is asked for.
    for (let waited = 0; !fs.existsSync(path.join(root, 'deep', 'b c.txt')) && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readFileSync(path.join(root, 'deep', 'b c.txt'), 'utf8')).toBe('new deep/b c.txt');
    await ahead.end();
    expect([...ahead.moved]).toEqual(['deep/b c.txt']);
    expect([...ahead.appeared]).toEqual(['in the way.txt']);
    expect(fs.readFileSync(path.join(root, 'in the way.txt'), 'utf8')).toBe('made there meanwhile');
    // Left for the final run: still in staging.
    for (const n of ['a.txt', 'renamed-to.txt', 'old.txt', 'not yet.txt', 'overwrite.txt', 'copy.conflict.txt', 'in the way.txt']) expect(fs.existsSync(path.join(staging, n)), n).toBe(true);
    for (const n of ['a.txt', 'renamed-to.txt', 'overwrite.txt', 'copy.conflict.txt', 'not yet.txt']) expect(fs.existsSync(path.join(root, n)), n).toBe(false);
  });
});
