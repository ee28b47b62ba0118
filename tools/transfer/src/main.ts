import { countOption, runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const transferTool: ToolDefinition = {
  name: 'transfer',
  summary: "Send staged content (stage results) to its target's receiving area: rclone copy --files-from for rclone remotes, rsync over ssh, parallel copies on this machine. One result per item; resumable: what arrived is not sent again.",
  options: [
    { flags: '--transfer <id>', description: 'the transfer (its staging folder)', default: 'manual' },
    { flags: '--batch <n>', description: 'items per rclone or rsync process (or native copy call) at most: defaults 50000 through rclone, 5000 by rsync over ssh (two at once), 1000 between folders of this machine (two at once)' },
    REPO_OPTION,
  ],
  examples: ['hoard stage --transfer t1 < plan.jsonl | hoard transfer --transfer t1 | jq -c "select(.type==\\"result\\")"', 'hoard stage --transfer t1 < plan.jsonl | hoard transfer --transfer t1 --batch 1000 > results.jsonl'],
  async run(ctx) {
    // Copies on this machine run on libuv's thread pool: 4 threads by default, too few for many small files.
    process.env.UV_THREADPOOL_SIZE ??= '16';
    const batchSize = countOption(ctx.options.batch, '--batch');
    const { Repository } = await import('@hoard/state');
    const { locator } = await import('@hoard/remote');
    const { transferStaged } = await import('./transfer.js');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      const locate = locator(repo);
      ctx.progress.start();
      for await (const batch of transferStaged(ctx.input(), { repo, transferId: String(ctx.options.transfer), batchSize, locate, onItem: (b) => ctx.progress.add(1, b) })) {
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
  return runTool(transferTool, argv);
}
