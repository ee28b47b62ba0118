import fs from 'node:fs';
import path from 'node:path';
import { HashPool, type HashOutcome } from '@hoard/hashing';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import type { AnyRecord, ResultRecord } from '@hoard/schema';
import { blobKeyHash, stagedBlobName, LOCAL, type Repository } from '@hoard/state';
import { PeerSession, peerUrl, rcloneBatch, rcloneRoot, remoteJoin, type OpenedLocation } from '@hoard/remote';

export interface IntegrateOptions {
  repo: Repository;
  transferId: string;
  locate(name: string): OpenedLocation | undefined;
  onItem?: (bytes: number) => void;
  /** Blobs verified, moved in and recorded together (default BATCH). */
  batch?: number;
}

interface Received {
  key: string;
  hash: string;
  bytes: number;
  path?: string;
  source?: string;
  target: string;
}

/** Received blobs verified, moved in and recorded per batch (one transaction each). */
const BATCH = 8000;

/** Store folders made in this run (mkdir -p once each). */
const madeDirs = new Set<string>();

/**
 * The receiving side of a transfer. Here: re-hash each received file and move it into the
 * store (`.hoard/objects/`) only if its content is the id it claims; anything else is
 * deleted from staging and reported, never stored. Recorded one transaction per batch.
 * For another repository its own `hoard integrate` does this there; for an rclone vault,
 * rclone verified the checksum as it wrote, and the blobs move from the vault's staging
 * into place (server side); for a mirror nothing is done here (reconcile moves its files into
 * place). Successful transfer results are consumed; all else passes.
 */
