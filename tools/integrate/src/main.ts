import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const integrateTool: ToolDefinition = {
  name: 'integrate',
  summary: 'The receiving side of a transfer: verify each received blob against its content id and move it into the store, recorded; anything that does not verify is rejected. Consumes transfer results; other records pass through.',
  options: [{ flags: '--transfer <id>', description: 'the transfer whose staging folder holds the received content', default: 'manual' }, REPO_OPTION],
  examples: ['hoard stage --transfer t1 < plan.jsonl | hoard transfer --transfer t1 | hoard integrate --transfer t1 | hoard reconcile --transfer t1'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { locator } = await import('@hoard/remote');
    const { integrateReceived } = await import('./integrate.js');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      const locate = locator(repo);
      ctx.progress.start();
      for await (const batch of integrateReceived(ctx.input(), { repo, transferId: String(ctx.options.transfer), locate, onItem: (b) => ctx.progress.add(1, b) })) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
      }
      ctx.progress.stop();
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(integrateTool, argv);
}
