import fs from 'node:fs';
import path from 'node:path';
import type { OutputItem } from '@hoard/jsonl';
import { Tree } from './tree.js';
import { AheadGate } from './ahead.js';
import type { ActionRecord, ResultRecord } from '@hoard/schema';
import { entryKey, type Entry } from '@hoard/state';
import os from 'node:os';
import { nameList, nativeError, renameFiles } from '@hoard/native';
import { mirrorAreas, rclone, rcloneBatch, rcloneRoot, rcloneSide, remoteJoin, writeManifest, type OpenedLocation } from '@hoard/remote';
import type { ReconcileOptions } from './reconcile.js';

type MakeResult = (a: ActionRecord, ok: boolean, code?: string, message?: string) => ResultRecord;

/**
 * Reconcile an rclone location from here. A mirror (tree layout): files to overwrite or
 * delete are first moved into its `.hoard/trash/<stamp>/`, renames are server-side moves,
 * new content moves in from the remote's staging folder (where rclone wrote it whole).
 * A vault (blobs layout) only changes its manifest. Either way the manifest
 * (`.hoard/manifest.jsonl`: path, content id, size, mode, mtime) is rewritten, then the
 * location's recorded state.
 */
export async function reconcileRclone(far: OpenedLocation, actions: ActionRecord[], options: ReconcileOptions, result: MakeResult, ahead?: MirrorMovesAhead): Promise<OutputItem[]> {
  const { repo } = options;
  const root = rcloneRoot(far);
  const stamp = options.stamp ?? new Date().toISOString().replace(/[:.]/g, '-');
  const known = new Map<string, Entry>();
  for (const e of repo.entries(far.location.id)) known.set(e.key, e);
  const out: OutputItem[] = [];
  const mirror = far.caps.layout === 'tree';
  const toTrash: ActionRecord[] = [];
  const moves: ActionRecord[] = [];
  const checkouts: ActionRecord[] = [];
  for (const a of actions) {
    const key = entryKey(a.path!, a.pathBytes);
    const now = known.get(key);
    if (a.op === 'trash') {
      if (!now) out.push(result(a, true));
      else if (now.hash !== a.prevHash) out.push(result(a, false, 'conflict', `${a.path} changed there since the plan; kept`));
      else toTrash.push(a);
    } else if (a.op === 'move') {
      const src = known.get(entryKey(a.from!, a.fromBytes));
      if (!src && now?.hash === a.hash) out.push(result(a, true));
      else if (!src || src.hash !== a.prevHash) out.push(result(a, false, 'conflict', `${a.from} changed or went there since the plan; not moved`));
      else moves.push(a);
    } else if (now && now.hash !== a.hash && now.hash !== a.prevHash) out.push(result(a, false, 'conflict', `${a.path} changed there since the plan; kept`));
    else checkouts.push(a);
  }
  const failed = new Map<string, string>();
  /** Paths where something appeared since the plan (found by a move ahead too): left as they are. */
  const appeared = new Set<string>(ahead?.appeared);
  if (mirror) {
    const areas = mirrorAreas(root);
    // Old versions go to the mirror's trash before anything replaces them.
    const overwritten = checkouts.filter((a) => known.has(entryKey(a.path!, a.pathBytes)) && known.get(entryKey(a.path!, a.pathBytes))!.hash !== a.hash);
    const trashKeys = [...toTrash, ...overwritten].map((a) => a.path!);
    if (root.startsWith('/')) {
      // rclone's local backend: a folder here; renames do what rclone's moves would, without a process per batch.
      const tree = new Tree(root, path.join(root, '.hoard', 'trash'));
      const rename = (from: string, to: () => string | Buffer, key: string) => {
        try {
          fs.renameSync(from, to());
        } catch (err) {
          failed.set(key, (err as Error).message);
        }
      };
      if (trashKeys.length) {
        fs.mkdirSync(areas.trash(stamp), { recursive: true });
        const trash = new Tree(areas.trash(stamp), '');
        for (const k of trashKeys) rename(path.join(root, k), () => trash.file(k), k);
      }
      for (const a of moves) rename(path.join(root, a.from!), () => tree.file(a.path!), a.path!);
      const incoming = checkouts.filter((a) => !failed.has(a.path!) && !appeared.has(a.path!) && !ahead?.moved.has(a.path!) && known.get(entryKey(a.path!, a.pathBytes))?.hash !== a.hash);
      await moveIn(incoming, areas.staging(options.transferId), tree, failed, appeared);
    } else {
      if (trashKeys.length) for (const [k, m] of (await rcloneBatch('move', areas.local ? rcloneSide(root, 'src') : root, areas.trash(stamp), trashKeys)).failed) failed.set(k, m);
      for (const a of moves) {
        try {
          await rclone(['moveto', remoteJoin(root, a.from!), remoteJoin(root, a.path!)]);
        } catch (err) {
          failed.set(a.path!, (err as Error).message);
        }
      }
      const incoming = checkouts.filter((a) => !failed.has(a.path!) && known.get(entryKey(a.path!, a.pathBytes))?.hash !== a.hash);
      if (incoming.length) {
        for (const [k, m] of (await rcloneBatch('move', areas.local ? rcloneSide(areas.staging(options.transferId), 'src') : areas.staging(options.transferId), root, incoming.map((a) => a.path!))).failed) failed.set(k, m);
      }
    }
  }
  for (const a of [...toTrash, ...moves, ...checkouts]) {
    const key = entryKey(a.path!, a.pathBytes);
    if (appeared.has(a.path!)) {
      out.push(result(a, false, 'conflict', `${a.path} appeared there since the plan; kept`));
      continue;
    }
    if (failed.has(a.path!)) {
      out.push(result(a, false, 'rclone', failed.get(a.path!)!));
      continue;
    }
    if (a.op === 'trash') known.delete(key);
    else if (a.op === 'move') {
      const src = known.get(entryKey(a.from!, a.fromBytes))!;
      known.delete(entryKey(a.from!, a.fromBytes));
      known.set(key, { ...src, key });
    } else known.set(key, { key, hash: a.hash!, size: a.size ?? 0, mode: a.mode ?? 0o100644, mtimeMs: a.mtimeMs ?? Date.now(), ino: 0 });
    out.push(result(a, true));
    options.onItem?.();
  }
  const entries = [...known.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  await writeManifest(root, entries);
  repo.setState(far.location.id, entries);
  return out;
}

const { EEXIST } = os.constants.errno;

/** Files moved in at once, at least, while the transfer runs. */
const MOVE_AHEAD_AT = 2000;

/**
 * A mirror in a folder here takes each new file as soon as it arrived whole in its staging
 * folder, not all 100,000 of a first push after the last one came (a second of its tail).
 * Only a checkout that may go ahead (AheadGate), and only where nothing is (RENAME_NOREPLACE,
 * as moveIn always does). Every action still goes to reconcileRclone at the end, which records them
 * all and moves in only what is left (a move that failed ahead is tried again there).
 */
export class MirrorMovesAhead {
  readonly moved = new Set<string>();
  readonly appeared = new Set<string>();
  /** A file arrives at its path; one whose name rclone lists only as bytes never goes ahead. */
  private gate = new AheadGate((a) => (a.pathBytes === undefined ? a.path : undefined));
  private moving: Promise<void> = Promise.resolve();
  private readonly tree: Tree;
  private readonly staging: string;

  constructor(root: string, transferId: string) {
    this.tree = new Tree(root, path.join(root, '.hoard', 'trash'));
    this.staging = mirrorAreas(root).staging(transferId);
  }

  /** Note an action (each one still goes to the final run: false). */
  take(a: ActionRecord): boolean {
    this.gate.note(a);
    return false;
  }

  /** The transfer wrote this path's file whole into staging (integrate said so). */
  storedThere(_hash: string, p?: string): void {
    if (p !== undefined) this.gate.arrive(p);
  }

  async send(all = false): Promise<OutputItem[]> {
    const batch = this.gate.takeReady(all ? 1 : MOVE_AHEAD_AT);
    if (batch.length) {
      // One batch at a time, in order; the next input is read meanwhile.
      this.moving = this.moving.then(async () => {
        // A move that failed here is tried again by the final run, which reports it.
        const failed = new Map<string, string>();
        await moveIn(batch, this.staging, this.tree, failed, this.appeared);
        for (const a of batch) if (!failed.has(a.path!) && !this.appeared.has(a.path!)) this.moved.add(a.path!);
      });
    }
    return [];
  }

  async end(): Promise<{ answers: OutputItem[]; left: ActionRecord[] }> {
    await this.send(true);
    await this.moving;
    return { answers: [], left: [] };
  }
}

/** Checkouts moved in per native call, and calls at once (each on a thread of libuv's pool). */
const MOVE_BATCH = 1000;
const MOVES_AT_ONCE = 2;

/**
 * New content moved from a mirror's staging folder (where the transfer wrote it whole, its
 * mode and times the source's) to its paths, only where nothing is: what appeared at a path
 * since the plan is left as it is (`appeared`), never replaced. Natively a batch at a time on
 * a pool thread (RENAME_NOREPLACE; 100,000 renames on this thread were two seconds of a first
 * push), else by link and unlink.
 */
async function moveIn(actions: ActionRecord[], staging: string, tree: Tree, failed: Map<string, string>, appeared: Set<string>): Promise<void> {
  const pairs = (batch: ActionRecord[]) =>
    batch.flatMap((a) => {
      try {
        return [{ a, from: path.join(staging, a.path!), to: tree.file(a.path!) }];
      } catch (err) {
        failed.set(a.path!, (err as Error).message);
        return [];
      }
    });
  const native = renameFiles;
  if (!native) {
    for (const { a, from, to } of pairs(actions)) {
      try {
        fs.linkSync(from, to);
        fs.unlinkSync(from);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') appeared.add(a.path!);
        else failed.set(a.path!, (err as Error).message);
      }
    }
    return;
  }
  let next = 0;
  const lane = async () => {
    while (next < actions.length) {
      const batch = pairs(actions.slice(next, (next += MOVE_BATCH)));
      const errnos = await native(nameList(batch.map(({ from, to }) => [from, to] as const)));
      batch.forEach(({ a, from, to }, i) => {
        const errno = errnos[i]!;
        if (errno === EEXIST) appeared.add(a.path!);
        else if (errno) failed.set(a.path!, `${nativeError(errno)[1]}, moving '${from}' -> '${String(to)}'`);
      });
    }
  };
  await Promise.all(Array.from({ length: MOVES_AT_ONCE }, lane));
}
