import { runTool, type ToolDefinition } from '@hoard/cli';

export const configTool: ToolDefinition = {
  name: 'config',
  summary: "This host's configuration ($XDG_CONFIG_HOME/hoard/config.json): init (a host id, generated once; the default vault under $XDG_DATA_HOME/hoard), list, vault init NAME URL (checks access, creates the layout, makes it the default).",
  args: '<subcommand> [name] [url]',
  options: [
    { flags: '--json', description: 'list: JSON even on a terminal' },
    { flags: '--host-id <id>', description: 'init: use this host id (moving a host to a new machine)' },
  ],
  examples: ['hoard config init', 'hoard config vault init s3 rclone:s3:my-bucket/hoard', 'hoard config list --json | jq -r .hostId'],
  async run(ctx) {
    const { ensureConfig, readConfig, writeConfig, configFile, dataDir } = await import('@hoard/state');
    const { UsageError } = await import('@hoard/schema');
    const [sub, a, b] = ctx.args;
    if (sub === 'init') {
      const existed = readConfig();
      const config = ensureConfig({ hostId: ctx.options.hostId as string | undefined });
      ctx.emit({ type: 'config', file: configFile(), hostId: config.hostId, created: !existed });
    } else if (sub === 'list' || sub === undefined) {
      const config = ensureConfig();
      if (ctx.options.json || !process.stdout.isTTY) ctx.emit({ type: 'config', file: configFile(), data: dataDir(), ...config });
      else {
        ctx.emit(`host id      ${config.hostId}`);
        ctx.emit(`config       ${configFile()}`);
        ctx.emit(`state        ${dataDir()}`);
        for (const [name, v] of Object.entries(config.vaults)) ctx.emit(`vault ${name.padEnd(6)} ${v.url}${name === config.defaultVault ? '  (default)' : ''}`);
      }
    } else if (sub === 'vault' && a === 'init') {
      const name = b;
      const url = ctx.args[3];
      if (!name || !url) throw new UsageError('usage: hoard config vault init NAME URL');
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`vault name "${name}" must be letters, digits, . _ -`);
      const { initVault, vaultSpec } = await import('@hoard/backup');
      await initVault(vaultSpec(url));
      const config = ensureConfig();
      config.vaults[name] = { url };
      config.defaultVault = name;
      writeConfig(config);
      ctx.emit({ type: 'vault', name, url, default: true });
    } else throw new UsageError(`unknown subcommand "${[sub, a].filter(Boolean).join(' ')}": init, list or vault init NAME URL`);
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(configTool, argv);
}
