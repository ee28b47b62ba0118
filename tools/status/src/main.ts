import { runTool, type ToolDefinition } from '@hoard/cli';
import type { AnyRecord } from '@hoard/schema';

const LABEL: Record<string, string> = { add: 'added', modify: 'modified', delete: 'deleted', move: 'moved' };

export const statusTool: ToolDefinition = {
  name: 'status',
  summary: 'What changed in the repository (or PATH) since the last record: added, modified, deleted, moved. Changes nothing.',
  args: '[path]',
  options: [{ flags: '--json', description: 'write change records (JSONL) instead of a table' }],
  examples: ['hoard status', 'hoard status --json Photos | jq -r "select(.op==\\"delete\\") | .path"'],
  async run(ctx) {
    const { Repository } = await import('@hoard/state');
    const { diffRepository } = await import('@hoard/tool-add/pipeline');
    const reader = Repository.open(ctx.args[0] ?? '.');
    const json = Boolean(ctx.options.json);
    const counts: Record<string, number> = {};
    try {
      ctx.progress.start();
      const diff = diffRepository(reader, ctx.args[0] ?? '.', { onHashed: (files, size) => ctx.progress.add(files, size) });
      try {
        for await (const batch of diff.items) {
          for (const item of batch) {
            const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
            if (rec.type === 'error') ctx.fail({ code: String(rec.code), message: String(rec.message), path: rec.path as string | undefined });
            else if (rec.type === 'change') {
              counts[rec.op as string] = (counts[rec.op as string] ?? 0) + 1;
              if (json) ctx.emit(rec);
              else {
                ctx.progress.clear();
                ctx.emit(`${(LABEL[rec.op as string] ?? String(rec.op)).padEnd(9)} ${rec.op === 'move' ? `${String(rec.from)} -> ` : ''}${String(rec.path)}`);
              }
            } else if (rec.type === 'note' && json) ctx.emit(rec);
          }
          ctx.flush();
        }
      } finally {
        await diff.close();
      }
      ctx.progress.stop();
      if (!json && Object.keys(counts).length === 0) ctx.emit('nothing changed since the last record');
    } finally {
      reader.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(statusTool, argv);
}
