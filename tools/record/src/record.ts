import { type ChangeRecord, type ErrorRecord, type ScanRecord } from '@hoard/schema';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import { entryKey, type ChangeSession, type StateChange } from '@hoard/state';

const TOOL = 'record';
const APPLY_EVERY = 5000;

export interface RecordOutcome {
  changes: number;
  scan?: ScanRecord;
}

/**
 * Apply `change` records to a location inside one open change session, in batches (flat
 * memory), and report bad lines as error records through `report`. Returns counts and
 * the closing `scan` record seen, which the caller uses to mark the scan complete.
 */
export async function recordChanges(input: AsyncIterable<InputLine[]>, session: ChangeSession, report: (item: OutputItem) => void): Promise<RecordOutcome> {
  let pending: StateChange[] = [];
  let changes = 0;
  let scan: ScanRecord | undefined;
  for await (const lines of input) {
    for (const line of lines) {
      const rec = line.record;
      if (!rec) {
        report(badInput(line.lineNo, line.problem ?? 'bad input'));
        continue;
      }
      if (rec.type === 'scan') scan = rec as ScanRecord;
      if (rec.type !== 'change') continue;
      const c = rec as ChangeRecord & { pathBytes?: string; fromBytes?: string; size?: number; mode?: number; mtimeMs?: number; ino?: number };
      if (c.op !== 'delete' && c.op !== 'unchanged' && (c.hash === undefined || c.size === undefined || c.mode === undefined || c.mtimeMs === undefined)) {
        report(badInput(line.lineNo, `change "${c.op}" of ${c.path} needs hash, size, mode and mtimeMs`));
        continue;
      }
      if (c.op === 'move' && c.from === undefined) {
        report(badInput(line.lineNo, `change "move" of ${c.path} needs "from"`));
        continue;
      }
      pending.push({
        op: c.op,
        key: entryKey(c.path, c.pathBytes),
        fromKey: c.from === undefined ? undefined : entryKey(c.from, c.fromBytes),
        hash: c.hash,
        size: c.size,
        mode: c.mode,
        mtimeMs: c.mtimeMs,
        ino: c.ino,
      });
      changes++;
      if (pending.length >= APPLY_EVERY) {
        session.apply(pending);
        pending = [];
      }
    }
  }
  session.apply(pending);
  return { changes, scan };
}

function badInput(line: number, message: string): ErrorRecord {
  return { type: 'error', tool: TOOL, code: 'bad-input', line, message };
}
