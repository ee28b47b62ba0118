import path from 'node:path';
import { isSymlinkMode, type ActionRecord } from '@hoard/schema';
import { keyPath, sameVersion, type Entry } from '@hoard/state';

export type Direction = 'push' | 'pull' | 'sync';

export interface PlanInput {
  /** This repository's tree, the remote's last known tree, and what both last agreed on: all in key order. */
  local: Iterable<Entry>;
  remote: Iterable<Entry>;
  base: Iterable<Entry>;
  direction: Direction;
  remoteName: string;
  /** Which of these contents a side already holds (in its tree or store): nothing needs sending. Asked once per side. */
  remoteHolds(hashes: readonly string[]): Set<string>;
  localHolds(hashes: readonly string[]): Set<string>;
  /** Labels for conflict copies: `name.conflict-<label>-<stamp>.ext`. */
  localLabel: string;
  stamp: string;
  /** The remote keeps no blobs by content id (a tree mirror): every checkout needs its content sent by path. */
  remoteIsMirror?: boolean;
  /**
   * Whether a side's history holds this version of this path: then the other side holding it
   * is only behind, not in conflict (an exchange cut short before both agreed on a base).
   */
  localHad?: (key: string, hash: string) => boolean;
  remoteHad?: (key: string, hash: string) => boolean;
  /** Whether the base ever held this path: if not, the two sides never agreed on it at all. */
  baseKnew?: (key: string) => boolean;
}

type Side = 'local' | 'remote';

interface Put {
  key: string;
  entry: Entry;
  prev?: Entry;
  /** A conflict copy: written before the path it copies is overwritten. */
  conflictCopy?: boolean;
}

interface SidePlan {
  puts: Put[];
  dels: Entry[];
  skips: ActionRecord[];
}


/** `dir/name.conflict-<label>-<stamp>.ext` for a path (the extension stays last so the file still opens). */
export function conflictName(key: string, label: string, stamp: string): string {
  const { path: p } = keyPath(key);
  const dir = path.posix.dirname(p);
  const base = path.posix.basename(p);
  const dot = base.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  const safeLabel = label.replace(/[^A-Za-z0-9._-]/g, '_');
  const name = `${stem}.conflict-${safeLabel}-${stamp}${ext}`;
  return dir === '.' ? name : `${dir}/${name}`;
}

/**
 * The three-way plan between this repository and a remote: for each path, a side that
 * changed since the base wins over one that did not; two different changes keep both
 * (sync: the remote's version becomes a conflict copy on both sides; push and pull skip
 * the path and say so); a deletion against an edit keeps the edit. Deletions become
 * trash, renames become moves (no content sent), and content a side lacks is copied once.
 */
