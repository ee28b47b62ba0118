import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { copyFiles, nativeError, nameList, placeFiles, PLACED } from '@hoard/native';
import path from 'node:path';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import { HoardError, isSymlinkMode, utimesSeconds, type ActionRecord, type AnyRecord, type ResultRecord } from '@hoard/schema';
import { entryKey, LOCAL, type Entry, type Repository, type StateChange } from '@hoard/state';
import { forwardToPeer, peerUrl, rcloneRoot, type OpenedLocation } from '@hoard/remote';
import { readLink, symlinkContentId } from '@hoard/hashing';
import { Tree } from './tree.js';
import { MirrorMovesAhead, reconcileRclone } from './rclone-side.js';
import { StreamedCheckouts } from './streamed.js';

export interface ReconcileOptions {
  repo: Repository;
  transferId: string;
  locate(name: string): OpenedLocation | undefined;
  /** Names the trash folder of this run. */
  stamp?: string;
  /** Apply actions here as they arrive, a batch at a time (hoard reconcile --streaming). */
  streaming?: boolean;
  onItem?: () => void;
}

/**
 * Make a location's tree match the plan. Reads every action first (moves before new
 * files, conflict copies before what they copy is overwritten, trash last), then applies
 * them: here directly, in another repository by its own `hoard reconcile`, in an rclone
 * remote by rclone. Other records pass through.
 */
