import { runTool, REPO_OPTION, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';
import { UsageError } from '@hoard/schema';

export const stateTool: ToolDefinition = {
  name: 'state',
  summary: 'hoard state rebuild: recompute the current state of every location from the event log (the state is a cache of the log).',
  args: '<action>',
  options: [
    REPO_OPTION,
    WAIT_OPTION,
  ],
  examples: ['hoard state rebuild && hoard fsck --state'],
  async run(ctx) {
    if (ctx.args[0] !== 'rebuild') throw new UsageError('the only action is: hoard state rebuild');
    const { Repository } = await import('@hoard/state');
    const repo = Repository.open(ctx.options.repo as string | undefined);
    const release = repo.lock('state rebuild', Number(ctx.options.wait) * 1000);
    try {
      const entries = repo.rebuildState();
      ctx.emit({ type: 'summary', command: 'state rebuild', entries, errors: 0 });
    } finally {
      release();
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(stateTool, argv);
}
