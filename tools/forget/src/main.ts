import { runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const forgetTool: ToolDefinition = {
  name: 'forget',
  summary: "Drop old versions of backed-up files by a retention policy (each file's newest version always stays), then upload this host's metadata. Blobs go only with hoard prune.",
  options: [
    { flags: '--keep-last <n>', description: 'the N newest versions' },
    { flags: '--keep-hourly <n>', description: 'the newest version of each of the last N hours that have one' },
    { flags: '--keep-daily <n>', description: '... of each of the last N days' },
    { flags: '--keep-weekly <n>', description: '... weeks' },
    { flags: '--keep-monthly <n>', description: '... months' },
    { flags: '--keep-yearly <n>', description: '... years' },
    { flags: '--dry-run', description: 'only say what would be dropped' },
    { flags: '--json', description: 'JSON summary even on a terminal' },
    WAIT_OPTION,
  ],
  examples: ['hoard forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run', 'hoard forget --keep-last 3 && hoard prune'],
  async run(ctx) {
    const { openHost, ensureConfig, keyPath } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const { FULL_UPLOAD_NEEDED, uploadMetadata, vaultSpec } = await import('@hoard/backup');
    const { keepers } = await import('./policy.js');
    const policy: Record<string, number> = {};
    for (const rule of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly']) {
      const v = ctx.options[`keep${rule[0]!.toUpperCase()}${rule.slice(1)}`];
      if (v === undefined) continue;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--keep-${rule} takes a whole number`);
      policy[rule] = n;
    }
    if (!Object.keys(policy).length) throw new UsageError('say what to keep: --keep-last N, --keep-daily N, ...');
    const config = ensureConfig();
    const host = openHost();
    const release = host.lock('forget', Number(ctx.options.wait) * 1000);
    const dry = Boolean(ctx.options.dryRun);
    let removed = 0;
    let kept = 0;
    try {
      const rows = host.db.prepare('SELECT id, location_id AS loc, key, hash, created_at AS createdAt FROM snapshots ORDER BY location_id, key, id DESC').all() as Array<{ id: number; loc: number; key: string; hash: string; createdAt: string }>;
      const drop: number[] = [];
      for (let i = 0; i < rows.length; ) {
        let j = i;
        while (j < rows.length && rows[j]!.loc === rows[i]!.loc && rows[j]!.key === rows[i]!.key) j++;
        const versions = rows.slice(i, j);
        const keep = keepers(versions.map((v) => v.createdAt), policy);
        versions.forEach((v, n) => {
          if (keep.has(n)) kept++;
          else {
            drop.push(v.id);
            removed++;
            if (dry || !process.stdout.isTTY) ctx.emit({ type: 'forget', path: keyPath(v.key).path, hash: v.hash, time: v.createdAt, dryRun: dry });
          }
        });
        i = j;
      }
      if (!dry) {
        const del = host.db.prepare('DELETE FROM snapshots WHERE id = ?');
        host.db.transaction(() => {
          drop.forEach((id) => del.run(id));
          // Deleted rows cannot travel in a delta: the next upload is a whole copy.
          if (drop.length) host.setMeta(FULL_UPLOAD_NEEDED, '1');
        }).immediate();
        if (drop.length) await uploadMetadata(host, vaultSpec(config.vaults[config.defaultVault]!.url), config.hostId);
      }
      const summary = { type: 'summary', command: 'forget', dryRun: dry, removed, kept, errors: 0 };
      if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
      else ctx.emit(`${dry ? 'would drop' : 'dropped'} ${removed} old versions, kept ${kept}`);
    } finally {
      release();
      host.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(forgetTool, argv);
}
