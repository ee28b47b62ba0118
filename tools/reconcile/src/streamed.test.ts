import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { locator } from '@hoard/remote';
import { Repository } from '@hoard/state';
import type { ActionRecord } from '@hoard/schema';
import { StreamedCheckouts } from './streamed.js';
import { BIN, hoardEnv } from '../../../test/support/cli.js';
import { tempDir } from '../../../test/support/trees.js';

const hoard = (cwd: string, ...args: string[]) => execa(path.join(BIN, 'hoard'), args, { cwd, env: hoardEnv() });

/** A repository with a far repository `far` beside it whose tree holds one file, `seed.txt`. */
async function withFar(): Promise<{ far: string; repo: Repository; hash: string; size: number }> {
  const src = tempDir();
  const far = path.join(tempDir(), 'far');
  await hoard(src, 'init');
  await hoard(src, 'remote', 'add', 'far', far, '--init');
  const content = 'the same content at many paths\n';
  fs.writeFileSync(path.join(far, 'seed.txt'), content);
  await hoard(far, 'add');
  return { far, repo: Repository.open(src), hash: `sha256:${crypto.createHash('sha256').update(content).digest('hex')}`, size: content.length };
}

const checkout = (p: string, hash: string, size: number, extra: Partial<ActionRecord> = {}): ActionRecord =>
  ({ type: 'action', op: 'checkout', target: 'far', path: p, hash, size, mode: 0o100640, mtimeMs: 1_600_000_000_000, ...extra }) as ActionRecord;

async function until(check: () => boolean): Promise<boolean> {
  for (let waited = 0; waited < 20_000; waited += 25) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

describe('StreamedCheckouts', () => {
  it('has the far repository check out new files once their content is there, before the input ends; the rest waits', async () => {
    const { far, repo, hash, size } = await withFar();
    const opened = locator(repo)('far')!;
    const s = new StreamedCheckouts({ kind: 'path', path: far }, opened, 't1');
    // Left for the end: an overwrite, a conflict copy, a path a move of this plan touches, a move itself.
    expect(s.take({ type: 'action', op: 'move', target: 'far', path: 'moved.txt', from: 'n/0.txt', hash, prevHash: hash } as ActionRecord)).toBe(false);
    expect(s.take(checkout('seed.txt', hash, size, { prevHash: hash }))).toBe(false);
    expect(s.take(checkout('seed.conflict-x.txt', hash, size, { reason: 'conflict' }))).toBe(false);
    expect(s.take(checkout('n/0.txt', hash, size))).toBe(false);
    const news = Array.from({ length: 2500 }, (_, i) => checkout(`n/${i + 1}.txt`, hash, size));
    for (const a of news) expect(s.take(a)).toBe(true);
    // Taken, then touched by a trash of this plan: it waits for the end after all.
    expect(s.take({ type: 'action', op: 'trash', target: 'far', path: 'n/2500.txt', hash, prevHash: hash } as ActionRecord)).toBe(false);
    expect(await s.send()).toEqual([]); // the content is not known to be there yet: nothing goes
    expect(fs.existsSync(path.join(far, 'n'))).toBe(false);

    s.storedThere(hash);
    await s.send();
    // Checked out there (a first batch of 2,000) while this side still holds its input open.
    expect(await until(() => fs.existsSync(path.join(far, 'n', '1.txt')))).toBe(true);
    const { answers, left } = await s.end();
    expect(answers.filter((r) => typeof r === 'object' && 'ok' in r && r.ok === true)).toHaveLength(2499);
    expect(left.map((a) => a.path)).toEqual(['n/2500.txt']);
    expect(fs.readdirSync(path.join(far, 'n'))).toHaveLength(2499);
    const st = fs.statSync(path.join(far, 'n', '1.txt'));
    expect([st.mode & 0o777, st.mtimeMs, fs.readFileSync(path.join(far, 'n', '1.txt'), 'utf8').length]).toEqual([0o640, 1_600_000_000_000, size]);
    // Recorded there as sync's work.
    const recorded = (await hoard(far, 'ls')).stdout.split('\n').filter(Boolean);
    expect(recorded).toHaveLength(2500);
    repo.close();
  }, 60_000);

  it('gives back every checkout the far side did not answer, for the final run', async () => {
    const { repo, hash, size } = await withFar();
    const opened = locator(repo)('far')!;
    const s = new StreamedCheckouts({ kind: 'path', path: path.join(tempDir(), 'gone') }, opened, 't2');
    const news = Array.from({ length: 2100 }, (_, i) => checkout(`n/${i}.txt`, hash, size));
    for (const a of news) s.take(a);
    s.storedThere(hash);
    await s.send();
    const { answers, left } = await s.end();
    expect(answers).toEqual([]);
    expect(new Set(left)).toEqual(new Set(news));
    repo.close();
  }, 60_000);
});
