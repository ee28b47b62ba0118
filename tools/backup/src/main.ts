import { countOption, formatBytes, formatCount, formatDuration, runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';
import type { BackupOptions, BackupSummary } from './backup.js';

export const backupTool: ToolDefinition = {
  name: 'backup',
  summary: "Back up into the vault: what `hoard add` staged, every tracked folder with --all, or the folders named (tracked first if need be). Sends only content the vault lacks, verified on arrival; then uploads this host's metadata to the vault.",
  args: '[dir...]',
  options: [
    { flags: '--all', description: 're-scan every tracked folder' },
    { flags: '--json', description: 'the summary as a JSON record even on a terminal' },
    { flags: '--record-every <n>', description: 'record what is safe in the vault during the scan once n changes are held (default 131072): lower holds less in memory, higher commits less often' },
    WAIT_OPTION,
  ],
  examples: ['hoard backup ~/Documents', 'hoard backup --all --json | jq .sentBytes'],
  async run(ctx) {
    const recordEvery = countOption(ctx.options.recordEvery, '--record-every');
    const { openHost, ensureConfig } = await import('@hoard/state');
    const { runBackup } = await import('./backup.js');
    const config = ensureConfig();
    const host = openHost();
    const release = host.lock('backup', Number(ctx.options.wait) * 1000);
    try {
      const started = Date.now();
      let sent = 0;
      ctx.progress.start();
      const summary = await runBackup(host, config, {
        all: Boolean(ctx.options.all),
        dirs: ctx.args,
        recordEvery,
        onScanned: (files, bytes) => ctx.progress.add(files, bytes),
        onSent: (bytes) => (sent += bytes),
        onPhase: (phase, count, bytes) => {
          if (phase === 'scanning') return ctx.progress.phase(undefined);
          // Packing and sending say how far they got: the bytes stored since they began.
          const from = sent;
          // Formatted only when drawn (off a terminal, never: toLocaleString's first call costs ~15 ms).
          ctx.progress.phase(() => phaseText(phase, count, bytes === undefined ? undefined : { done: sent - from, of: bytes }));
        },
        onError: (e) => ctx.fail(e),
      });
      ctx.progress.stop();
      if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
      else ctx.emit(describeBackup(summary, (Date.now() - started) / 1000));
    } finally {
      release();
      host.close();
    }
  },
};

/** The step a backup is in, for the progress line. */
export function phaseText(phase: Exclude<Parameters<NonNullable<BackupOptions['onPhase']>>[0], 'scanning'>, count: number, bytes?: { done: number; of: number }): string {
  const sofar = bytes ? `, ${formatBytes(bytes.done)} of ${formatBytes(bytes.of)}` : '';
  if (phase === 'packing') return `packing ${formatCount(count, 'file')}${sofar}`;
  if (phase === 'sending') return `sending ${formatCount(count, 'big file')}${sofar}`;
  if (phase === 'recording') return `recording ${formatCount(count, 'change')}`;
  return "uploading this host's metadata";
}

/** The summary for people (--json or a pipe gets the record). */
export function describeBackup(s: BackupSummary, secs: number): string {
  return (
    `backup ${s.backup}: ${formatCount(s.files, 'file')} (${formatBytes(s.bytes)}) scanned, ${formatCount(s.newFiles)} new (${formatBytes(s.newBytes)}), ` +
    `${formatCount(s.sentFiles)} sent (${formatBytes(s.sentBytes)}), ${formatCount(s.deleted)} deleted, ${formatCount(s.errors)} errors in ${formatDuration(secs)}`
  );
}

export function main(argv: string[]): Promise<never> {
  return runTool(backupTool, argv);
}