export async function* reconcileActions(input: AsyncIterable<InputLine[]>, given: ReconcileOptions): AsyncGenerator<OutputItem[]> {
  // One trash folder for the run, however many batches it applies.
  const options = { ...given, stamp: given.stamp ?? new Date().toISOString().replace(/[:.]/g, '-') };
  const byTarget = new Map<string, ActionRecord[]>();
  // Where each action stood in the input: what is left after some went ahead keeps plan order.
  const order = new Map<ActionRecord, number>();
  // Another repository checks out new files while the transfer runs (see StreamedCheckouts).
  // So does a mirror in a folder here (see MirrorMovesAhead).
  const ahead = new Map<string, StreamedCheckouts | MirrorMovesAhead | null>();
  const aheadOf = (target: string) => {
    let s = ahead.get(target);
    if (s === undefined) {
      const far = target === LOCAL ? undefined : options.locate(target);
      const peer = far?.caps.online ? peerUrl(far) : undefined;
      const mirror = far?.caps.online && !peer && far.caps.layout === 'tree' && rcloneRoot(far).startsWith('/');
      s = peer ? new StreamedCheckouts(peer, far!, options.transferId, options.onItem) : mirror ? new MirrorMovesAhead(rcloneRoot(far!), options.transferId) : null;
      ahead.set(target, s);
    }
    return s;
  };
  for await (const batch of input) {
    const out: OutputItem[] = [];
    for (const line of batch) {
      const rec = line.record;
      if (!rec) {
        out.push({ type: 'error', tool: 'reconcile', code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' });
        continue;
      }
      if (rec.type !== 'action' || !['checkout', 'move', 'trash'].includes(rec.op as string)) {
        if (rec.type === 'result' && rec.tool === 'integrate' && rec.ok === true && typeof rec.target === 'string' && typeof rec.hash === 'string') aheadOf(rec.target)?.storedThere(rec.hash, typeof rec.path === 'string' ? rec.path : undefined);
        out.push(line.text);
        continue;
      }
      const a = rec as ActionRecord;
      order.set(a, order.size);
      if (aheadOf(a.target)?.take(a)) continue;
      const list = byTarget.get(a.target) ?? [];
      list.push(a);
      byTarget.set(a.target, list);
    }
    for (const s of ahead.values()) if (s) out.push(...(await s.send()));
    if (options.streaming && byTarget.get(LOCAL)?.length! >= STREAM_BATCH) yield* reconcileHere(byTarget.get(LOCAL)!.splice(0), options);
    if (out.length) yield out;
  }
  for (const [target, s] of ahead) {
    if (!s) continue;
    const { answers, left } = await s.end();
    if (answers.length) yield answers;
    if (left.length) byTarget.set(target, [...(byTarget.get(target) ?? []), ...left].sort((x, y) => order.get(x)! - order.get(y)!));
  }
  for (const [target, actions] of byTarget) {
    if (!actions.length) continue;
    if (target === LOCAL) yield* reconcileHere(actions, options);
    else {
      const movedAhead = ahead.get(target);
      yield await reconcileThere(target, actions, options, movedAhead instanceof MirrorMovesAhead ? movedAhead : undefined);
    }
  }
}

/** Actions here applied at once under --streaming. */
const STREAM_BATCH = 2000;

function result(a: ActionRecord, ok: boolean, code?: string, message?: string): ResultRecord {
  return { type: 'result', tool: 'reconcile', op: a.op, ok, path: a.path, hash: a.hash, target: a.target, ...(a.from ? { from: a.from } : {}), ...(a.pathBytes ? { pathBytes: a.pathBytes } : {}), ...(ok ? {} : { code, message }) };
}

const ORDER: Record<string, number> = { move: 0, checkout: 1, trash: 2 };
/** Checkouts per native call (see place in reconcileHere). */
const PLACE_BATCH = 1000;

async function* reconcileHere(actions: ActionRecord[], options: ReconcileOptions): AsyncGenerator<OutputItem[]> {
  const { repo } = options;
  const local = repo.location(LOCAL);
  const stamp = options.stamp ?? new Date().toISOString().replace(/[:.]/g, '-');
  const tree = new Tree(repo.root, repo.trashDir);
  const tmpDir = path.join(repo.hoardDir, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  actions.sort((a, b) => ORDER[a.op]! - ORDER[b.op]!);
  // How many checkouts still need each blob: the last one may take the stored blob itself.
  const uses = new Map<string, number>();
  for (const a of actions) if (a.op === 'checkout' && a.hash) uses.set(a.hash, (uses.get(a.hash) ?? 0) + 1);
  const trashed = new Map<string, string | Buffer>();
  const dropped: string[] = [];
  let changes: StateChange[] = [];
  let out: OutputItem[] = [];
  const commit = () => {
    if (changes.length) repo.applyChanges(local.id, changes, { origin: 'sync' });
    if (dropped.length) repo.dropCopies(local.id, dropped.splice(0));
    changes = [];
  };

  // What the state records at each action's path, asked for a few thousand actions at a time
  // (one question per file was a tenth of a large checkout). A record read before a commit of
  // this run may be stale: contentAt trusts it only while size, time and inode still match.
  let known = new Map<string, Entry>();
  let knownUntil = 0;
  let at = 0;
  const recorded = (p: string, pb?: string): Entry | undefined => {
    if (at >= knownUntil) {
      knownUntil = at + 5000;
      known = repo.entriesAt(local.id, actions.slice(at, knownUntil).flatMap((a) => (typeof a.path === 'string' ? [entryKey(a.path, a.pathBytes)] : [])));
    }
    return known.get(entryKey(p, pb));
  };
  const entryOf = (key: string, hash: string, file: string | Buffer): StateChange => {
    const st = fs.lstatSync(file);
    return { op: 'add', key, hash, size: st.size, mode: st.mode, mtimeMs: st.mtimeMs, ino: st.ino };
  };

  /** A file holding `hash` to copy from: the store, a recorded file that still holds it, or something trashed in this run. */
  const sourceOf = (hash: string): { file: string | Buffer; stored: boolean } | undefined => {
    const stored = repo.storedObject(hash);
    if (stored) return { file: stored, stored: true };
    for (const e of [repo.entryWithContent(local.id, hash)]) {
      if (!e) continue;
      const { path: p, pathBytes } = splitKey(e.key);
      const file = tree.file(p, pathBytes);
      const now = tree.contentAt(file, e);
      if (now?.hash === hash) return { file, stored: false };
    }
    const t = trashed.get(hash);
    return t ? { file: t, stored: false } : undefined;
  };

  /** Check out one file the careful way: what is there looked at, trashed if it must go, the content made whole beside and renamed in. */
  const checkout = (a: ActionRecord, file: string | Buffer, key: string, hash: string) => {
    const p = a.path!;
    const now = tree.contentAt(file, recorded(p, a.pathBytes));
    const link = isSymlinkMode(a.mode);
    const sameMeta =
      now && now.hash === hash && now.st.isSymbolicLink() === link && (a.mode === undefined || (now.st.mode & 0o7777) === (a.mode & 0o7777)) && (a.mtimeMs === undefined || Math.abs(now.st.mtimeMs - a.mtimeMs) < 1);
    if (sameMeta) {
      changes.push(entryOf(key, hash, file));
      out.push(result(a, true));
    } else if (now && now.hash !== hash && now.hash !== a.prevHash) {
      out.push(result(a, false, 'conflict', `${p} changed since the plan; kept`));
    } else {
      const source = sourceOf(hash);
      if (!source) out.push(result(a, false, 'missing-content', `no verified copy of ${hash} here to check ${p} out from`));
      else {
        // Made whole beside, then renamed into place: the path holds the old file or the new, never half of one.
        // The last use of a stored blob takes the blob itself (private to .hoard, complete, verified).
        let ready: string;
        if (link) {
          // A symlink is made from its content (the target); chmod and utimes would go through it.
          ready = path.join(tmpDir, `${crypto.randomUUID()}.tmp`);
          fs.symlinkSync(linkTarget(source.file, hash), ready);
          if (a.mtimeMs !== undefined) fs.lutimesSync(ready, new Date(), utimesSeconds(a.mtimeMs));
        } else {
          if (source.stored && uses.get(hash)! <= 0) {
            ready = source.file as string;
            dropped.push(hash);
          } else {
            ready = path.join(tmpDir, `${crypto.randomUUID()}.tmp`);
            // A file whose content some symlink here holds: its target's bytes, never what it points to.
            if (!source.stored && fs.lstatSync(source.file).isSymbolicLink()) fs.writeFileSync(ready, linkTarget(source.file, hash), { flag: 'wx', mode: 0o600 });
            else fs.copyFileSync(source.file, ready);
          }
          if (a.mode !== undefined) fs.chmodSync(ready, a.mode & 0o7777);
          if (a.mtimeMs !== undefined) fs.utimesSync(ready, new Date(), utimesSeconds(a.mtimeMs));
        }
        if (now) trashed.set(now.hash, tree.trash(file, p, a.pathBytes, stamp));
        fs.renameSync(ready, file);
        changes.push(entryOf(key, hash, file));
        out.push(result(a, true));
      }
    }
  };

  // A stored blob checked out at a path the state records nothing at is the common checkout
  // (every file of a first push or pull): those are placed natively, a batch at a time (mode
  // and mtime set, then renamed in only if nothing is there). The last use of a blob takes the
  // blob itself; an earlier one (the same content at several paths) a copy of it made in
  // .hoard/tmp first (copied one by one here, a tenth of the files of a first push were a
  // quarter of its checkout). One that finds something in the way, or its blob not in the
  // store, takes the careful path.
  type Placing = { a: ActionRecord; file: string | Buffer; key: string; hash: string; copy?: string };
  const placing: Placing[] = [];
  const settle = (batch: Placing[], placed: Float64Array | undefined) => {
    const { EEXIST, ENOENT } = os.constants.errno;
    batch.forEach(({ a, file, key, hash, copy }, i) => {
      // A job that could not run placed nothing: every file of it goes the careful way.
      const [errno, size, mode, mtimeMs, ino] = placed?.subarray(i * PLACED, (i + 1) * PLACED) ?? [ENOENT];
      if (errno && copy) fs.rmSync(copy, { force: true });
      try {
        if (!errno) {
          if (!copy) dropped.push(hash);
          changes.push({ op: 'add', key, hash, size: size!, mode: mode!, mtimeMs: mtimeMs!, ino: ino! });
          out.push(result(a, true));
        } else if (errno === EEXIST || errno === ENOENT) checkout(a, file, key, hash);
        else {
          const [code, text] = nativeError(errno!);
          out.push(result(a, false, code, `${text}: the stored copy of ${hash}, placing ${a.path}`));
        }
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        out.push(result(a, false, e.code ?? 'reconcile', e.message));
      }
    });
  };
  /** The earlier uses' copies made, then every file placed: PLACED numbers per file (a copy not made: ENOENT, placed nothing). */
  const copiesThenPlaces = async (batch: Placing[]): Promise<Float64Array> => {
    const copies = batch.filter((b) => b.copy);
    const copied = copies.length ? await copyFiles!(nameList(copies.map((b) => [repo.objectPath(b.hash), b.copy!] as const)), 0) : new Int32Array();
    const failed = new Set(copies.filter((_, i) => copied[i] !== 0));
    const ready = batch.filter((b) => !failed.has(b));
    const placed = ready.length ? await placeFiles!(nameList(ready.map((b) => [b.copy ?? repo.objectPath(b.hash), b.file] as const)), new Float64Array(ready.flatMap((b) => [b.a.mode!, b.a.mtimeMs!]))) : new Float64Array();
    const all = new Float64Array(batch.length * PLACED);
    let r = 0;
    batch.forEach((b, i) => {
      if (failed.has(b)) all[i * PLACED] = os.constants.errno.ENOENT;
      else all.set(placed.subarray(r * PLACED, ++r * PLACED), i * PLACED);
    });
    return all;
  };
  // One batch is placed on a pool thread while this thread reads the next actions.
  let inFlight: Promise<() => void> | undefined;
  const place = async (all: boolean) => {
    if (inFlight) (await inFlight)();
    inFlight = undefined;
    const batch = placing.splice(0);
    if (batch.length) {
      const job = copiesThenPlaces(batch).catch(() => undefined);
      inFlight = job.then((placed) => () => settle(batch, placed));
    }
    if (all && inFlight) {
      (await inFlight)();
      inFlight = undefined;
    }
  };

  // The intent goes down first: a run killed between a file operation and its record is
  // finished on the next open (recoverReconcile), so the state never misses what sync did.
  recoverReconcile(repo);
  const journal = journalFile(repo);
  fs.writeFileSync(journal, actions.map((a) => `${JSON.stringify(a)}\n`).join(''), { mode: 0o600 });
  for (const [i, a] of actions.entries()) {
    at = i;
    if (a.op !== 'checkout') await place(true); // in order with what is not a checkout
    try {
      const p = a.path!;
      const file = tree.file(p, a.pathBytes);
      const key = entryKey(p, a.pathBytes);
      if (a.op === 'trash') {
        const now = tree.contentAt(file, recorded(p, a.pathBytes));
        if (!now) {
          // Gone already (a run cut short after the rename, before its record): record it now.
          if (recorded(p, a.pathBytes)) changes.push({ op: 'delete', key });
          out.push(result(a, true));
        }
        else if (now.hash !== a.prevHash) out.push(result(a, false, 'conflict', `${p} changed since the plan; kept`));
        else {
          trashed.set(now.hash, tree.trash(file, p, a.pathBytes, stamp));
          changes.push({ op: 'delete', key });
          out.push(result(a, true));
        }
      } else if (a.op === 'move') {
        const fromFile = tree.file(a.from!, a.fromBytes);
        const fromKey = entryKey(a.from!, a.fromBytes);
        const src = tree.contentAt(fromFile, repo.entry(local.id, fromKey));
        const dst = tree.contentAt(file, recorded(p, a.pathBytes));
        if (!src && dst && dst.hash === a.hash) {
          // Moved already (a run cut short before its record): record it now.
          changes.push({ op: 'move', key, fromKey, hash: dst.hash, size: dst.st.size, mode: dst.st.mode, mtimeMs: dst.st.mtimeMs, ino: dst.st.ino });
          out.push(result(a, true));
        }
        else if (!src || src.hash !== a.prevHash) out.push(result(a, false, 'conflict', `${a.from} changed or went since the plan; not moved`));
        else {
          if (dst) trashed.set(dst.hash, tree.trash(file, p, a.pathBytes, stamp));
          fs.renameSync(fromFile, file);
          changes.push({ op: 'move', key, fromKey, hash: src.hash, size: src.st.size, mode: src.st.mode, mtimeMs: src.st.mtimeMs, ino: src.st.ino });
          out.push(result(a, true));
        }
      } else {
        const hash = a.hash!;
        uses.set(hash, (uses.get(hash) ?? 1) - 1);
        const last = uses.get(hash)! <= 0;
        if (placeFiles && (last || copyFiles) && a.mode !== undefined && !isSymlinkMode(a.mode) && a.mtimeMs !== undefined && !recorded(p, a.pathBytes)) {
          placing.push({ a, file, key, hash, ...(last ? {} : { copy: path.join(tmpDir, `${crypto.randomUUID()}.tmp`) }) });
          if (placing.length >= PLACE_BATCH) await place(false);
        } else checkout(a, file, key, hash);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      out.push(result(a, false, e.code ?? 'reconcile', e.message));
    }
    options.onItem?.();
    // Results go on every 2,000; the state is written every 20,000 changes (each commit
    // rewrites the index pages it touched: fewer, bigger ones cost far less). What a kill
    // in between leaves unrecorded, the journal recovers (recoverReconcile).
    if (changes.length >= 20_000) commit();
    if (out.length >= 2000) {
      yield out;
      out = [];
    }
  }
  await place(true);
  commit();
  fs.rmSync(journal, { force: true });
  yield out;
}

/** Longest content read as a symlink's target (Linux allows 4,095 bytes). */
const MAX_LINK_TARGET = 1 << 16;

/**
 * A symlink's target: content `hash` as bytes, read from a symlink holding it (its own
 * target) or from a small file (a stored blob), and checked against the content id.
 */
function linkTarget(file: string | Buffer, hash: string): Buffer {
  const st = fs.lstatSync(file);
  const bytes = st.isSymbolicLink() ? readLink(file).target : st.isFile() && st.size <= MAX_LINK_TARGET ? fs.readFileSync(file) : undefined;
  if (!bytes || symlinkContentId(bytes) !== hash) throw new HoardError(`${String(file)} does not hold ${hash} as a symlink's target`, 'bad-symlink');
  return bytes;
}

function journalFile(repo: Repository): string {
  return path.join(repo.hoardDir, 'reconcile.journal');
}

/**
 * After a reconcile that was killed: record what its journal says it meant to do and the
 * tree shows done (a file checked out, moved, or sent to trash), with origin sync, so
 * the next `hoard add` does not take sync's work for the user's. Anything else is left
 * for the next plan. Call with the repository's write lock held.
 */
export function recoverReconcile(repo: Repository): number {
  const journal = journalFile(repo);
  let text: string;
  try {
    text = fs.readFileSync(journal, 'utf8');
  } catch {
    return 0;
  }
  const local = repo.location(LOCAL);
  const tree = new Tree(repo.root, repo.trashDir);
  const changes: StateChange[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    let a: ActionRecord;
    try {
      a = JSON.parse(line) as ActionRecord;
    } catch {
      break; // the journal's last line was cut short: nothing after it ran
    }
    try {
      const key = entryKey(a.path!, a.pathBytes);
      const recorded = repo.entry(local.id, key);
      const now = tree.contentAt(tree.file(a.path!, a.pathBytes), recorded);
      if (a.op === 'checkout' && now && now.hash === a.hash && (!recorded || recorded.hash !== now.hash || recorded.ino !== now.st.ino)) {
        changes.push({ op: 'add', key, hash: now.hash, size: now.st.size, mode: now.st.mode, mtimeMs: now.st.mtimeMs, ino: now.st.ino });
      } else if (a.op === 'trash' && !now && recorded) changes.push({ op: 'delete', key });
      else if (a.op === 'move' && now && now.hash === a.hash) {
        const fromKey = entryKey(a.from!, a.fromBytes);
        if (repo.entry(local.id, fromKey) && !tree.contentAt(tree.file(a.from!, a.fromBytes))) {
          changes.push({ op: 'move', key, fromKey, hash: now.hash, size: now.st.size, mode: now.st.mode, mtimeMs: now.st.mtimeMs, ino: now.st.ino });
        }
      }
    } catch {
      /* a path that cannot be looked at now: the next plan deals with it */
    }
  }
  if (changes.length) repo.applyChanges(local.id, changes, { origin: 'sync' });
  fs.rmSync(journal, { force: true });
  return changes.length;
}

function splitKey(key: string): { path: string; pathBytes?: string } {
  const nul = key.indexOf('\0');
  return nul === -1 ? { path: key } : { path: key.slice(0, nul), pathBytes: key.slice(nul + 1) };
}

async function reconcileThere(target: string, actions: ActionRecord[], options: ReconcileOptions, movedAhead?: MirrorMovesAhead): Promise<OutputItem[]> {
  const far = options.locate(target);
  if (!far) return actions.map((a) => result(a, false, 'unknown-location', `no location named "${target}"`));
  if (!far.caps.online) return actions.map((a) => result(a, false, 'offline', `${target} is offline: the change waits`));
  const peer = peerUrl(far);
  if (!peer) return reconcileRclone(far, actions, options, result, movedAhead);
  const out: OutputItem[] = [];
  try {
    for await (const rec of forwardToPeer(peer, target, 'reconcile', ['--transfer', options.transferId], actions as AnyRecord[], { hoard: far.location.options.hoard })) {
      out.push(rec);
      options.onItem?.();
    }
  } catch (err) {
    out.push({ type: 'error', tool: 'reconcile', code: (err as NodeJS.ErrnoException).code ?? 'peer', message: (err as Error).message });
  }
  return out;
}
