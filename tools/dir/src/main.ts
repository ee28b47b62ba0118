import { formatBytes, formatCount, runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const dirTool: ToolDefinition = {
  name: 'dir',
  summary:
    'Folders this host backs up. init [DIR]: track DIR (default: here); tracking a parent absorbs tracked folders inside it. list: the tracked folders, their files and bytes as last backed up, and when. remove DIR: stop backing DIR up (it may be gone); its history stays restorable. status [DIR]: each file backed up, staged, modified since its backup, or untracked (--deleted: also files gone since).',
  args: '<subcommand> [dir]',
  options: [{ flags: '--deleted', description: 'status: also list files deleted since their last backup' }, { flags: '--json', description: 'JSONL even on a terminal' }, WAIT_OPTION],
  examples: ['cd ~/Documents && hoard dir init', 'hoard dir list', 'hoard dir remove ~/old-project && hoard restore ~/old-project --to /tmp/old-project', 'hoard dir status --json | jq -r "select(.status==\\"modified\\") | .path"'],
  async run(ctx) {
    const { openHost, ensureConfig } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const [sub, dir] = ctx.args;
    const json = Boolean(ctx.options.json) || !process.stdout.isTTY;
    ensureConfig();
    const host = openHost();
    try {
      if (sub === 'init') {
        const { trackDir } = await import('@hoard/backup');
        const release = host.lock('dir init', Number(ctx.options.wait) * 1000);
        try {
          const r = trackDir(host, dir ?? '.');
          ctx.emit({ type: 'tracked', path: r.dir.path, already: r.already, absorbed: r.absorbed });
        } finally {
          release();
        }
      } else if (sub === 'list') {
        const { trackedSummaries } = await import('@hoard/backup');
        const tracked = trackedSummaries(host);
        if (!json && !tracked.length) ctx.emit('no folders backed up yet (hoard backup DIR)');
        for (const t of tracked) {
          const when = t.removedAt ? `removed ${t.removedAt}, history kept` : t.lastBackup ? `last backed up ${t.lastBackup}` : 'not backed up yet';
          ctx.emit(json ? t : `${t.path}  ${formatCount(t.files, 'file')}, ${formatBytes(t.bytes)}, ${when}`);
        }
      } else if (sub === 'remove') {
        const { untrackDir } = await import('@hoard/backup');
        if (!dir) throw new UsageError('usage: hoard dir remove DIR');
        const release = host.lock('dir remove', Number(ctx.options.wait) * 1000);
        try {
          const t = untrackDir(host, dir);
          ctx.emit(json ? { type: 'untracked', path: t.path, removedAt: t.removedAt } : `no longer backing up ${t.path}; its history stays (hoard restore ${t.path} --to PATH)`);
        } finally {
          release();
        }
      } else if (sub === 'status') {
        const { dirStatus } = await import('./status.js');
        for await (const s of dirStatus(host, dir ?? '.', Boolean(ctx.options.deleted))) {
          ctx.emit(json ? { type: 'file-status', ...s } : `${s.status.padEnd(10)} ${s.path}`);
        }
      } else throw new UsageError(`unknown subcommand "${sub}": init, list, remove or status`);
    } finally {
      host.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(dirTool, argv);
}
