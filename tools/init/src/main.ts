import { runTool, type ToolDefinition } from '@hoard/cli';

export const initTool: ToolDefinition = {
  name: 'init',
  summary: 'Make DIR (default .) a hoard repository: creates DIR/.hoard/ with the state database and a host id.',
  args: '[dir]',
  options: [{ flags: '--nested', description: 'allow a repository inside another one' }],
  examples: ['hoard init ~/Photos', 'hoard init . && hoard add'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const repo = Repository.init(ctx.args[0] ?? '.', { nested: Boolean(ctx.options.nested) });
    try {
      ctx.emit({ type: 'repository', root: repo.root, id: repo.meta('id'), host: repo.meta('host'), algo: repo.meta('algo') });
    } finally {
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(initTool, argv);
}
