import { runTool, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';
import type { AnyRecord, ScanRecord } from '@hoard/schema';

export const addTool: ToolDefinition = {
  name: 'add',
  summary: 'Record the current state of the repository (or of PATH inside it): scan, hash, diff-state and record in one command.',
  args: '[path]',
  options: [
    { flags: '--json', description: 'write the summary as a JSON record even on a terminal' },
    WAIT_OPTION,
  ],
  examples: ['hoard add', 'hoard add Photos/2024 && hoard events --since 100 | jq -c "[.op, .path]"'],
  async run(ctx) {
    const { Repository, LOCAL } = await import('@hoard/state');
    const { diffRepository } = await import('./pipeline.js');
    const { recordChanges } = await import('@hoard/tool-record/record');
    const { asInputLines } = await import('@hoard/jsonl');
    let repo: ReturnType<typeof Repository.open>;
    try {
      repo = Repository.open(ctx.args[0] ?? '.');
    } catch (err) {
      // Outside any repository, inside a folder this host backs up: stage for the next backup.
      const { stageForBackup } = await import('./stage-backup.js');
      if (!(err instanceof (await import('@hoard/schema')).NoRepositoryError)) throw err;
      const staged = stageForBackup(ctx.args[0] ?? '.');
      if (!staged) throw err;
      ctx.emit(ctx.options.json || !process.stdout.isTTY ? { type: 'summary', command: 'add', staged: staged.path, folder: staged.folder, errors: 0 } : `staged ${staged.path || '.'} in ${staged.folder} for the next hoard backup`);
      return;
    }
    const release = repo.lock('add', Number(ctx.options.wait) * 1000);
    // What a killed reconcile did is sync's work, not the user's: recorded as such first.
    (await import('@hoard/tool-reconcile/reconcile')).recoverReconcile(repo);
    const reader = Repository.open(repo.root);
    const counts: Record<string, number> = { add: 0, modify: 0, delete: 0, move: 0 };
    let files = 0;
    let bytes = 0;
    let scan: ScanRecord | undefined;
    try {
      ctx.progress.start();
      const diff = diffRepository(reader, ctx.args[0] ?? '.', { onHashed: (files, size) => ctx.progress.add(files, size) });
      const session = repo.beginChanges(repo.location(LOCAL).id, { origin: 'user', scan: { under: diff.under } });
      // Tap the stream: tell errors and notes as they pass, count what changed.
      async function* tapped() {
        for await (const batch of diff.items) {
          for (const item of batch) {
            // Strings here are records passed through diff-state (scan, error, note): few.
            const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
            if (rec.type === 'error') ctx.fail({ code: String(rec.code), message: String(rec.message), path: rec.path as string | undefined });
            else if (rec.type === 'change') counts[rec.op as string] = (counts[rec.op as string] ?? 0) + 1;
            else if (rec.type === 'scan') {
              scan = rec as ScanRecord;
              files = scan.files;
              bytes = scan.bytes;
            } else if (rec.type === 'note' && rec.code === 'deletions-withheld') ctx.note({ code: String(rec.code), message: String(rec.message) });
          }
          yield batch;
        }
      }
      try {
        await recordChanges(asInputLines(tapped()), session, (item) => ctx.emit(item));
      } catch (err) {
        session.abort();
        throw err;
      } finally {
        await diff.close();
      }
      const complete = scan !== undefined && scan.complete;
      const events = session.commit({ complete, files, errors: scan?.errors ?? 0, finishedAt: scan?.finishedAt }, diff.marks());
      ctx.progress.stop();
      const summary = { type: 'summary', command: 'add', files, bytes, added: counts.add, modified: counts.modify, deleted: counts.delete, moved: counts.move, events, complete, errors: scan?.errors ?? 0 };
      if (ctx.options.json || !process.stdout.isTTY) ctx.emit(summary);
      else process.stdout.write(`${files} files: ${counts.add} added, ${counts.modify} modified, ${counts.delete} deleted, ${counts.move} moved (${events} events recorded)\n`);
    } finally {
      release();
      reader.close();
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(addTool, argv);
}
