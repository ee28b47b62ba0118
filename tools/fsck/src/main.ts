import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';
import { UsageError } from '@hoard/schema';

export const fsckTool: ToolDefinition = {
  name: 'fsck',
  summary: 'Check the repository. --state: the database is intact and the cached state equals the state rebuilt from the event log.',
  options: [
    { flags: '--state', description: 'check the state database against the event log' },
    REPO_OPTION,
  ],
  examples: ['hoard fsck --state && echo consistent'],
  async run(ctx) {
    if (!ctx.options.state) throw new UsageError('say what to check: --state');
    const { Repository, keyPath } = await import('@hoard/state');
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
