import { runTool, REPO_OPTION, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const remoteTool: ToolDefinition = {
  name: 'remote',
  summary: 'Manage remotes: add NAME URL, list, remove NAME, set-url NAME URL (offline: to work from its last known state), fetch NAME (learn what it holds now). URL: a path or ssh://[user@]host[:port]/path (another repository), rclone:REMOTE:path (any rclone remote), offline:.',
  args: '<subcommand> [name] [url]',
  options: [
    { flags: '--layout <layout>', description: 'rclone remotes: tree (files at their paths, a mirror) or blobs (content-addressed, a vault)', default: 'tree' },
    { flags: '--hoard <command>', description: "the far side's hoard command (ssh remotes; default: hoard on its PATH)" },
    { flags: '--init', description: 'add: create the repository there if it does not exist' },
    { flags: '--scan', description: 'fetch: rescan the far tree first (its hoard add), or list a vault\'s blobs' },
    { flags: '--recorded', description: "fetch: an rclone remote's state as this repository's reconcile recorded it is taken as current, not listed again (the workflows, after an exchange without errors)" },
    { flags: '--json', description: 'list: JSONL even on a terminal' },
    REPO_OPTION,
    WAIT_OPTION,
  ],
  examples: [
    'hoard remote add nas ssh://me@nas/srv/photos --init',
    'hoard remote add vault rclone:b2:my-bucket/photos --layout blobs',
    'hoard remote list --json | jq -r .name',
    'hoard remote fetch nas',
  ],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const [sub, name, url] = ctx.args;
    const repo = Repository.open((ctx.options.repo as string | undefined) ?? '.');
    try {
      if (sub === 'add') {
        if (!name || !url) throw new UsageError('usage: hoard remote add NAME URL [--layout tree|blobs]');
        const { addRemote } = await import('./add.js');
        const release = repo.lock('remote add', Number(ctx.options.wait) * 1000);
        try {
          const loc = await addRemote(repo, name, url, { layout: String(ctx.options.layout), hoard: ctx.options.hoard as string | undefined, init: Boolean(ctx.options.init) });
          ctx.emit({ type: 'remote', name: loc.name, kind: loc.kind, url: loc.url, layout: loc.layout });
        } finally {
          release();
        }
      } else if (sub === 'list' || sub === undefined) {
        const json = Boolean(ctx.options.json) || !process.stdout.isTTY;
        const remotes = repo.remotes();
        for (const loc of remotes) {
          if (json) ctx.emit({ type: 'remote', name: loc.name, kind: loc.kind, url: loc.url, layout: loc.layout });
          else ctx.emit(`${loc.name}\t${loc.url}\t${loc.layout}`);
        }
        // On a terminal only: a pipe gets what there is, nothing.
        if (!json && !remotes.length) ctx.emit('no remotes yet (hoard remote add NAME URL)');
      } else if (sub === 'set-url') {
        if (!name || !url) throw new UsageError('usage: hoard remote set-url NAME URL   (offline: keeps its last known state and makes transfers wait)');
        const { formatRemoteUrl, parseRemoteUrl } = await import('@hoard/remote');
        const parsed = parseRemoteUrl(url);
        const current = repo.location(name);
        const kind = parsed.kind === 'path' || parsed.kind === 'ssh' ? 'repo' : parsed.kind;
        if (kind !== 'offline' && current.kind !== 'offline' && kind !== current.kind) throw new UsageError(`${name} is a ${current.kind} location; ${url} is ${kind}: add a new remote instead`);
        const loc = repo.setLocationUrl(name, kind, formatRemoteUrl(parsed));
        ctx.emit({ type: 'remote', name: loc.name, kind: loc.kind, url: loc.url, layout: loc.layout });
      } else if (sub === 'remove') {
        if (!name) throw new UsageError('usage: hoard remote remove NAME');
        repo.removeLocation(name);
      } else if (sub === 'fetch') {
        if (!name) throw new UsageError('usage: hoard remote fetch NAME');
        const { fetchRemote } = await import('./fetch.js');
        const release = repo.lock('remote fetch', Number(ctx.options.wait) * 1000);
        try {
          const outcome = await fetchRemote(repo, repo.location(name), { scan: Boolean(ctx.options.scan), recorded: Boolean(ctx.options.recorded) });
          ctx.emit({ type: 'fetch', ...outcome });
        } finally {
          release();
        }
      } else throw new UsageError(`unknown subcommand "${sub}": add, list, remove or fetch`);
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(remoteTool, argv);
}
