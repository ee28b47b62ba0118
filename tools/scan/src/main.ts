import { runTool, type ToolDefinition } from '@hoard/cli';
import { UsageError } from '@hoard/schema';

export const scanTool: ToolDefinition = {
  name: 'scan',
  summary: 'List every file and symlink under DIR (default .) as JSONL file records, sorted by path.',
  args: '[...dirs]',
  options: [
    { flags: '--exclude <glob>', description: 'gitignore-style pattern to leave out (repeatable); .hoardignore files apply too' },
    { flags: '--root <dir>', description: 'report paths relative to this folder, an ancestor of DIR (partial scan of a tree)' },
  ],
  examples: [
    'hoard scan ~/Photos | jq -r .path',
    'hoard scan --exclude "*.tmp" --exclude cache/ ~/Projects | jq -s "map(.size) | add"',
    'hoard scan --root ~/Photos ~/Photos/2024 | hoard hash | jq -r ".hash + \\"  \\" + .path"',
  ],
  async run(ctx) {
    const { scanTree } = await import('./scan.js');
    const dirs = ctx.args.length ? ctx.args : ['.'];
    const exclude = ([] as unknown[]).concat(ctx.options.exclude ?? []).map(String);
    const root = ctx.options.root === undefined ? undefined : String(ctx.options.root);
    if (root !== undefined && dirs.length > 1) throw new UsageError('--root takes a single DIR');
    ctx.progress.start();
    for (const dir of dirs) {
      let batches;
      try {
        batches = scanTree(dir, { exclude, root, onFiles: (count, size) => ctx.progress.add(count, size) });
        for (const batch of batches) {
          for (const item of batch) ctx.emit(item);
          ctx.flush();
          if (ctx.interrupted) return;
        }
      } catch (err) {
        if (err instanceof RangeError) throw new UsageError(err.message);
        throw err;
      }
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(scanTool, argv);
}
