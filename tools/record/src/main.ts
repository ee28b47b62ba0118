import { runTool, REPO_OPTION, WAIT_OPTION, type ToolDefinition } from '@hoard/cli';

export const recordTool: ToolDefinition = {
  name: 'record',
  summary: 'Commit change records on stdin (from diff-state) to the event log and the state, in one transaction; re-running it changes nothing.',
  options: [
    { flags: '--location <name>', description: 'the location the changes are about', default: 'local' },
    { flags: '--under <path>', description: 'the scan covered only this folder' },
    { flags: '--origin <who>', description: 'user (a person changed the files) or sync (hoard did)', default: 'user' },
    REPO_OPTION,
    WAIT_OPTION,
  ],
  examples: ['hoard scan . | hoard hash | hoard diff-state | hoard record | jq .events'],
  async run(ctx) {
    const { Repository, LOCAL } = await import('@hoard/state');
    const { recordChanges } = await import('./record.js');
    const { UsageError } = await import('@hoard/schema');
    const origin = String(ctx.options.origin);
    if (origin !== 'user' && origin !== 'sync') throw new UsageError('--origin is user or sync');
    const repo = Repository.open(ctx.options.repo as string | undefined);
    const release = repo.lock('record', Number(ctx.options.wait) * 1000);
    try {
      const location = repo.location(ctx.options.location === undefined ? LOCAL : String(ctx.options.location));
      const under = ctx.options.under === undefined ? '' : String(ctx.options.under).replace(/\/+$/, '');
      const session = repo.beginChanges(location.id, { origin, scan: { under } });
      let outcome;
      try {
        outcome = await recordChanges(ctx.input(), session, (item) => ctx.emit(item));
      } catch (err) {
        session.abort();
        throw err;
      }
      const scan = outcome.scan;
      const complete = scan !== undefined && scan.complete && (scan.under ?? '') === under;
      const events = session.commit({ complete, files: scan?.files ?? 0, errors: scan?.errors ?? 0, finishedAt: scan?.finishedAt });
      ctx.emit({ type: 'summary', command: 'record', location: location.name, changes: outcome.changes, events, scanComplete: complete, errors: 0 });
    } finally {
      release();
      repo.close();
    }
  },
};

export function main(argv: string[]): Promise<never> {
  return runTool(recordTool, argv);
}
