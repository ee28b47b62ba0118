import fs from 'node:fs';
import path from 'node:path';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import { isSymlinkMode, joinRecordPath, type ActionRecord, type AnyRecord, type ResultRecord } from '@hoard/schema';
import { blobKey, entryKey, keyPath, LOCAL, stagedBlobName, type Entry, type Repository } from '@hoard/state';
import { forwardToPeer, peerUrl, type OpenedLocation } from '@hoard/remote';
import { readLink } from '@hoard/hashing';

export interface StageOptions {
  repo: Repository;
  transferId: string;
  /** A location by name, or undefined when this repository has none of that name. */
  locate(name: string): OpenedLocation | undefined;
}

/**
 * For each `copy` action, make its content ready to send: a hardlink in
 * `.hoard/staging/<transfer>/<key>` (a copy across devices) when it comes from this
 * repository, the far repository's own `hoard stage` when it comes from there, nothing
 * when it sits in an rclone remote already. One result record per copy; other records
 * pass through. The result's key is the blob key (`sha256/ab/cd/<hex>`), or the path for a
 * mirror (tree layout through rclone), whose files land at their paths. For an rclone remote
 * the staged file is at that key (rclone copies it to the same name there); for another
 * repository at its staged name (`ab/<hex>`, stagedBlobName): the key's two levels of folders
 * were ~49,000 folders made, sent and removed per 100,000 blobs.
 */
