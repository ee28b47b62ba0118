import { runTool, REPO_OPTION, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const reconcileTool: ToolDefinition = {
  name: 'reconcile',
  summary: 'Make a tree match the plan: check out new and changed files, apply moves, send files to delete or overwrite to .hoard/trash/; per file atomic (temp + rename), mode and mtime restored. Other records pass through.',
  options: [
    { flags: '--transfer <id>', description: 'the transfer whose staging folder holds content for a mirror', default: 'manual' },
    { flags: '--streaming', description: 'apply actions here a few thousand at a time as they arrive, not after the whole input (for checkouts of content stored already; the lock is taken at the start)' },
    REPO_OPTION,
    WAIT_OPTION,
  ],
  examples: ['hoard plan --pull nas | hoard stage --transfer t | hoard transfer --transfer t | hoard integrate --transfer t | hoard reconcile --transfer t | jq -c "select(.ok==false)"'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { locator } = await import('@hoard/remote');
    const { reconcileActions } = await import('./reconcile.js');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    let release: (() => void) | undefined;
    try {
      const locate = locator(repo);
      ctx.progress.start();
      const lock = () => (release = repo.lock('reconcile', Number(ctx.options.wait) * 1000));
      const streaming = ctx.options.streaming === true;
      if (streaming) lock();
      const input = streaming ? ctx.input() : lockAfterInput(ctx.input(), lock);
      for await (const batch of reconcileActions(input, { repo, transferId: String(ctx.options.transfer), locate, streaming, onItem: () => ctx.progress.add(1, 0) })) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
      }
      ctx.progress.stop();
    } finally {
      release?.();
      repo.close();
    }
  },
};

/** Take the write lock only once the whole input is read: the tool before us may be writing to this repository. */
async function* lockAfterInput<T>(input: AsyncIterable<T>, lock: () => void): AsyncGenerator<T> {
  yield* input;
  lock();
}

export function main(argv: string[]): Promise<never> {
  return runTool(reconcileTool, argv);
}
