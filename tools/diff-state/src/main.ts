import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const diffStateTool: ToolDefinition = {
  name: 'diff-state',
  summary: "Compare hashed file records on stdin with a location's recorded state; write change records (add, modify, delete, move).",
  options: [
    { flags: '--location <name>', description: 'the recorded location to compare with', default: 'local' },
    { flags: '--under <path>', description: 'only this folder was scanned (relative to the root): nothing outside it is compared or deleted' },
    { flags: '--unchanged', description: 'also write "unchanged" records' },
    { flags: '--against <name>', description: 'compare two recorded locations instead of stdin: what --location has that <name> lacks or holds otherwise' },
    REPO_OPTION,
  ],
  examples: [
    'hoard scan . | hoard hash | hoard diff-state | jq -c "select(.type==\\"change\\") | [.op, .path]"',
    'hoard scan --root . Photos/2024 | hoard hash | hoard diff-state --under Photos/2024',
    'hoard diff-state --location local --against nas | jq -c "[.op, .path]"   # what a push would do',
  ],
  async run(ctx) {
    const { Repository, LOCAL } = await import('@hoard/state');
    const { diffState, entriesAsInput } = await import('./diff-state.js');
    const repo = Repository.open(ctx.options.repo as string | undefined);
    try {
      const location = repo.location(ctx.options.location === undefined ? LOCAL : String(ctx.options.location));
      const under = ctx.options.under === undefined ? '' : String(ctx.options.under).replace(/\/+$/, '');
      const against = ctx.options.against === undefined ? undefined : repo.location(String(ctx.options.against));
      // Against another location: its recorded entries are compared with this location's,
      // read through a second connection (one iterator per connection).
      const other = against ? Repository.open(repo.root) : undefined;
      const input = against ? entriesAsInput(other!.entries(location.id, under), location.name, under) : ctx.input();
      const compared = against ?? location;
      const changes = diffState(input, { entries: repo.entries(compared.id, under), location: compared.name, under, unchanged: Boolean(ctx.options.unchanged) });
      for await (const batch of changes) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
        if (ctx.interrupted) return;
      }
      other?.close();
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(diffStateTool, argv);
}
