import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const eventsTool: ToolDefinition = {
  name: 'events',
  summary: "The repository's append-only event log as JSONL event records, oldest first.",
  options: [
    { flags: '--since <seq>', description: 'only events after this sequence number' },
    { flags: '--location <name>', description: 'only events of this location' },
    { flags: '--path <path>', description: 'only events about this path (as source or target)' },
    REPO_OPTION,
  ],
  examples: ['hoard events --path Photos/cat.jpg | jq -c "[.seq, .op, .hash]"', 'hoard events --since 1200 | jq -r .op | sort | uniq -c'],
  async run(ctx) {
    const { Repository, keyPath } = await import('@hoard/state');
    const repo = Repository.open(ctx.options.repo as string | undefined);
    try {
      const since = ctx.options.since === undefined ? undefined : Number(ctx.options.since);
      const events = repo.events({ since, location: ctx.options.location as string | undefined, key: ctx.options.path === undefined ? undefined : String(ctx.options.path) });
      let n = 0;
      for (const e of events) {
        const { path, pathBytes } = keyPath(e.key);
        const rec: Record<string, unknown> = { type: 'event', seq: e.seq, time: e.time, location: e.location, op: e.op, path };
        if (pathBytes !== undefined) rec.pathBytes = pathBytes;
        if (e.fromKey !== null) {
          const from = keyPath(e.fromKey);
          rec.from = from.path;
          if (from.pathBytes !== undefined) rec.fromBytes = from.pathBytes;
        }
        if (e.hash !== null) rec.hash = e.hash;
        if (e.prevHash !== null) rec.prevHash = e.prevHash;
        if (e.size !== null) rec.size = e.size;
        if (e.mode !== null) rec.mode = e.mode;
        if (e.mtimeMs !== null) rec.mtimeMs = e.mtimeMs;
        rec.origin = e.origin;
        if (e.scanId !== null) rec.scan = e.scanId;
        ctx.emit(rec as { type: string });
        if (++n % 1024 === 0) ctx.flush();
      }
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(eventsTool, argv);
}
