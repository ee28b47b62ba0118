import { comparePaths, symlinkTarget, type ChangeRecord, type ErrorRecord, type FileRecord, type NoteRecord, type ScanRecord } from '@hoard/schema';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import { symlinkContentId } from '@hoard/hashing';
import { entryKey, keyPath, type Entry } from '@hoard/state';

export interface DiffOptions {
  /** The location's recorded entries under `under`, in key order. */
  entries: Iterator<Entry>;
  /** Location name written into change records. */
  location: string;
  /** Only this folder (relative to the root) was scanned: nothing outside it is compared. */
  under?: string;
  /** Also emit `unchanged` records. */
  unchanged?: boolean;
}

const TOOL = 'diff-state';

/** A change with the stat fields `record` stores. */
type Change = ChangeRecord & { pathBytes?: string; fromBytes?: string; size?: number; mode?: number; mtimeMs?: number; ino?: number };

/**
 * Merge-join hashed `file` records (sorted by path, as scan writes them) against a
 * location's recorded entries (same order) and emit `change` records: modifications at
 * once; adds, deletes and moves at the end, once every candidate is known (a move is a
 * delete and an add of the same content; with duplicates, the same inode decides).
 * Deletions are emitted only when the stream carried a complete `scan` record for the
 * compared area, and never under a path that had a read error: a partial scan cannot
 * imply that something is gone. Memory holds only the candidate adds and deletes.
 */
export async function* diffState(input: AsyncIterable<InputLine[]>, options: DiffOptions): AsyncGenerator<OutputItem[]> {
  const { entries, location } = options;
  const under = options.under ?? '';
  const inArea = (key: string) => !under || key === under || key.startsWith(`${under}/`);
  // The first entry is read with the first input, not before: a producer running ahead
  // on the same entries (skipUnchanged) may still take it.
  let db: IteratorResult<Entry> | undefined;
  let lastKey: string | undefined;
  let root: string | undefined;
  let scanSeen: ScanRecord | undefined;
  const adds: Array<{ rec: FileRecord; key: string }> = [];
  const deletes: Entry[] = [];
  const errorPaths: string[] = [];
  let wholeScanIncomplete = false;

  for await (const lines of input) {
    db ??= entries.next();
    const out: OutputItem[] = [];
    for (const line of lines) {
      const rec = line.record;
      if (!rec) {
        out.push(badInput(line.lineNo, line.problem ?? 'bad input'));
        continue;
      }
      if (rec.type === 'scan') {
        scanSeen = rec as ScanRecord;
        out.push(line.text);
        continue;
      }
      if (rec.type === 'error') {
        const p = typeof rec.path === 'string' ? rec.path : '';
        if (!p || p === '.') wholeScanIncomplete = true;
        else errorPaths.push(p);
        out.push(line.text);
        continue;
      }
      // A symlink is recorded as a file whose content is its target (never followed).
      const link = rec.type === 'file' && rec.kind === 'symlink';
      if (!link && (rec.type !== 'file' || rec.kind !== undefined)) {
        out.push(line.text); // other records are not part of recorded state
        continue;
      }
      const file = link ? { ...(rec as FileRecord), hash: symlinkContentId(symlinkTarget(rec as FileRecord)) } : (rec as FileRecord);
      if (file.hash === undefined) {
        out.push(badInput(line.lineNo, `file record without "hash": run hoard hash before diff-state (${file.path})`));
        continue;
      }
      if (root === undefined) root = file.root;
      else if (file.root !== root) {
        out.push(badInput(line.lineNo, `records from two roots (${root} and ${file.root}): diff-state compares one location at a time`));
        continue;
      }
      const key = entryKey(file.path, file.pathBytes);
      if (!inArea(key)) {
        out.push(badInput(line.lineNo, `${file.path} is outside --under ${under}`));
        continue;
      }
      if (lastKey !== undefined && comparePaths(key, lastKey) <= 0) {
        out.push(badInput(line.lineNo, `input is not sorted by path (${file.path} after ${keyPath(lastKey).path}); diff-state reads scan's order`));
        continue;
      }
      lastKey = key;
      while (!db.done && comparePaths(db.value.key, key) < 0) {
        deletes.push(db.value);
        db = entries.next();
      }
      if (!db.done && db.value.key === key) {
        const before = db.value;
        db = entries.next();
        if (before.hash === file.hash && before.size === file.size && before.mode === file.mode && before.mtimeMs === file.mtimeMs) {
          if (options.unchanged) out.push(change('unchanged', file, location, before.hash));
        } else {
          out.push(change('modify', file, location, before.hash));
        }
        continue;
      }
      // With every recorded entry seen and none missing, no move can pair with this file:
      // it is an add now (a first run then holds nothing in memory).
      if (db.done && deletes.length === 0) out.push(change('add', file, location));
      else adds.push({ rec: file, key });
    }
    if (out.length) yield out;
  }
  db ??= entries.next();
  for (; !db.done; db = entries.next()) deletes.push(db.value);

  const out: OutputItem[] = [];
  // Moves: the same content vanished from one path and appeared at another.
  const gone = new Map<string, Entry[]>();
  for (const d of deletes) {
    const list = gone.get(d.hash);
    if (list) list.push(d);
    else gone.set(d.hash, [d]);
  }
  const moved = new Set<Entry>();
  for (const { rec } of adds) {
    const candidates = gone.get(rec.hash!);
    const source = candidates?.find((d) => d.ino === rec.ino && !moved.has(d)) ?? candidates?.find((d) => !moved.has(d));
    if (source) {
      moved.add(source);
      const c = change('move', rec, location, source.hash);
      const from = keyPath(source.key);
      c.from = from.path;
      if (from.pathBytes !== undefined) c.fromBytes = from.pathBytes;
      out.push(c);
    } else {
      out.push(change('add', rec, location));
    }
  }
  const complete = scanSeen !== undefined && scanSeen.complete && !wholeScanIncomplete && (scanSeen.under ?? '') === under;
  const blocked = (key: string) => errorPaths.some((p) => key === p || key.startsWith(`${p}/`));
  let withheld = 0;
  for (const d of deletes) {
    if (moved.has(d)) continue;
    if (!complete || blocked(d.key)) {
      withheld++;
      continue;
    }
    const { path, pathBytes } = keyPath(d.key);
    const c: Change = { type: 'change', op: 'delete', path, location, prevHash: d.hash };
    if (pathBytes !== undefined) c.pathBytes = pathBytes;
    out.push(c);
  }
  if (withheld) {
    out.push({
      type: 'note',
      tool: TOOL,
      code: 'deletions-withheld',
      message: `${withheld} recorded file(s) not seen, but the scan was ${scanSeen ? 'partial or had errors' : 'missing its closing scan record'}: no deletions inferred for them`,
    } satisfies NoteRecord);
  }
  if (out.length) yield out;
}