export function* plan(input: PlanInput): Generator<ActionRecord> {
  const sides: Record<Side, SidePlan> = { local: { puts: [], dels: [], skips: [] }, remote: { puts: [], dels: [], skips: [] } };
  const toRemote = input.direction !== 'pull';
  const toLocal = input.direction !== 'push';
  const skip = (side: Side, key: string, reason: string, hash?: string) =>
    sides[side].skips.push({ type: 'action', op: 'skip', target: side === 'local' ? 'local' : input.remoteName, ...pathFields(key), ...(hash ? { hash } : {}), reason });

  // A remote that holds nothing yet (a first push there) can have nothing there renamed, trashed,
  // behind or in conflict: what goes there goes out as the walk finds it, in the order it would
  // at the end, so the chain starts on a first push's files while the walk goes on.
  const remote = peeked(input.remote);
  const early = toRemote && remote.empty ? new EarlyPuts(input.remoteName, input.remoteHolds, input.remoteIsMirror === true) : undefined;
  for (const [key, l, r, b] of mergeJoin(input.local, remote.entries, input.base)) {
    if (early && sides.remote.puts.length >= EARLY_BATCH) yield* early.take(sides.remote.puts);
    const changedL = !sameVersion(l, b);
    const changedR = !sameVersion(r, b);
    if (!changedL && !changedR) continue;
    if (sameVersion(l, r)) continue; // both sides made the same change
    if (!b && (!l || !r) && input.baseKnew?.(key) === false) {
      // One side holds a path the two never agreed on, and the other side had exactly that
      // version there before: it went away on that side (deleted or renamed) before the exchange
      // that sent it settled. Its going is the change. (Had they once agreed on the path, a
      // version coming back would be a new change: the base would know the path.)
      if (!l && r && input.localHad?.(key, r.hash)) {
        if (toRemote) sides.remote.dels.push(r);
        continue;
      }
      if (!r && l && input.remoteHad?.(key, l.hash)) {
        if (toLocal) sides.local.dels.push(l);
        continue;
      }
    }
    if (changedL && changedR) {
      // Both moved away from what they last agreed (or both added the path): after an
      // exchange cut short before it settled, a side holding a version the other side had
      // before is only behind, and the other side's state wins. Real divergence stays a
      // conflict below. (A path both agreed was absent is a base too: a file restored from
      // the trash on one side is a change of that side, not a side behind.)
      const remoteBehind = r !== undefined && input.localHad?.(key, r.hash) === true && !(l && input.remoteHad?.(key, l.hash));
      const localBehind = l !== undefined && input.remoteHad?.(key, l.hash) === true && !(r && input.localHad?.(key, r.hash));
      if (remoteBehind) {
        if (toRemote) {
          if (l) sides.remote.puts.push({ key, entry: l, prev: r });
          else sides.remote.dels.push(r!);
        }
        continue;
      }
      if (localBehind) {
        if (toLocal) {
          if (r) sides.local.puts.push({ key, entry: r, prev: l });
          else sides.local.dels.push(l!);
        }
        continue;
      }
    }
    if (changedL && !changedR) {
      if (!toRemote) continue;
      if (l) sides.remote.puts.push({ key, entry: l, prev: r });
      else if (r) sides.remote.dels.push(r);
      continue;
    }
    if (changedR && !changedL) {
      if (!toLocal) continue;
      if (r) sides.local.puts.push({ key, entry: r, prev: l });
      else if (l) sides.local.dels.push(l);
      continue;
    }
    if (!l && r) {
      // Deleted here, edited there: the edit stays, and comes here.
      if (toLocal) sides.local.puts.push({ key, entry: r });
      else skip('remote', key, 'deleted-here-edited-there', r.hash);
      continue;
    }
    if (l && !r) {
      if (toRemote) sides.remote.puts.push({ key, entry: l });
      else skip('local', key, 'edited-here-deleted-there', l.hash);
      continue;
    }
    if (l && r) {
      if (input.direction !== 'sync') {
        skip(input.direction === 'push' ? 'remote' : 'local', key, 'conflict', (input.direction === 'push' ? l : r).hash);
        continue;
      }
      // Keep both: this side's version at the path everywhere, the remote's beside it.
      const copyKey = conflictName(key, input.remoteName, input.stamp);
      sides.local.puts.push({ key: copyKey, entry: { ...r, key: copyKey }, conflictCopy: true });
      sides.remote.puts.push({ key: copyKey, entry: { ...r, key: copyKey }, conflictCopy: true });
      sides.remote.puts.push({ key, entry: l, prev: r });
    }
  }
  if (early) {
    yield* early.take(sides.remote.puts);
    sides.remote.puts = early.links; // skipped at the end, as always
  }
  yield* sideActions('remote', input.remoteName, sides.remote, input.remoteHolds, 'local', input.remoteIsMirror === true);
  yield* sideActions('local', 'local', sides.local, input.localHolds, input.remoteName, false);
}

function* sideActions(side: Side, target: string, plan: SidePlan, holds: (hashes: readonly string[]) => Set<string>, source: string, mirror: boolean): Generator<ActionRecord> {
  // An rclone mirror holds files only (as `rclone copy` without --links): a symlink is skipped, and said so.
  const links = mirror ? plan.puts.filter((p) => isSymlinkMode(p.entry.mode)) : [];
  if (links.length) plan = { ...plan, puts: plan.puts.filter((p) => !isSymlinkMode(p.entry.mode)) };
  // A deletion and an addition of the same content at once is a rename: move, send nothing.
  const deleted = new Map<string, Entry[]>();
  for (const d of plan.dels) {
    const list = deleted.get(d.hash);
    if (list) list.push(d);
    else deleted.set(d.hash, [d]);
  }
  const moves: ActionRecord[] = [];
  const puts: Put[] = [];
  for (const p of plan.puts) {
    const from = !p.prev && !p.conflictCopy ? deleted.get(p.entry.hash)?.pop() : undefined;
    if (from) {
      moves.push({ type: 'action', op: 'move', target, ...pathFields(p.key), ...fromFields(from.key), hash: p.entry.hash, prevHash: from.hash, size: p.entry.size, mode: p.entry.mode, mtimeMs: p.entry.mtimeMs });
    } else puts.push(p);
  }
  const trashes = [...deleted.values()].flat();
  // Renames, then new files (conflict copies before what they copy is overwritten), each
  // followed by the content it needs when that is not there yet (copy), then trash. Stage
  // holds each copy until it is sent and passes every other action on at once: reconcile
  // knows a checkout before its content arrives, and a repository checks files out as their
  // content lands (with all copies first, a first push's checkouts reached reconcile only as
  // the copying ended; with all checkouts first, the copying waited for 100,000 of them to pass).
  yield* moves;
  puts.sort((a, b) => Number(Boolean(b.conflictCopy)) - Number(Boolean(a.conflictCopy)));
  yield* putActions(puts, target, source, mirror, holds, new Set<string>());
  for (const t of trashes) yield { type: 'action', op: 'trash', target, ...pathFields(t.key), hash: t.hash, prevHash: t.hash, size: t.size };
  yield* plan.skips;
  for (const p of links) yield { type: 'action', op: 'skip', target, ...pathFields(p.key), hash: p.entry.hash, reason: 'symlink-on-mirror' };
}

