import { runTool, REPO_OPTION, type ToolDefinition } from '@hoard/cli';

export const lsTool: ToolDefinition = {
  name: 'ls',
  summary: "A location's recorded files as entry records (path, content id, size, mode, mtime), in path order; with --blobs also the blobs its store holds.",
  args: '[location]',
  options: [
    { flags: '--blobs', description: 'also list blobs held in the store (blob records)' },
    { flags: '--unless-version <version>', description: 'first print a state record with the version of this state; stop there if it is this one' },
    REPO_OPTION,
  ],
  examples: ['hoard ls | jq -r .path', 'hoard ls nas | jq -s "map(.size) | add"'],
  async run(ctx) {
    const { Repository, LOCAL, keyPath } = await import('@hoard/state');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      const location = repo.location(ctx.args[0] ?? LOCAL);
      if (location.name === LOCAL) {
        // A reconcile killed here earlier: finish its record before telling anyone our state.
        const { recoverReconcile } = await import('@hoard/tool-reconcile/reconcile');
        if (fs.existsSync(path.join(repo.hoardDir, 'reconcile.journal'))) {
          const release = repo.lock('ls (recovery)', 30_000);
          try {
            recoverReconcile(repo);
          } finally {
            release();
          }
        }
      }
      if (ctx.options.unlessVersion !== undefined) {
        const version = repo.stateVersion(location.id);
        ctx.emit({ type: 'state', location: location.name, version });
        if (version === String(ctx.options.unlessVersion)) return;
      }
      let n = 0;
      for (const e of repo.entries(location.id)) {
        ctx.emit({ type: 'entry', location: location.name, ...keyPath(e.key), hash: e.hash, size: e.size, mode: e.mode, mtimeMs: e.mtimeMs });
        if (++n % 4096 === 0) ctx.flush();
      }
      if (ctx.options.blobs) for (const c of repo.copies(location.id)) ctx.emit({ type: 'blob', location: location.name, hash: c.hash, size: c.size });
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(lsTool, argv);
}