/**
 * A location's recorded entries as the hashed file records diff-state reads, closed by a
 * complete scan record: comparing two locations is then the same merge as comparing a
 * scan with one.
 */
export async function* entriesAsInput(entries: Iterable<Entry>, location: string, under = ''): AsyncGenerator<InputLine[]> {
  const root = `/${location}`;
  let lineNo = 0;
  let batch: InputLine[] = [];
  for (const e of entries) {
    const { path, pathBytes } = keyPath(e.key);
    const record: FileRecord = { type: 'file', root, path, size: e.size, mtimeMs: e.mtimeMs, mode: e.mode, ino: e.ino, dev: 0, nlink: 1, uid: 0, gid: 0, atimeMs: 0, ctimeMs: 0, birthtimeMs: 0, hash: e.hash };
    if (pathBytes !== undefined) record.pathBytes = pathBytes;
    batch.push({ lineNo: ++lineNo, text: '', record });
    if (batch.length >= 1024) {
      yield batch;
      batch = [];
    }
  }
  const scan: ScanRecord = { type: 'scan', root, files: lineNo, bytes: 0, errors: 0, complete: true, startedAt: '', finishedAt: '' };
  if (under) scan.under = under;
  batch.push({ lineNo: ++lineNo, text: JSON.stringify(scan), record: scan });
  yield batch;
}

function change(op: Change['op'], rec: FileRecord, location: string, prevHash?: string): Change {
  const c: Change = { type: 'change', op, path: rec.path, location, hash: rec.hash!, size: rec.size, mode: rec.mode, mtimeMs: rec.mtimeMs, ino: rec.ino };
  if (rec.pathBytes !== undefined) c.pathBytes = rec.pathBytes;
  if (prevHash !== undefined && op !== 'add') c.prevHash = prevHash;
  // The rest of the file's metadata rides along for those who keep it (backup snapshots).
  for (const field of ['uid', 'gid', 'atimeMs', 'ctimeMs', 'birthtimeMs', 'target', 'targetBytes'] as const) if (rec[field] !== undefined) (c as Record<string, unknown>)[field] = rec[field];
  return c;
}

function badInput(line: number, message: string): ErrorRecord {
  return { type: 'error', tool: TOOL, code: 'bad-input', line, message };
}

