import { runTool, type ToolDefinition } from '@hoard/cli';

export const logTool: ToolDefinition = {
  name: 'log',
  summary: 'The backed-up versions of FILE, oldest first: time, content id, size, and what changed in its metadata. A table on a terminal, JSONL with --json.',
  args: '<file>',
  options: [{ flags: '--json', description: 'JSONL even on a terminal' }],
  examples: ['hoard log notes.txt', 'hoard log notes.txt --json | jq -r .hash'],
  async run(ctx) {
    const { openHost, ensureConfig, keyPath } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const { trackedFor, history } = await import('@hoard/backup');
    const file = ctx.args[0];
    if (!file) throw new UsageError('usage: hoard log FILE');
    ensureConfig();
    const host = openHost();
    try {
      const found = trackedFor(host, file, { removed: true });
      if (!found) throw new UsageError(`${file} is not inside a folder this host backs up`);
      const versions = history(host, found.dir.location.id, found.rel);
      if (!versions.length) throw new UsageError(`${file} has no backed-up version (hoard backup makes one)`);
      const json = Boolean(ctx.options.json) || !process.stdout.isTTY;
      let prev: (typeof versions)[number] | undefined;
      versions.forEach((v, i) => {
        const changed = prev
          ? (['hash', 'size', 'mode', 'uid', 'gid', 'mtimeMs'] as const).filter((f) => v[f] !== prev![f]).map((f) => (f === 'hash' ? 'content' : f))
          : ['created'];
        const rec = { type: 'version', version: i + 1, path: keyPath(v.key).path, time: v.createdAt, hash: v.hash, size: v.size, mode: v.mode, uid: v.uid, gid: v.gid, mtimeMs: v.mtimeMs, atimeMs: v.atimeMs, ctimeMs: v.ctimeMs, birthtimeMs: v.birthtimeMs, deleted: v.deleted === 1, changed: v.deleted ? ['deleted'] : changed };
        if (json) ctx.emit(rec);
        else ctx.emit(`${String(i + 1).padStart(3)}  ${v.createdAt}  ${v.hash.slice(7, 19)}  ${String(v.size).padStart(10)}  ${(v.mode & 0o7777).toString(8).padStart(4, '0')}  ${v.deleted ? 'deleted' : changed.join(', ')}`);
        prev = v;
      });
    } finally {
      host.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(logTool, argv);
}
