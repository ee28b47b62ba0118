import { runTool, type ToolDefinition } from '@hoard/cli';
import type { AnyRecord } from '@hoard/schema';

export const missingTool: ToolDefinition = {
  name: 'missing',
  summary: 'Recorded files that are gone (deleted or overwritten) and whose content no other recorded place holds: what would be lost for good.',
  args: '[path]',
  examples: ['hoard missing | jq -r .path'],
  async run(ctx) {
    const { Repository, LOCAL, entryKey } = await import('@hoard/state');
    const { diffRepository } = await import('@hoard/tool-add/pipeline');
    const reader = Repository.open(ctx.args[0] ?? '.');
    const lookup = Repository.open(reader.root);
    const local = lookup.location(LOCAL);
    try {
      const diff = diffRepository(reader, ctx.args[0] ?? '.');
      try {
        for await (const batch of diff.items) {
          for (const item of batch) {
            const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
            if (rec.type === 'error') ctx.fail({ code: String(rec.code), message: String(rec.message), path: rec.path as string | undefined });
            if (rec.type !== 'change' || (rec.op !== 'delete' && rec.op !== 'modify') || typeof rec.prevHash !== 'string') continue;
            const key = entryKey(String(rec.path), rec.pathBytes as string | undefined);
            if (lookup.copiesOf(rec.prevHash, local.id, key) === 0) ctx.emit({ type: 'missing', path: rec.path, hash: rec.prevHash, how: rec.op === 'delete' ? 'deleted' : 'overwritten' });
          }
          ctx.flush();
        }
      } finally {
        await diff.close();
      }
    } finally {
      lookup.close();
      reader.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(missingTool, argv);
}
