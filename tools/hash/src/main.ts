import { countOption, runTool, type ToolDefinition } from '@hoard/cli';
import { UsageError } from '@hoard/schema';
import { ALGOS, isAlgo } from '@hoard/hashing';

export const hashTool: ToolDefinition = {
  name: 'hash',
  summary: 'Add "hash" (a content id like sha256:<hex>) to every regular file record on stdin; other records pass through.',
  options: [
    { flags: '--algo <algo>', description: `sha256 (default, the identity of stored content), blake3, xxh3 or xxh64 (fast, for change detection)`, default: 'sha256' },
    { flags: '--no-cache', description: 'ignore the hash cache and read every file' },
    { flags: '--threads <n>', description: 'hashing threads (default: one per core)' },
  ],
  examples: [
    'hoard scan ~/Photos | hoard hash | jq -r "select(.type==\\"file\\") | .hash + \\"  \\" + .path"',
    'hoard scan . | hoard hash --algo xxh3 | jq -s "group_by(.hash) | map(select(length > 1) | map(.path))"',
  ],
  async run(ctx) {
    const algo = String(ctx.options.algo);
    if (!isAlgo(algo)) throw new UsageError(`unknown --algo ${algo}; choose one of ${ALGOS.join(', ')}`);
    const threads = countOption(ctx.options.threads, '--threads');
    const input = ctx.input();
    const [{ hashRecords }, { HashPool }, { openHashCaches }] = await Promise.all([
      import('./hash.js'),
      import('@hoard/hashing'),
      import('./cache.js'),
    ]);
    let pool: InstanceType<typeof HashPool> | undefined;
    const caches = ctx.options.cache === false ? undefined : openHashCaches(algo);
    ctx.progress.start();
    try {
      const output = hashRecords(input, {
        algo,
        pool: () => (pool ??= new HashPool({ threads })),
        cacheFor: caches?.cacheFor,
        onFile: (size) => ctx.progress.add(1, size),
        onExpect: (size) => ctx.progress.expect(size),
      });
      for await (const batch of output) {
        for (const item of batch) ctx.emit(item);
        ctx.flush();
        if (ctx.interrupted) break;
      }
    } finally {
      caches?.close();
      await pool?.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(hashTool, argv);
}
