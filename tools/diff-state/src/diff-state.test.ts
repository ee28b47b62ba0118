import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseLine, type InputLine, type OutputItem } from '@hoard/jsonl';
import type { AnyRecord } from '@hoard/schema';
import type { Entry } from '@hoard/state';
import { diffState, type DiffOptions } from './diff-state.js';

const H = (c: string) => `sha256:${c.repeat(64)}`;
const ROOT = '/r';

function file(path: string, hash: string, extra: Record<string, unknown> = {}) {
  return { type: 'file', root: ROOT, path, size: 1, mtimeMs: 10, mode: 33188, ino: 1, dev: 1, nlink: 1, uid: 0, gid: 0, hash, ...extra };
}
function entry(key: string, hash: string, extra: Partial<Entry> = {}): Entry {
  return { key, hash, size: 1, mode: 33188, mtimeMs: 10, ino: 1, ...extra };
}
const scanDone = (extra: Record<string, unknown> = {}) => ({ type: 'scan', root: ROOT, files: 0, bytes: 0, errors: 0, complete: true, startedAt: 't', finishedAt: 't', ...extra });

async function diff(records: unknown[], entries: Entry[], options: Partial<DiffOptions> = {}): Promise<AnyRecord[]> {
  async function* input(): AsyncGenerator<InputLine[]> {
    yield records.map((r, i) => parseLine(typeof r === 'string' ? r : JSON.stringify(r), i + 1));
  }
  const out: OutputItem[] = [];
  for await (const b of diffState(input(), { entries: entries[Symbol.iterator](), location: 'local', ...options })) out.push(...b);
  return out.map((o) => (typeof o === 'string' ? JSON.parse(o) : o) as AnyRecord);
}
const changes = (recs: AnyRecord[]) => recs.filter((r) => r.type === 'change').map((r) => [r.op, r.path, r.from].filter((x) => x !== undefined));

describe('diffState', () => {
  it('reports adds, modifications, deletions and moves, nothing for unchanged files', async () => {
    const out = await diff(
      [file('a', H('a')), file('b', H('2')), file('moved/c', H('c'), { ino: 7 }), file('new', H('9')), scanDone()],
      [entry('a', H('a')), entry('b', H('b')), entry('c', H('c'), { ino: 7 }), entry('gone', H('8'))],
    );
    expect(changes(out)).toEqual([
      ['modify', 'b'],
      ['move', 'moved/c', 'c'],
      ['add', 'new'],
      ['delete', 'gone'],
    ]);
    expect(out.find((r) => r.op === 'modify')).toMatchObject({ hash: H('2'), prevHash: H('b'), size: 1, mode: 33188, location: 'local' });
  });

  it('treats a metadata-only change (mode, mtime) as a modification with the same content', async () => {
    expect(changes(await diff([file('a', H('a'), { mode: 33261 }), scanDone()], [entry('a', H('a'))]))).toEqual([['modify', 'a']]);
  });

  it('pairs moves of duplicate content by inode', async () => {
    const out = await diff(
      [file('x1', H('d'), { ino: 2 }), file('x2', H('d'), { ino: 1 }), scanDone()],
      [entry('o1', H('d'), { ino: 1 }), entry('o2', H('d'), { ino: 2 })],
    );
    expect(changes(out)).toEqual([
      ['move', 'x1', 'o2'],
      ['move', 'x2', 'o1'],
    ]);
  });

  it('infers no deletion without a complete scan record', async () => {
    for (const records of [[file('a', H('a'))], [file('a', H('a')), scanDone({ complete: false, errors: 1 })]]) {
      const out = await diff(records, [entry('a', H('a')), entry('b', H('b'))]);
      expect(changes(out)).toEqual([]);
      expect(out.at(-1)).toMatchObject({ type: 'note', code: 'deletions-withheld' });
    }
  });

  it('infers no deletion under a path that had a read error, but does elsewhere', async () => {
    const error = { type: 'error', tool: 'scan', code: 'EACCES', root: ROOT, path: 'locked', message: 'cannot read folder' };
    const out = await diff([error, file('z', H('6')), scanDone()], [entry('locked/inner', H('5')), entry('old', H('7')), entry('z', H('6'))]);
    expect(changes(out)).toEqual([['delete', 'old']]);
    expect(out[0]).toEqual(error); // passed through
  });

  it('compares only inside --under, and refuses records outside it', async () => {
    const out = await diff([file('sub/a', H('1')), file('zzz', H('6')), scanDone({ under: 'sub' })], [entry('sub/a', H('a')), entry('sub/b', H('b'))], { under: 'sub' });
    expect(changes(out)).toEqual([
      ['modify', 'sub/a'],
      ['delete', 'sub/b'],
    ]);
    expect(out.find((r) => r.type === 'error')).toMatchObject({ code: 'bad-input', line: 2, message: expect.stringMatching(/outside --under sub/) });
  });

  it('refuses unsorted input and records without a hash; a symlink is a file whose content is its target', async () => {
    const link = { ...file('l', H('4')), kind: 'symlink', target: '../x' };
    const out = await diff([file('b', H('b')), file('a', H('a')), { ...file('c', H('c')), hash: undefined }, link, scanDone()], [entry('a', H('a')), entry('b', H('b'))]);
    const errors = out.filter((r) => r.type === 'error');
    expect(errors.map((e) => e.line)).toEqual([2, 3]);
    expect(errors[0]!.message).toMatch(/not sorted/);
    expect(errors[1]!.message).toMatch(/run hoard hash/);
    // Never followed: the id is sha256 of the target's bytes, whatever the record's hash field says.
    expect(out.find((r) => r.type === 'change' && r.path === 'l')).toMatchObject({ op: 'add', hash: `sha256:${crypto.createHash('sha256').update('../x').digest('hex')}` });
  });
});
