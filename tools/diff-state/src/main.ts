import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const diffStateTool: ToolDefinition = {
  name: 'diff-state',
  summary: "Compare hashed file records on stdin with a location's recorded state; write change records (add, modify, delete, move).",
  options: [
    { flags: '--location <name>', description: 'the recorded location to compare with', default: 'local' },
    { flags: '--under <path>', description: 'only this folder was scanned (relative to the root): nothing outside it is compared or deleted' },
    { flags: '--unchanged', description: 'also write "unchanged" records' },
    REPO_OPTION,
  ],
  examples: [
    'hoard scan . | hoard hash | hoard diff-state | jq -c "select(.type==\\"change\\") | [.op, .path]"',
    'hoard scan --root . Photos/2024 | hoard hash | hoard diff-state --under Photos/2024',
  ],
  async run(ctx) {
    const { Repository, LOCAL } = await import('@hoard/state');
    const { diffState } = await import('./diff-state.js');
    const repo = Repository.open(ctx.options.repo as string | undefined);
    try {
      const location = repo.location(ctx.options.location === undefined ? LOCAL : String(ctx.options.location));
      const under = ctx.options.under === undefined ? '' : String(ctx.options.under).replace(/\/+$/, '');
      const changes = diffState(ctx.input(), { entries: repo.entries(location.id, under), location: location.name, under, unchanged: Boolean(ctx.options.unchanged) });
      for await (const batch of changes) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
        if (ctx.interrupted) return;
      }
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(diffStateTool, argv);
}