export async function* stageActions(input: AsyncIterable<InputLine[]>, options: StageOptions): AsyncGenerator<OutputItem[]> {
  const { repo } = options;
  const staging = repo.stagingDir(options.transferId);
  const local = repo.location(LOCAL);
  const forwarded = new Map<string, ActionRecord[]>();
  const journal: string[] = [];
  for await (const batch of input) {
    const out: OutputItem[] = [];
    // The recorded files of this batch's copies from here, asked for at once.
    const keys = batch.flatMap((l) => (l.record?.type === 'action' && l.record.op === 'copy' && l.record.source === LOCAL && typeof l.record.path === 'string' ? [entryKey(l.record.path, l.record.pathBytes as string | undefined)] : []));
    const recorded = repo.entriesAt(local.id, keys);
    for (const line of batch) {
      if (!line.record) {
        out.push({ type: 'error', tool: 'stage', code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' });
        continue;
      }
      const rec = line.record;
      if (rec.type !== 'action' || rec.op !== 'copy') {
        out.push(line.text);
        continue;
      }
      const action = rec as ActionRecord;
      if (!action.hash || !action.path || !action.source) {
        out.push(failed(action, 'bad-input', `copy action on line ${line.lineNo} needs hash, path and source`));
        continue;
      }
      const source = action.source === LOCAL ? undefined : options.locate(action.source);
      const target = action.target === LOCAL ? undefined : options.locate(action.target);
      const mirror = target !== undefined && !target.caps.runsHoard && target.caps.layout === 'tree';
      const byStagedName = target === undefined || target.caps.runsHoard;
      if (action.source === LOCAL) {
        // Into a repository or rclone folder on this machine, the copy reads the tree's file
        // itself (no link to make and remove): what lands there is a copy, checked on arrival.
        const direct = target !== undefined && (peerUrl(target)?.kind === 'path' || rcloneLocalRoot(target) !== undefined);
        const result = stageLocal(repo, local.id, recorded.get(entryKey(action.path, action.pathBytes)), staging, byStagedName, action, mirror, direct);
        if (result.ok) journal.push(`${JSON.stringify({ key: result.key, hash: result.hash, bytes: result.bytes })}\n`);
        out.push(result);
      } else if (source?.location.kind === 'dir' && target && rcloneLocalRoot(target)) {
        // Backing up into a vault on this machine: the copy reads the file itself (no link to
        // make and remove); the vault checks its content on arrival, so a file changed
        // meanwhile is refused there and sent again next time.
        const file = joinRecordPath(source.location.url, action.path, action.pathBytes);
        const st = fs.lstatSync(file, { throwIfNoEntry: false });
        if (!st?.isFile() || st.size !== action.size) out.push(failed(action, 'changed-since-recorded', `${action.path} changed since it was scanned`));
        else out.push({ ...ok(action, blobKey(action.hash), st.size), ...originOf(file) });
      } else if (source?.location.kind === 'dir') {
        // A folder this host backs up: the file at the action's path, as the action describes it.
        const result = stageFile(source.location.url, { key: entryKey(action.path, action.pathBytes), hash: action.hash, size: action.size ?? -1, mtimeMs: Number(action.mtimeMs ?? NaN), mode: 0, ino: 0 }, staging, byStagedName, action, mirror);
        if (result.ok) journal.push(`${JSON.stringify({ key: result.key, hash: result.hash, bytes: result.bytes })}\n`);
        out.push(result);
      } else if (!source) out.push(failed(action, 'unknown-location', `no location named "${action.source}"`));
      else if (!source.caps.online) out.push(failed(action, 'offline', `${source.location.name} is offline: the transfer waits`));
      else if (source.caps.runsHoard) {
        const list = forwarded.get(source.location.name);
        if (list) list.push(action);
        else forwarded.set(source.location.name, [action]);
      }
      else if (source.caps.layout === 'blobs') out.push(ok(action, blobKey(action.hash)));
      else if (action.pathBytes !== undefined || /[\n\r]/.test(action.path)) out.push(failed(action, 'unlistable-name', 'rclone cannot list this name in --files-from (line break or non-UTF-8 bytes)'));
      else out.push(ok(action, action.path));
    }
    if (journal.length) {
      madeDir(path.dirname(staging)); // nothing may have been linked into staging (direct copies)
      fs.appendFileSync(`${staging}.journal`, journal.join(''), { mode: 0o600 });
      journal.length = 0;
    }
    yield out;
  }
  // Copies from another repository are staged there, by its own hoard stage.
  for (const [name, actions] of forwarded) {
    const opened = options.locate(name)!;
    const out: OutputItem[] = [];
    try {
      for await (const rec of forwardToPeer(peerUrl(opened)!, name, 'stage', ['--transfer', options.transferId], actions, { hoard: opened.location.options.hoard })) {
        out.push(rec);
        if (out.length >= 1000) yield out.splice(0);
      }
    } catch (err) {
      out.push({ type: 'error', tool: 'stage', code: 'peer', message: (err as Error).message });
    }
    yield out;
  }
}

const made = new Set<string>();

/** An rclone location on this machine (its local backend): its folder, else undefined. */
function rcloneLocalRoot(loc: OpenedLocation): string | undefined {
  return loc.url.kind === 'rclone' && loc.url.remote.startsWith('/') ? loc.url.remote : undefined;
}

/** mkdir -p, once per folder per run. */
function madeDir(dir: string): void {
  if (made.has(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  made.add(dir);
}

/** The file a copy is to read itself, as a stage result names it (raw bytes in base64 for a non-UTF-8 name). */
function originOf(file: string | Buffer): { origin: string } | { originBytes: string } {
  return typeof file === 'string' ? { origin: file } : { originBytes: file.toString('base64') };
}

function ok(action: ActionRecord, key: string, bytes = action.size): ResultRecord {
  return { type: 'result', tool: 'stage', op: 'copy', ok: true, hash: action.hash, key, bytes, source: action.source, target: action.target, path: action.path };
}

function failed(action: AnyRecord, code: string, message: string): ResultRecord {
  return { type: "result", tool: "stage", op: "copy", ok: false, code, message, hash: action.hash as string | undefined, source: action.source as string | undefined, target: action.target as string | undefined, path: action.path as string | undefined };
}

/**
 * Hardlink one recorded file holding the content into staging (`wanted`: what is recorded at
 * the action's path; another file with that content will do). A file changed since it was
 * recorded is not staged (its content is no longer the one planned).
 */
function stageLocal(repo: Repository, localId: number, wanted: Entry | undefined, staging: string, byStagedName: boolean, action: ActionRecord, mirror: boolean, direct: boolean): ResultRecord {
  const entry = wanted?.hash === action.hash ? wanted : repo.entryWithContent(localId, action.hash!);
  if (!entry) return failed(action, 'not-here', `no recorded file here holds ${action.hash}`);
  return stageFile(repo.root, entry, staging, byStagedName, action, mirror, direct);
}

/**
 * Hardlink the file of `entry` under `root` into staging (at its key, or `byStagedName`), if it still is
 * what was recorded (size and time); `direct`: name the file for the copy to read instead,
 * with its recorded size and mtime for the copy to check.
 */
function stageFile(root: string, entry: Entry, staging: string, byStagedName: boolean, action: ActionRecord, mirror: boolean, direct = false): ResultRecord {
  const { path: p, pathBytes } = keyPath(entry.key);
  const file = joinRecordPath(root, p, pathBytes);
  let key: string;
  if (mirror) {
    if (action.pathBytes !== undefined || /[\n\r]/.test(action.path!)) return failed(action, 'unlistable-name', 'rclone cannot list this name in --files-from (line break or non-UTF-8 bytes)');
    key = action.path!;
  } else key = blobKey(action.hash!);
  const dest = path.join(staging, byStagedName ? stagedBlobName(key) : key);
  // Read directly by the copy, a file is checked there, on the very file opened (size, mtime,
  // a regular file: transfer's copyLocal): a stat here as well was 1.5 s of a first push.
  if (direct && !isSymlinkMode(entry.mode)) return { ...ok(action, key, entry.size), ...originOf(file), originMtimeMs: entry.mtimeMs };
  try {
    const st = fs.lstatSync(file);
    const link = st.isSymbolicLink();
    if ((link ? !isSymlinkMode(entry.mode) : !st.isFile()) || st.size !== entry.size || Math.abs(st.mtimeMs - entry.mtimeMs) >= 1) {
      return failed(action, 'changed-since-recorded', `${p} changed since it was recorded: run hoard add, then plan again`);
    }
    if (link) {
      // What travels is the link's content, its target, staged as a small file: never what it points to.
      if (mirror) return failed(action, 'symlink', `${p} is a symlink: an rclone mirror holds files only`);
      const { target, hash } = readLink(file);
      if (hash !== action.hash) return failed(action, 'changed-since-recorded', `${p} changed since it was recorded: run hoard add, then plan again`);
      madeDir(path.dirname(dest));
      fs.rmSync(dest, { force: true });
      fs.writeFileSync(dest, target, { flag: 'wx', mode: 0o600 });
      return ok(action, key, target.length);
    }
    const there = fs.statSync(dest, { throwIfNoEntry: false });
    if (there && there.ino === st.ino && there.dev === st.dev) return ok(action, key, st.size);
    if (there) fs.rmSync(dest, { force: true });
    else madeDir(path.dirname(dest));
    try {
      fs.linkSync(file, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
      fs.copyFileSync(file, dest);
    }
    return ok(action, key, st.size);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failed(action, e.code ?? 'stage', `${p}: ${e.message}`);
  }
}

