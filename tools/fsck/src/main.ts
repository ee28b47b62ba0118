import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';
import { UsageError } from '@hoard/schema';

export const fsckTool: ToolDefinition = {
  name: 'fsck',
  summary: 'Check the repository. --state: the database is intact and the cached state equals the state rebuilt from the event log. --content: re-hash every recorded file and stored blob. --remote R: the same for a remote. Exits 1 if anything is corrupt or missing.',
  options: [
    { flags: '--state', description: 'check the state database against the event log' },
    { flags: '--content', description: 're-hash the files and blobs this repository holds' },
    { flags: '--remote <name>', description: "re-hash a remote's files or blobs (there, or through rclone)" },
    REPO_OPTION,
  ],
  examples: ['hoard fsck --state && echo consistent', 'hoard fsck --remote nas | jq -c "select(.type==\\"error\\")"'],
  async run(ctx) {
    if (!ctx.options.state && !ctx.options.content && ctx.options.remote === undefined) throw new UsageError('say what to check: --state, --content or --remote NAME');
    const { Repository, keyPath } = await import('@hoard/state');
    if (ctx.options.content || ctx.options.remote !== undefined) {
      const { checkHere, checkRemote } = await import('./content.js');
      const repo = Repository.open(ctx.options.repo as string | undefined);
      try {
        let errors = 0;
        let changed = 0;
        let totals = { checked: 0, bytes: 0 };
        ctx.progress.start();
        for await (const f of ctx.options.remote !== undefined ? checkRemote(repo, String(ctx.options.remote)) : checkHere(repo)) {
          if ('checked' in f) totals = f as { checked: number; bytes: number };
          else if (f.code === 'changed-since-recorded') {
            changed++;
            ctx.note({ code: String(f.code), message: String(f.message), path: f.path as string | undefined });
          } else {
            errors++;
            ctx.fail({ code: String(f.code), message: String(f.message), path: f.path as string | undefined });
          }
        }
        ctx.progress.stop();
        ctx.emit({ type: 'summary', command: ctx.options.remote !== undefined ? `fsck --remote ${String(ctx.options.remote)}` : 'fsck --content', ...totals, changed, errors });
      } finally {
        repo.close();
      }
      if (!ctx.options.state) return;
    }
    const repo = Repository.open(ctx.options.repo as string | undefined);
    try {
      const integrity = repo.db.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') ctx.fail({ code: 'db-corrupt', message: `database integrity check failed: ${String(integrity)}` });
      const diffs = repo.verifyState();
      for (const d of diffs) {
        const { path } = keyPath(d.key);
        ctx.fail({ code: 'state-mismatch', path, message: `cached state ${JSON.stringify(d.cached)} differs from the log's ${JSON.stringify(d.rebuilt)}` });
      }
      ctx.emit({ type: 'summary', command: 'fsck --state', integrity: integrity === 'ok', mismatches: diffs.length, errors: diffs.length + (integrity === 'ok' ? 0 : 1) });
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(fsckTool, argv);
}
