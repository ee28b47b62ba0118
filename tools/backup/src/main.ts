import { runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const backupTool: ToolDefinition = {
  name: 'backup',
  summary: "Back up into the vault: what `hoard add` staged, every tracked folder with --all, or the folders named (tracked first if need be). Sends only content the vault lacks, verified on arrival; then uploads this host's metadata to the vault.",
  args: '[dir...]',
  options: [
    { flags: '--all', description: 're-scan every tracked folder' },
    { flags: '--json', description: 'the summary as a JSON record even on a terminal' },
    WAIT_OPTION,
  ],
  examples: ['hoard backup ~/Documents', 'hoard backup --all --json | jq .sentBytes'],
  async run(ctx) {
    const { openHost, ensureConfig } = await import('@hoard/state');
    const { runBackup } = await import('./backup.js');
    const config = ensureConfig();
    const host = openHost();
    const release = host.lock('backup', Number(ctx.options.wait) * 1000);
    try {
      ctx.progress.start();
      const summary = await runBackup(host, config, {
        all: Boolean(ctx.options.all),
        dirs: ctx.args,
        onScanned: (files, bytes) => ctx.progress.add(files, bytes),
        onError: (e) => ctx.fail(e),
      });
      ctx.progress.stop();
      if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
      else ctx.emit(`backup ${summary.backup}: ${summary.files} files (${summary.bytes} bytes) scanned, ${summary.newFiles} new (${summary.newBytes} bytes), ${summary.sentFiles} sent, ${summary.deleted} deleted, ${summary.errors} errors`);
    } finally {
      release();
      host.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(backupTool, argv);
}
