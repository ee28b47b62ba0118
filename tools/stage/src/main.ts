import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const stageTool: ToolDefinition = {
  name: 'stage',
  summary: 'Make the content of copy actions ready to send: hardlinks in .hoard/staging/<transfer>/ named by content id (the far repository stages its own). One result per copy; other records pass through.',
  options: [{ flags: '--transfer <id>', description: 'the transfer this staging belongs to (re-using an id resumes it)', default: 'manual' }, REPO_OPTION],
  examples: ['hoard plan --push nas | hoard stage --transfer push-nas | hoard transfer --transfer push-nas', 'hoard plan --push nas | hoard stage | jq -c "select(.type==\\"result\\" and .ok==false)"'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { locator } = await import('@hoard/remote');
    const { stageActions } = await import('./stage.js');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      const locate = locator(repo);
      for await (const batch of stageActions(ctx.input(), { repo, transferId: String(ctx.options.transfer), locate })) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
      }
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(stageTool, argv);
}
