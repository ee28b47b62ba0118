import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const planTool: ToolDefinition = {
  name: 'plan',
  summary: 'The actions that bring this repository and a remote in step, from their recorded states and the state both last agreed on (three-way): copy, checkout, move, trash, skip. Reviewable JSONL; running a plan twice is harmless.',
  options: [
    { flags: '--push <remote>', description: 'changes made here go there' },
    { flags: '--pull <remote>', description: 'changes made there come here' },
    { flags: '--sync <remote>', description: 'both ways; two different edits of one file keep both (conflict copy)' },
    REPO_OPTION,
  ],
  examples: ['hoard plan --push nas | jq -c "{op, path}"', 'hoard plan --sync nas | jq -s "group_by(.op) | map({(.[0].op): length}) | add"'],
  async run(ctx) {
    const { Repository, LOCAL } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const { openLocation } = await import('@hoard/remote');
    const os = await import('node:os');
    const { plan } = await import('./plan.js');
    const chosen = (['push', 'pull', 'sync'] as const).filter((d) => ctx.options[d] !== undefined);
    if (chosen.length !== 1) throw new UsageError('say one of --push REMOTE, --pull REMOTE or --sync REMOTE');
    const direction = chosen[0]!;
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      const remote = repo.location(String(ctx.options[direction]));
      const opened = openLocation(remote);
      const local = repo.location(LOCAL);
      const base = repo.baseOf(remote);
      const mirror = !opened.caps.runsHoard && opened.caps.layout === 'tree';
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
      let n = 0;
      for (const action of plan({
        local: repo.entries(local.id),
        remote: repo.entries(remote.id),
        base: repo.entries(base.id),
        direction,
        remoteName: remote.name,
        remoteHolds: (hashes) => repo.holdsMany(remote.id, hashes),
        localHolds: (hashes) => repo.holdsMany(local.id, hashes),
        localLabel: os.hostname(),
        stamp,
        remoteIsMirror: mirror,
        // A location with no history had nothing: no question per path (a first push asks two per file).
        localHad: repo.hasHistory(local.id) ? (key, hash) => repo.hadVersion(local.id, key, hash) : () => false,
        remoteHad: repo.hasHistory(remote.id) ? (key, hash) => repo.hadVersion(remote.id, key, hash) : () => false,
        baseKnew: repo.hasHistory(base.id) ? (key) => repo.hadPath(base.id, key) : () => false,
      })) {
        ctx.emit(action);
        if (++n % 2048 === 0) ctx.flush();
      }
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(planTool, argv);
}
