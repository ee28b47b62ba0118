import { describe, expect, it } from 'vitest';
import type { Entry } from '@hoard/state';
import { conflictName, plan, type Direction } from './plan.js';

const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const e = (key: string, n: number, mtimeMs = 1000): Entry => ({ key, hash: H(n), size: n, mode: 0o100644, mtimeMs, ino: 0 });

function run(local: Entry[], remote: Entry[], base: Entry[], direction: Direction = 'sync', remoteHas: number[] = []) {
  const holds = (side: Entry[], extra: number[]) => (hs: readonly string[]) => new Set(hs.filter((h) => side.some((x) => x.hash === h) || extra.some((n) => H(n) === h)));
  return [...plan({ local, remote, base, direction, remoteName: 'nas', remoteHolds: holds(remote, remoteHas), localHolds: holds(local, []), localLabel: 'here', stamp: '20261122-120000' })].map(
    (a) => `${a.target} ${a.op} ${a.from ? `${a.from}->` : ''}${a.path ?? ''}${a.reason ? ` (${a.reason})` : ''}`,
  );
}

describe('plan (three-way)', () => {
  it('sends a change made on one side only, and nothing when both agree', () => {
    expect(run([e('a', 2)], [e('a', 1)], [e('a', 1)])).toEqual(['nas checkout a', 'nas copy a']);
    expect(run([e('a', 1)], [e('a', 2)], [e('a', 1)])).toEqual(['local checkout a', 'local copy a']);
    expect(run([e('a', 2)], [e('a', 2)], [e('a', 1)])).toEqual([]);
    expect(run([e('a', 1)], [e('a', 1)], [])).toEqual([]);
  });
  it('push and pull carry only their own direction', () => {
    expect(run([e('a', 2)], [e('b', 3)], [], 'push')).toEqual(['nas checkout a', 'nas copy a']);
    expect(run([e('a', 2)], [e('b', 3)], [], 'pull')).toEqual(['local checkout b', 'local copy b']);
  });
  it('turns a deletion plus an addition of the same content into a move, and sends no content', () => {
    expect(run([e('new', 1)], [e('old', 1)], [e('old', 1)])).toEqual(['nas move old->new']);
  });
  it('sends content the other side already holds zero times, shared content once', () => {
    expect(run([e('a', 5), e('b', 5)], [], [], 'push', [])).toEqual(['nas checkout a', 'nas copy a', 'nas checkout b']);
    expect(run([e('a', 5)], [], [], 'push', [5])).toEqual(['nas checkout a']);
  });
  it('a deletion goes to trash, never plain delete', () => {
    expect(run([], [e('a', 1)], [e('a', 1)])).toEqual(['nas trash a']);
  });
  it('two different edits keep both: the remote version as a conflict copy on both sides', () => {
    const name = conflictName('d/photo.jpg', 'nas', '20261122-120000');
    expect(name).toBe('d/photo.conflict-nas-20261122-120000.jpg');
    const actions = run([e('d/photo.jpg', 2)], [e('d/photo.jpg', 3)], [e('d/photo.jpg', 1)]);
    expect(actions).toContain(`nas checkout ${name} (conflict)`);
    expect(actions).toContain(`local checkout ${name} (conflict)`);
    expect(actions).toContain('nas checkout d/photo.jpg');
    expect(actions.indexOf(`nas checkout ${name} (conflict)`)).toBeLessThan(actions.indexOf('nas checkout d/photo.jpg'));
    expect(run([e('a', 2)], [e('a', 3)], [e('a', 1)], 'push')).toEqual(['nas skip a (conflict)']);
  });
  it('a deletion against an edit keeps the edit', () => {
    expect(run([], [e('a', 2)], [e('a', 1)])).toEqual(['local checkout a', 'local copy a']);
    expect(run([e('a', 2)], [], [e('a', 1)])).toEqual(['nas checkout a', 'nas copy a']);
    expect(run([], [e('a', 2)], [e('a', 1)], 'push')).toEqual(['nas skip a (deleted-here-edited-there)']);
  });
  it('a time-only change travels as a checkout of content already there', () => {
    expect(run([e('a', 1, 5000)], [e('a', 1)], [e('a', 1)])).toEqual(['nas checkout a']);
  });
});

describe('plan after an exchange cut short', () => {
  const had = (versions: Record<string, number[]>) => (key: string, hash: string) => (versions[key] ?? []).some((n) => H(n) === hash);
  const run2 = (local: Entry[], remote: Entry[], base: Entry[], localHad: Record<string, number[]>, remoteHad: Record<string, number[]>, direction: Direction = 'push') =>
    [...plan({ local, remote, base, direction, remoteName: 'nas', remoteHolds: () => new Set(), localHolds: () => new Set(), localLabel: 'here', stamp: 's', localHad: had(localHad), remoteHad: had(remoteHad) })].map((a) => `${a.target} ${a.op} ${a.path}${a.reason ? ` (${a.reason})` : ''}`);
  it('a remote holding a version this side had before is behind, not in conflict', () => {
    // Pushed v1 but never settled; then edited to v2 here.
    expect(run2([e('a', 2)], [e('a', 1)], [], { a: [1, 2] }, { a: [1] })).toEqual(['nas checkout a', 'nas copy a']);
    // ...or modified there after a base was agreed and here after that: here is ahead only if there had it.
    expect(run2([e('a', 3)], [e('a', 2)], [e('a', 1)], { a: [1, 2, 3] }, { a: [1, 2] })).toEqual(['nas checkout a', 'nas copy a']);
    // A file both agreed was absent, restored here from the trash: a change made here, not a side behind.
    expect(run2([e('a', 1)], [], [], { a: [1] }, { a: [1] })).toEqual(['nas checkout a', 'nas copy a']);
  });
  it('real divergence stays a conflict', () => {
    expect(run2([e('a', 2)], [e('a', 3)], [], { a: [2] }, { a: [3] })).toEqual(['nas skip a (conflict)']);
  });
});

