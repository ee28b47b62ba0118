import { formatBytes, formatCount, runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const pruneTool: ToolDefinition = {
  name: 'prune',
  summary: "Delete the vault's blobs that no host refers to any more: reads every host's metadata in the vault first; blobs younger than --grace are kept (a backup running elsewhere may have just sent them).",
  options: [
    { flags: '--grace <seconds>', description: 'keep unreferenced blobs younger than this', default: 3600 },
    { flags: '--dry-run', description: 'only say what would be deleted' },
    { flags: '--json', description: 'JSON summary even on a terminal' },
    WAIT_OPTION,
  ],
  examples: ['hoard forget --keep-daily 30 && hoard prune', 'hoard prune --dry-run --json | jq .removable'],
  async run(ctx) {
    const { runPrune } = await import('./prune.js');
    ctx.progress.start();
    const summary = await runPrune({ graceMs: Number(ctx.options.grace) * 1000, dryRun: Boolean(ctx.options.dryRun), waitMs: Number(ctx.options.wait) * 1000, onStep: (text) => ctx.progress.phase(text) }, (rec) => ctx.emit(rec));
    ctx.progress.stop();
    if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
    else ctx.emit(`${summary.dryRun ? 'would remove' : 'removed'} ${formatCount(Number(summary.removed), 'blob')} (${formatBytes(Number(summary.removedBytes))}) of ${formatCount(Number(summary.blobs))}; ${formatCount(Number(summary.young))} young ones kept; ${Number(summary.hosts) === 1 ? "1 host's" : `${formatCount(Number(summary.hosts))} hosts'`} metadata read`);
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(pruneTool, argv);
}
