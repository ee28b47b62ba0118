import { runTool, REPO_OPTION, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const trashTool: ToolDefinition = {
  name: 'trash',
  summary: 'What sync, pull and reconcile moved aside instead of deleting or overwriting: list, or restore PATH to where it was (the newest version, or --from STAMP).',
  args: '<subcommand> [path]',
  options: [
    { flags: '--from <stamp>', description: 'restore: the trash folder (a time stamp, see list) to take it from' },
    { flags: '--json', description: 'list: JSONL even on a terminal' },
    REPO_OPTION,
    WAIT_OPTION,
  ],
  examples: ['hoard trash list', 'hoard trash restore Photos/beach.jpg', 'hoard trash list --json | jq -r .path'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const { listTrash, restoreFromTrash } = await import('./trash.js');
    const [sub, target] = ctx.args;
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      if (sub === 'list' || sub === undefined) {
        const json = Boolean(ctx.options.json) || !process.stdout.isTTY;
        for (const item of listTrash(repo.trashDir)) ctx.emit(json ? { type: 'trashed', ...item } : `${item.stamp}  ${item.path}`);
      } else if (sub === 'restore') {
        if (!target) throw new UsageError('usage: hoard trash restore PATH [--from STAMP]');
        const release = repo.lock('trash restore', Number(ctx.options.wait) * 1000);
        try {
          const rel = repo.relative(target);
          ctx.emit({ type: 'result', tool: 'trash', op: 'restore', ok: true, path: rel, ...restoreFromTrash(repo.root, repo.trashDir, rel, ctx.options.from as string | undefined) });
        } finally {
          release();
        }
      } else throw new UsageError(`unknown subcommand "${sub}": list or restore`);
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(trashTool, argv);
}
