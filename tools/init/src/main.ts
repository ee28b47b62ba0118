import { runTool, type ToolDefinition } from '@hoard/cli';

export const initTool: ToolDefinition = {
  name: 'init',
  summary: 'Make DIR (default .) a hoard repository: creates DIR/.hoard/ with the state database and a host id.',
  args: '[dir]',
  options: [
    { flags: '--nested', description: 'allow a repository inside another one' },
    { flags: '--exists-ok', description: 'succeed when DIR is a repository already' },
  ],
  examples: ['hoard init ~/Photos', 'hoard init . && hoard add'],
  async run(ctx) {
    const { Repository, findRepository } = await import('@hoard/state');
    const path = await import('node:path');
    const dir = path.resolve(ctx.args[0] ?? '.');
    if (ctx.options.existsOk && findRepository(dir) === dir) {
      const repo = Repository.open(dir);
      ctx.emit({ type: 'repository', root: repo.root, id: repo.meta('id'), host: repo.meta('host'), algo: repo.meta('algo') });
      repo.close();
      return;
    }
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