/** Each new file's checkout, followed by the copy of its content when the side lacks it and it was not sent already. */
function* putActions(puts: Put[], target: string, source: string, mirror: boolean, holds: (hashes: readonly string[]) => Set<string>, sent: Set<string>): Generator<ActionRecord> {
  const held = mirror || !puts.length ? new Set<string>() : holds([...new Set(puts.map((p) => p.entry.hash))]);
  for (const p of puts) {
    yield {
      type: 'action',
      op: 'checkout',
      target,
      ...pathFields(p.key),
      hash: p.entry.hash,
      size: p.entry.size,
      mode: p.entry.mode,
      mtimeMs: p.entry.mtimeMs,
      ...(p.prev ? { prevHash: p.prev.hash } : {}),
      ...(p.conflictCopy ? { reason: 'conflict' } : {}),
    };
    if (sent.has(p.entry.hash) || held.has(p.entry.hash)) continue;
    if (!mirror) sent.add(p.entry.hash);
    yield { type: 'action', op: 'copy', target, source, hash: p.entry.hash, size: p.entry.size, ...pathFields(mirror ? p.key : p.entry.key) };
  }
}

/** Puts handed out before the walk ends, this many at a time (one question to the remote's store each). */
const EARLY_BATCH = 2048;

/** What a remote that holds nothing gets as the walk finds it: puts taken in walk order, symlinks a mirror cannot take kept for the end. */
class EarlyPuts {
  readonly links: Put[] = [];
  private readonly sent = new Set<string>();
  constructor(
    private readonly target: string,
    private readonly holds: (hashes: readonly string[]) => Set<string>,
    private readonly mirror: boolean,
  ) {}

  *take(puts: Put[]): Generator<ActionRecord> {
    const batch = puts.splice(0);
    if (this.mirror) this.links.push(...batch.filter((p) => isSymlinkMode(p.entry.mode)));
    yield* putActions(this.mirror ? batch.filter((p) => !isSymlinkMode(p.entry.mode)) : batch, this.target, 'local', this.mirror, this.holds, this.sent);
  }
}

/** An entry stream, and whether it holds nothing, known before the walk starts. */
function peeked(entries: Iterable<Entry>): { empty: boolean; entries: Iterable<Entry> } {
  const it = entries[Symbol.iterator]();
  const head = it.next();
  if (head.done) return { empty: true, entries: [] };
  return {
    empty: false,
    entries: (function* () {
      yield head.value;
      for (let n = it.next(); !n.done; n = it.next()) yield n.value;
    })(),
  };
}

function pathFields(key: string): { path: string; pathBytes?: string } {
  return keyPath(key);
}

function fromFields(key: string): { from: string; fromBytes?: string } {
  const { path: from, pathBytes } = keyPath(key);
  return pathBytes === undefined ? { from } : { from, fromBytes: pathBytes };
}

/** Walk three key-ordered entry streams together: [key, a, b, c] for every key in any. */
export function* mergeJoin(a: Iterable<Entry>, b: Iterable<Entry>, c: Iterable<Entry>): Generator<[string, Entry | undefined, Entry | undefined, Entry | undefined]> {
  const its = [a[Symbol.iterator](), b[Symbol.iterator](), c[Symbol.iterator]()];
  const heads = its.map((it) => it.next());
  for (;;) {
    let min: string | undefined;
    for (const h of heads) if (!h.done && (min === undefined || h.value.key < min)) min = h.value.key;
    if (min === undefined) return;
    const row: Array<Entry | undefined> = heads.map((h, i) => {
      if (h.done || h.value.key !== min) return undefined;
      const v = h.value;
      heads[i] = its[i]!.next();
      return v;
    });
    yield [min, row[0], row[1], row[2]];
  }
}
