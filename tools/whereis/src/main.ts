import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const whereisTool: ToolDefinition = {
  name: 'whereis',
  summary: 'Which locations hold the content of PATH (as recorded here) or of a content id, and when each was last verified or seen.',
  args: '<pathOrHash>',
  options: [{ flags: '--json', description: 'JSONL even on a terminal' }, REPO_OPTION],
  examples: ['hoard whereis Photos/2024/beach.jpg', 'hoard whereis sha256:9f86d0... --json | jq -r .location'],
  async run(ctx) {
    const { Repository, LOCAL, keyPath } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const arg = ctx.args[0];
    if (!arg) throw new UsageError('usage: hoard whereis PATH|HASH');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      let hash = arg;
      if (!/^[a-z0-9]+:[0-9a-f]{16,}$/.test(arg)) {
        const entry = repo.entry(repo.location(LOCAL).id, repo.relative(arg));
        if (!entry) throw new UsageError(`${arg} is not recorded here (hoard add records it)`);
        hash = entry.hash;
      }
      const places = repo.whereIs(hash);
      const json = Boolean(ctx.options.json) || !process.stdout.isTTY;
      if (!places.length && !json) ctx.emit(`${hash}: held nowhere hoard knows of`);
      for (const p of places) {
        const at = p.key !== undefined ? keyPath(p.key) : undefined;
        if (json) ctx.emit({ type: 'whereis', hash, location: p.location, ...(at ? { path: at.path, ...(at.pathBytes ? { pathBytes: at.pathBytes } : {}) } : { store: true }), verifiedAt: p.verifiedAt });
        else ctx.emit(`${p.location.padEnd(12)} ${at ? at.path : '(store)'}  ${p.verifiedAt ?? ''}`);
      }
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(whereisTool, argv);
}
