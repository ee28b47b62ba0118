import { formatBytes, formatCount, runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const restoreTool: ToolDefinition = {
  name: 'restore',
  summary:
    'Bring back a file (by default as FILE.<short-hash> beside it, metadata restored) or a whole folder as of a time (--to required). --from-vault: on a new machine, fetch a host\'s metadata from the vault, then all its files under --to.',
  args: '[path]',
  options: [
    { flags: '--version <n>', description: 'the Nth version (hoard log numbers them)' },
    { flags: '--at <time>', description: 'as it was at this time (ISO, e.g. 2026-11-22T10:00)' },
    { flags: '--hash <id>', description: 'the version with this content id (a prefix will do)' },
    { flags: '--content-only', description: 'content only: no mode, owner or times' },
    { flags: '--to <path>', description: 'write here instead (a folder for folders)' },
    { flags: '--from-vault', description: 'disaster recovery: restore from the metadata in the vault' },
    { flags: '--host <id>', description: '--from-vault: which host (without it, several hosts are listed)' },
    { flags: '--vault <url>', description: '--from-vault: the vault (default: the configured one)' },
    { flags: '--json', description: 'the summary as JSON even on a terminal' },
    WAIT_OPTION,
  ],
  examples: ['hoard restore notes.txt --version 2', 'hoard restore ~/Documents --at 2026-11-01 --to /tmp/docs-nov', 'hoard restore --from-vault --vault rclone:s3:bucket/hoard --to /mnt/new'],
  async run(ctx) {
    const { runRestore } = await import('./run.js');
    ctx.progress.start();
    const summary = await runRestore(ctx.args[0], ctx.options, (e) => ctx.fail(e), (rec) => ctx.emit(rec), ctx.progress);
    ctx.progress.stop();
    if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
    else ctx.emit(`restored ${formatCount(Number(summary.restored), 'file')} (${formatBytes(Number(summary.bytes))}) to ${String(summary.to)}${summary.unchanged ? `, ${formatCount(Number(summary.unchanged))} of them already there` : ''}; ${formatCount(Number(summary.trashed))} moved to trash; ${formatCount(Number(summary.errors))} errors`);
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(restoreTool, argv);
}