describe('plan after an exchange cut short, with a base', () => {
  it('an edit that reached the remote, then a move here: the remote is behind, the move goes on', () => {
    const had = (n: number[]) => (key: string, hash: string) => key === 'a' && n.some((x) => H(x) === hash);
    const actions = [
      ...plan({ local: [e('b', 2)], remote: [e('a', 2)], base: [e('a', 1)], direction: 'push', remoteName: 'nas', remoteHolds: (hs) => new Set(hs.filter((h) => h === H(2))), localHolds: (hs) => new Set(hs), localLabel: 'h', stamp: 's', localHad: had([1, 2]), remoteHad: had([1, 2]) }),
    ].map((a) => `${a.op} ${a.from ? `${a.from}->` : ''}${a.path}`);
    expect(actions).toEqual(['move a->b']);
  });
});

describe('plan: a path the two sides never agreed on', () => {
  const had = (versions: Record<string, number[]>) => (key: string, hash: string) => (versions[key] ?? []).some((n) => H(n) === hash);
  const go = (local: Entry[], remote: Entry[], localHad: Record<string, number[]>, baseKnew: boolean) =>
    [...plan({ local, remote, base: [], direction: 'push', remoteName: 'nas', remoteHolds: (hs) => new Set(hs.filter((h) => remote.some((r) => r.hash === h))), localHolds: (hs) => new Set(hs), localLabel: 'h', stamp: 's', localHad: had(localHad), remoteHad: had({}), baseKnew: () => baseKnew })].map(
      (a) => `${a.op} ${a.from ? `${a.from}->` : ''}${a.path}`,
    );
  it('renamed here after it reached the remote, before that exchange settled: a move', () => {
    expect(go([e('new', 1)], [e('old', 1)], { old: [1], new: [1] }, false)).toEqual(['move old->new']);
  });
  it('but back on the remote after both had agreed it was gone: a change of the remote, left alone by push', () => {
    expect(go([], [e('old', 1)], { old: [1] }, true)).toEqual([]);
  });
});

describe('plan to a remote that holds nothing yet (a first push)', () => {
  const many = (n: number, hashOf: (i: number) => number, modeOf: (i: number) => number = () => 0o100644) =>
    Array.from({ length: n }, (_, i) => ({ ...e(`d/${String(i).padStart(6, '0')}`, hashOf(i)), mode: modeOf(i) }));
  const input = (local: Iterable<Entry>, extra: Partial<Parameters<typeof plan>[0]> = {}) => ({
    local, remote: [], base: [], direction: 'push' as Direction, remoteName: 'nas', localHolds: () => new Set<string>(), localLabel: 'here', stamp: 's',
    remoteHolds: (hs: readonly string[]) => new Set(hs.filter((h) => h === H(7))), ...extra,
  });
  const show = (a: { target?: unknown; op?: unknown; path?: unknown; reason?: unknown }) => `${a.target} ${a.op} ${a.path}${a.reason ? ` (${a.reason})` : ''}`;

  it('hands out its first actions while the walk is still far from the end', () => {
    const entries = many(10_000, (i) => i + 100);
    let read = 0;
    const counted = (function* () {
      for (const x of entries) (read++, yield x);
    })();
    const first = plan(input(counted)).next();
    expect(first.value).toMatchObject({ op: 'checkout', path: 'd/000000' });
    expect(read).toBeLessThan(3000);
  });

  it('in the order a walk to the end gives: each checkout then its copy, content sent once across batches, none that is there', () => {
    const entries = many(5000, (i) => i % 3000);
    const sent = new Set<number>();
    const expected = entries.flatMap((x, i) => {
      const n = i % 3000;
      const copy = n !== 7 && !sent.has(n);
      sent.add(n);
      return [`nas checkout ${x.key}`, ...(copy ? [`nas copy ${x.key}`] : [])];
    });
    expect([...plan(input(entries))].map(show)).toEqual(expected);
  });

  it('to a mirror: every file copied by its path, symlinks skipped after everything else', () => {
    const link = (i: number) => i % 1000 === 1;
    const entries = many(4500, () => 9, (i) => (link(i) ? 0o120777 : 0o100644));
    const expected = [
      ...entries.filter((_, i) => !link(i)).flatMap((x) => [`nas checkout ${x.key}`, `nas copy ${x.key}`]),
      ...entries.filter((_, i) => link(i)).map((x) => `nas skip ${x.key} (symlink-on-mirror)`),
    ];
    expect([...plan(input(entries, { remoteIsMirror: true }))].map(show)).toEqual(expected);
  });
});