export async function* integrateReceived(input: AsyncIterable<InputLine[]>, options: IntegrateOptions): AsyncGenerator<OutputItem[]> {
  const pending = new Map<string, Received[]>();
  let pool: HashPool | undefined;
  // Received here: one batch is hashed on the threads while the one before it is moved in
  // and recorded on this thread (renames and the transaction overlap the next verification).
  let verifying: Verifying | undefined;
  const next = async (list: Received[] | undefined): Promise<ResultRecord[]> => {
    const started = list && verifyHere(list, options, () => (pool ??= new HashPool()));
    const before = verifying;
    verifying = started;
    return before ? settleHere(before, options) : [];
  };
  const mirrors = new Map<string, boolean>();
  const isMirror = (target: string) => {
    let mirror = mirrors.get(target);
    if (mirror === undefined) {
      const far = target === LOCAL ? undefined : options.locate(target);
      mirrors.set(target, (mirror = far !== undefined && !peerUrl(far) && far.caps.layout === 'tree'));
    }
    return mirror;
  };
  // Another repository integrates for itself, as the content arrives: its hoard integrate runs
  // from the first item on (it hashed 100,000 blobs after the copying ended: 5 s of a first push).
  const peers = new Map<string, Peer | null>();
  const peerOf = (target: string) => {
    let peer = peers.get(target);
    if (peer === undefined) {
      const far = target === LOCAL ? undefined : options.locate(target);
      const url = far && peerUrl(far);
      peers.set(target, (peer = url ? { session: new PeerSession(url, target, 'integrate', ['--transfer', options.transferId], { hoard: far!.location.options.hoard }), items: new Map() } : null));
    }
    return peer;
  };
  const toPeers = new Map<Peer, AnyRecord[]>();
  try {
    for await (const batch of input) {
      const out: OutputItem[] = [];
      for (const line of batch) {
        const rec = line.record;
        if (!rec) {
          out.push({ type: 'error', tool: 'integrate', code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' });
          continue;
        }
        if (rec.type !== 'result' || rec.tool !== 'transfer' || rec.ok !== true) {
          out.push(line.text);
          continue;
        }
        const r = rec as ResultRecord & { target: string };
        if (typeof r.key !== 'string' || typeof r.hash !== 'string' || typeof r.target !== 'string') {
          out.push({ type: 'error', tool: 'integrate', code: 'bad-input', line: line.lineNo, message: 'a transfer result needs key, hash and target' });
          continue;
        }
        const received: Received = { key: r.key, hash: r.hash, bytes: r.bytes ?? 0, path: r.path, source: r.source as string | undefined, target: r.target };
        if (isMirror(r.target)) {
          // A mirror's file has nothing to verify or move here (reconcile moves it into place): said
          // at once, not after the last one arrived (100,000 of them at the end were 1.2 s of a first push).
          out.push(result(received, true));
          continue;
        }
        const peer = peerOf(r.target);
        if (peer) {
          peer.items.set(received.key, received);
          const records = toPeers.get(peer);
          if (records) records.push(transferResult(received));
          else toPeers.set(peer, [transferResult(received)]);
          continue;
        }
        const list = pending.get(r.target) ?? [];
        list.push(received);
        pending.set(r.target, list);
        if (r.target === LOCAL && list.length >= (options.batch ?? BATCH)) {
          pending.delete(r.target);
          out.push(...(await next(list)));
        }
      }
      for (const [peer, records] of toPeers) await peer.session.send(records);
      toPeers.clear();
      for (const peer of peers.values()) if (peer) out.push(...answers(peer, peer.session.take(), options));
      yield out;
    }
    for (const peer of peers.values()) if (peer) yield answers(peer, await peer.session.end(), options, true);
    for (const [target, list] of pending) {
      if (target === LOCAL) {
        const size = options.batch ?? BATCH;
        for (let i = 0; i < list.length; i += size) yield await next(list.slice(i, i + size));
      } else yield await integrateThere(target, list, options);
    }
    yield await next(undefined);
  } finally {
    // A batch still verifying when the caller stopped early stays in staging, unrecorded.
    await verifying?.outcomes.catch(() => undefined);
    // A repository given part of the items integrates those, and stops.
    for (const peer of peers.values()) await peer?.session.end();
    await pool?.close();
  }
}

function result(item: Received, ok: boolean, code?: string, message?: string): ResultRecord {
  return { type: 'result', tool: 'integrate', op: 'integrate', ok, key: item.key, hash: item.hash, bytes: item.bytes, target: item.target, path: item.path, ...(ok ? {} : { code, message }) };
}

/** A batch of received blobs being hashed on the threads. */
interface Verifying {
  items: Received[];
  files: string[];
  outcomes: Promise<HashOutcome[]>;
}

/** Start verifying a batch received here: each file is hashed (on the threads) against the id it claims. */
function verifyHere(items: Received[], options: IntegrateOptions, pool: () => HashPool): Verifying {
  const staging = options.repo.stagingDir(options.transferId);
  // Copied here under its staged name (transfer between folders of this machine) or at its key (rsync over ssh).
  const files = items.map((i) => {
    const named = path.join(staging, stagedBlobName(i.key));
    return fs.existsSync(named) ? named : path.join(staging, i.key);
  });
  const outcomes = pool().hash('sha256', files, items.reduce((n, i) => n + i.bytes, 0));
  outcomes.catch(() => undefined); // awaited by settleHere, which reports a failure; never unhandled meanwhile
  return { items, files, outcomes };
}

/** Move what verified into this repository's store, reject the rest; one transaction records the batch. */
async function settleHere(batch: Verifying, options: IntegrateOptions): Promise<ResultRecord[]> {
  const { repo } = options;
  const { items, files } = batch;
  const outcomes = await batch.outcomes;
  const claimed = items.map((i) => blobKeyHash(i.key) ?? i.hash);
  const out: ResultRecord[] = [];
  const stored: Array<{ hash: string; size: number }> = [];
  items.forEach((item, n) => {
    const outcome = outcomes[n]!;
    const file = files[n]!;
    if (!outcome.ok) {
      out.push(result(item, false, outcome.code, `received ${item.key}: ${outcome.message}`));
      return;
    }
    if (outcome.hash !== item.hash || outcome.hash !== claimed[n]) {
      fs.rmSync(file, { force: true });
      out.push(result(item, false, 'hash-mismatch', `received content is ${outcome.hash}, not ${item.hash}: rejected, not stored`));
      return;
    }
    const dest = repo.objectPath(outcome.hash);
    const dir = path.dirname(dest);
    if (!madeDirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      madeDirs.add(dir);
    }
    fs.renameSync(file, dest);
    stored.push({ hash: outcome.hash, size: outcome.state.size });
    options.onItem?.(outcome.state.size);
    out.push(result(item, true));
  });
  repo.recordCopies(repo.location(LOCAL).id, stored);
  return out;
}

/** A repository integrating what it receives, and the items handed to it not yet answered. */
interface Peer {
  session: PeerSession;
  items: Map<string, Received>;
}

function transferResult(i: Received): AnyRecord {
  return { type: 'result', tool: 'transfer', op: 'copy', ok: true, key: i.key, hash: i.hash, bytes: i.bytes, target: i.target, path: i.path };
}

/** A peer's answers passed on; at its end, every item it did not answer failed (with why it stopped, if it did). */
function answers(peer: Peer, records: AnyRecord[], options: IntegrateOptions, ended = false): OutputItem[] {
  const out: OutputItem[] = [];
  for (const rec of records) {
    out.push(rec);
    if (rec.type === 'result' && typeof rec.key === 'string') peer.items.delete(rec.key);
    if (rec.type === 'result' && rec.ok === true && typeof rec.hash === 'string') options.onItem?.(Number(rec.bytes ?? 0));
  }
  if (ended) {
    const why = peer.session.failure;
    for (const item of peer.items.values()) out.push(result(item, false, (why as NodeJS.ErrnoException | undefined)?.code ?? 'integrate', why?.message ?? 'the far repository did not report it'));
    peer.items.clear();
  }
  return out;
}

/** The receiving side elsewhere (an rclone vault): rclone verified, or on this machine, we do. */
async function integrateThere(target: string, items: Received[], options: IntegrateOptions): Promise<OutputItem[]> {
  const far = options.locate(target);
  if (!far) return items.map((i) => result(i, false, 'unknown-location', `no location named "${target}"`));
  const out: OutputItem[] = [];
  try {
    const root = rcloneRoot(far);
    const blobs = items.filter((i) => blobKeyHash(i.key) === i.hash);
    for (const i of items) if (blobKeyHash(i.key) !== i.hash) out.push(result(i, false, 'hash-mismatch', `key ${i.key} does not name ${i.hash}`));
    let failed = new Map<string, string>();
    if (root.startsWith('/')) {
      // A vault on a file system here: check every blob's content against its name ourselves
      // before it moves in (elsewhere rclone compared checksums as it wrote).
      const dir = far.caps.atomicUpload ? path.join(root, 'blobs') : path.join(root, '.hoard', 'staging', options.transferId);
      const pool = new HashPool();
      try {
        const outcomes = await pool.hash('sha256', blobs.map((b) => path.join(dir, far.caps.atomicUpload ? b.key : stagedBlobName(b.key))), blobs.reduce((n, b) => n + b.bytes, 0));
        blobs.forEach((b, n) => {
          const o = outcomes[n]!;
          if (o.ok && o.hash === b.hash) return;
          fs.rmSync(path.join(dir, far.caps.atomicUpload ? b.key : stagedBlobName(b.key)), { force: true });
          failed.set(b.key, o.ok ? `received content is ${o.hash}, not ${b.hash}: rejected, not stored` : o.message);
        });
      } finally {
        await pool.close();
      }
    }
    const verified = blobs.filter((b) => !failed.has(b.key));
    if (root.startsWith('/') && !far.caps.atomicUpload) {
      // Verified above; on this machine a rename puts each blob in place.
      const staging = path.join(root, '.hoard', 'staging', options.transferId);
      for (const b of verified) {
        const dest = path.join(root, 'blobs', b.key);
        try {
          if (!madeDirs.has(path.dirname(dest))) {
            fs.mkdirSync(path.dirname(dest), { recursive: true });
            madeDirs.add(path.dirname(dest));
          }
          fs.renameSync(path.join(staging, stagedBlobName(b.key)), dest);
        } catch (err) {
          failed.set(b.key, (err as Error).message);
        }
      }
    } else if (!far.caps.atomicUpload && verified.length) {
      const moved = await rcloneBatch('move', remoteJoin(root, `.hoard/staging/${options.transferId}`), remoteJoin(root, 'blobs'), verified.map((b) => b.key));
      for (const [k, m] of moved.failed) failed.set(k, m);
    }
    const ok = blobs.filter((b) => !failed.has(b.key));
    options.repo.recordCopies(far.location.id, ok.map((b) => ({ hash: b.hash, size: b.bytes })));
    for (const b of blobs) out.push(failed.has(b.key) ? result(b, false, /not stored/.test(failed.get(b.key)!) ? 'hash-mismatch' : 'rclone', failed.get(b.key)!) : result(b, true));
    for (const b of ok) options.onItem?.(b.bytes);
    return out;
  } catch (err) {
    return [...out, ...items.slice(out.length).map((i) => result(i, false, (err as NodeJS.ErrnoException).code ?? 'integrate', (err as Error).message))];
  }
}


