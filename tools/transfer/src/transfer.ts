import fs from 'node:fs';
import path from 'node:path';
import { copyFiles, KEEP_TIMES, nativeError, nameList, NOT_AS_RECORDED } from '@hoard/native';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import { utimesSeconds, type ResultRecord } from '@hoard/schema';
import { stagedBlobName, LOCAL, type Repository } from '@hoard/state';
import { mirrorAreas, peerUrl, rcloneBatch, remoteJoin, rcloneRoot, rsyncFiles, type OpenedLocation, type PeerUrl } from '@hoard/remote';

export interface TransferOptions {
  repo: Repository;
  transferId: string;
  locate(name: string): OpenedLocation | undefined;
  /** Items per rclone/rsync process. */
  batchSize?: number;
  onItem?: (bytes: number) => void;
}

/** Receiving folders' names as first listed, by folder. */
type Listings = Map<string, Promise<Set<string>>>;

interface Item {
  key: string;
  hash?: string;
  bytes: number;
  path?: string;
  source: string;
  target: string;
  /** The file itself when stage made no link (a backup read straight from its folder). */
  origin?: string | Buffer;
  /** What was recorded of `origin` (size, mtimeMs), for the copy to check on the file it opens. */
  recorded?: [size: number, mtimeMs: number];
}

/**
 * Move staged content from its source to its target's receiving area: between two
 * folders here by parallel copies, over ssh by rsync, to and from rclone remotes by one
 * `rclone copy --files-from --no-traverse` per batch. What already arrived is not sent
 * again (rclone and rsync compare, local copies check the size). One result per item;
 * records that are not successful stage results pass through.
 */
export async function* transferStaged(input: AsyncIterable<InputLine[]>, options: TransferOptions): AsyncGenerator<OutputItem[]> {
  const groups = new Map<string, Item[]>();
  const batchSize = options.batchSize ?? 50_000;
  // Copies on this machine go in small batches, two at once, started as soon as a batch is
  // read: waiting for 50,000 items kept the copying idle while the first half was staged.
  // So do rsyncs over ssh, in batches of a few thousand: one rsync of 50,000 at a time left
  // staging, sending and the far side's integrate taking turns instead of working together.
  const pacing = new Map<string, { size: number; atOnce: number }>();
  const paceOf = (group: string, item: Item) => {
    let pace = pacing.get(group);
    if (!pace) {
      const how = howSent(item, options);
      pace = how === 'here' ? { size: Math.min(batchSize, LOCAL_BATCH), atOnce: LOCAL_AT_ONCE } : how === 'ssh' ? { size: Math.min(batchSize, SSH_BATCH), atOnce: SSH_AT_ONCE } : { size: batchSize, atOnce: 1 };
      pacing.set(group, pace);
    }
    return pace;
  };
  const sending: Array<Promise<ResultRecord[]>> = [];
  // What each receiving folder held when first looked at, kept across batches (see copyLocal).
  const listed: Listings = new Map();
  for await (const batch of input) {
    const out: OutputItem[] = [];
    for (const line of batch) {
      const rec = line.record;
      if (!rec) {
        out.push({ type: 'error', tool: 'transfer', code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' });
        continue;
      }
      if (rec.type !== 'result' || rec.tool !== 'stage' || rec.ok !== true || rec.op !== 'copy') {
        out.push(line.text);
        continue;
      }
      const r = rec as ResultRecord & { source: string; target: string };
      if (typeof r.key !== 'string' || typeof r.source !== 'string' || typeof r.target !== 'string' || !safeKey(r.key)) {
        out.push({ type: 'error', tool: 'transfer', code: 'bad-input', line: line.lineNo, message: 'a stage result needs a relative key, source and target' });
        continue;
      }
      const group = `${r.source}\0${r.target}`;
      const items = groups.get(group) ?? [];
      const origin = originWithin(r, r.source === LOCAL ? options.repo.root : options.locate(r.source));
      if ((r.origin !== undefined || r.originBytes !== undefined) && origin === undefined) {
        out.push({ type: 'error', tool: 'transfer', code: 'bad-input', line: line.lineNo, message: 'a stage result names a file outside the folder it comes from' });
        continue;
      }
      const item: Item = { key: r.key, hash: r.hash, bytes: r.bytes ?? 0, path: r.path, source: r.source, target: r.target, origin };
      if (origin !== undefined && typeof r.originMtimeMs === 'number') item.recorded = [r.bytes ?? 0, r.originMtimeMs];
      items.push(item);
      groups.set(group, items);
      const pace = paceOf(group, item);
      if (items.length >= pace.size) {
        groups.delete(group);
        sending.push(send(items, options, listed));
        while (sending.length >= pace.atOnce) for (const r of await sending.shift()!) out.push(r);
      }
    }
    yield out;
  }
  for (const items of groups.values()) sending.push(send(items, options, listed));
  while (sending.length) yield await sending.shift()!;
}

/** Which way content goes, and the location at the other end (`name`; undefined when there is none so named). */
function farSide(source: string, target: string, options: TransferOptions): { pushing: boolean; name: string; far: OpenedLocation | undefined } {
  // Content staged here: from this repository's tree, or from a folder this host backs up.
  const pushing = source === LOCAL || options.locate(source)?.location.kind === 'dir';
  const name = pushing ? target : source;
  return { pushing, name, far: options.locate(name) };
}

/** How an item's copy runs: between two folders of this machine (copyLocal), by rsync over ssh, or through rclone. */
function howSent(item: Item, options: TransferOptions): 'here' | 'ssh' | 'rclone' {
  const { far } = farSide(item.source, item.target, options);
  if (!far?.caps.online) return 'rclone';
  const peer = peerUrl(far);
  if (peer) return peer.kind === 'path' ? 'here' : 'ssh';
  return rcloneRoot(far).startsWith('/') ? 'here' : 'rclone';
}

/**
 * The file a stage result says to read directly: only ever inside the folder its source
 * backs up, or this repository's tree outside .hoard/ (input is untrusted: it cannot make us
 * read and send any other file).
 */
function originWithin(r: ResultRecord, source: OpenedLocation | string | undefined): string | Buffer | undefined {
  const tree = typeof source === 'string';
  if (!tree && source?.location.kind !== 'dir') return undefined;
  const root = `${(tree ? source : source!.location.url).replace(/\/+$/, '')}/`;
  const file = typeof r.origin === 'string' ? r.origin : typeof r.originBytes === 'string' ? Buffer.from(r.originBytes, 'base64') : undefined;
  if (file === undefined) return undefined;
  const bytes = typeof file === 'string' ? Buffer.from(file) : file;
  const rootBytes = Buffer.from(root);
  const parts = bytes.toString('latin1').split('/');
  if (!bytes.subarray(0, rootBytes.length).equals(rootBytes) || parts.some((c) => c === '..' || c === '.') || bytes.includes(0)) return undefined;
  if (tree && parts[root.split('/').length - 1] === '.hoard') return undefined;
  return file;
}

/** A staging key may name a nested file but never climb out of its folder. */
function safeKey(key: string): boolean {
  return key.length > 0 && !key.startsWith('/') && !key.split('/').some((c) => c === '..' || c === '.' || c === '') && !key.includes('\0');
}

async function send(items: Item[], options: TransferOptions, listed: Listings): Promise<ResultRecord[]> {
  const { source, target } = items[0]!;
  const results = new Map<string, ResultRecord>();
  const done = (item: Item) => {
    options.onItem?.(item.bytes);
    results.set(item.key, result(item, true));
  };
  const byKey = new Map(items.map((i) => [i.key, i]));
  const fail = (item: Item, code: string, message: string) => results.set(item.key, result(item, false, code, message));
  const localStaging = options.repo.stagingDir(options.transferId);
  const { pushing, name, far } = farSide(source, target, options);
  try {
    if (!far) throw Object.assign(new Error(`no location named "${name}"`), { code: 'unknown-location' });
    if (!far.caps.online) throw Object.assign(new Error(`${far.location.name} is offline: the transfer waits`), { code: 'offline' });
    const peer = peerUrl(far);
    if (peer) {
      const farStaging = path.posix.join(peer.path, '.hoard', 'staging', options.transferId);
      // Blobs are staged and received under their staged names (stage put them there, integrate
      // finds them there): their key's two levels of folders would be tens of thousands of
      // folders made and removed on each side.
      if (peer.kind === 'path') await copyLocal(items, pushing ? localStaging : farStaging, pushing ? farStaging : localStaging, listed, done, fail, true, true);
      else await rsyncOver(peer, items, pushing, localStaging, farStaging, done, fail);
    } else if (rcloneRoot(far).startsWith('/')) {
      // rclone's local backend: a folder on this machine; plain parallel copies do the same, faster.
      const root = rcloneRoot(far);
      const farDir = far.caps.layout === 'blobs' ? (pushing ? path.join(root, '.hoard', 'staging', options.transferId) : path.join(root, 'blobs')) : pushing ? path.join(root, '.hoard', 'staging', options.transferId) : root;
      // Blobs are staged under their staged names either way: a vault's 65,536 leaf folders are made once, in blobs/.
      await copyLocal(items, pushing ? localStaging : farDir, pushing ? farDir : localStaging, listed, done, fail, far.caps.layout === 'blobs');
    } else {
      const root = rcloneRoot(far);
      const farDir =
        far.caps.layout === 'blobs' ? (pushing && !far.caps.atomicUpload ? remoteJoin(root, `.hoard/staging/${options.transferId}`) : remoteJoin(root, 'blobs')) : pushing ? mirrorAreas(root).staging(options.transferId) : root;
      const { failed } = await rcloneBatch('copy', pushing ? localStaging : farDir, pushing ? farDir : localStaging, items.map((i) => i.key), {
        onItem: (e) => {
          const item = byKey.get(e.object);
          if (item && (e.outcome === 'copied' || e.outcome === 'unchanged')) done(item);
        },
      });
      for (const [key, message] of failed) if (byKey.has(key)) fail(byKey.get(key)!, 'rclone', message);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    for (const item of items) if (!results.has(item.key)) fail(item, e.code ?? 'transfer', e.message);
  }
  return items.map((i) => results.get(i.key) ?? result(i, false, 'not-transferred', 'the transport did not report it (missing at the source?)'));
}

function result(item: Item, ok: boolean, code?: string, message?: string): ResultRecord {
  return { type: 'result', tool: 'transfer', op: 'copy', ok, key: item.key, hash: item.hash, bytes: item.bytes, source: item.source, target: item.target, path: item.path, ...(ok ? {} : { code, message }) };
}

/**
 * Copies between two folders of this machine; a file already there whole is kept.
 * `staged`: blobs, written under their staged names (else files at their paths, times kept);
 * `fromStaged`: read from under their staged names too (another repository's staging), and
 * removed once copied: a link left in another repository's staging keeps the space of its
 * file after that file is deleted there. A file the stage result names (`origin`, a file of a
 * tree) is read where it is, and never removed.
 * The copying itself is native when it was built: batches of files on two threads of
 * libuv's pool (copyFiles), else Node's copyFile, sixteen at a time.
 */
async function copyLocal(items: Item[], fromDir: string, toDir: string, listed: Listings, done: (i: Item) => void, fail: (i: Item, code: string, message: string) => void, staged = false, fromStaged = false): Promise<void> {
  // What each receiving folder held when this transfer first looked at it: a name not there
  // needs no stat before its copy (two lookups fewer per file of a first push; a resumed one
  // still checks). Read once per transfer, not per batch: a staging folder takes every blob.
  const namesIn = (dir: string) => {
    let names = listed.get(dir);
    if (!names) listed.set(dir, (names = fs.promises.readdir(dir).then((n) => new Set(n), () => new Set<string>())));
    return names;
  };
  const copyOf = (item: Item) => ({ item, from: item.origin ?? path.join(fromDir, fromStaged ? stagedBlobName(item.key) : item.key), to: path.join(toDir, staged ? stagedBlobName(item.key) : item.key) });
  const copied = ({ item, from }: ReturnType<typeof copyOf>) => {
    done(item);
    if (fromStaged && item.origin === undefined) fs.unlink(from, () => {});
  };
  /**
   * Whether the copy is there whole already: its source's size (a blob is checked on arrival),
   * and for a file at its path also its source's mode and mtime, set last: a copy cut short
   * after its bytes but before those is made again, never moved in with the wrong ones.
   */
  const thereWhole = async ({ item, from, to }: ReturnType<typeof copyOf>) => {
    if (!(await namesIn(path.dirname(to))).has(path.basename(to))) return false;
    const [st, there] = await Promise.all([item.recorded ? fs.promises.lstat(from) : fs.promises.stat(from), fs.promises.stat(to).catch(() => undefined)]);
    // A source no longer as recorded is copied again, to be refused there.
    if (there?.size !== st.size || (item.recorded && !isAsRecorded(st, item.recorded))) return false;
    return staged || (there.mode === st.mode && Math.abs(there.mtimeMs - st.mtimeMs) < 1);
  };
  let next = 0;
  if (copyFiles) {
    const native = copyFiles;
    const lane = async () => {
      while (next < items.length) {
        const chunk = items.slice(next, (next += NATIVE_BATCH)).map(copyOf);
        const kept = await Promise.all(chunk.map((c) => thereWhole(c).catch((err: NodeJS.ErrnoException) => err)));
        const todo = chunk.filter((c, i) => {
          const k = kept[i];
          if (k === true) copied(c);
          else if (k instanceof Error) fail(c.item, k.code ?? 'copy', k.message);
          return k === false;
        });
        if (!todo.length) continue;
        const expect = new Float64Array(todo.flatMap((c) => c.item.recorded ?? [NaN, NaN]));
        const errnos = await native(nameList(todo.map((c) => [c.from, c.to] as const)), staged ? 0 : KEEP_TIMES, expect);
        todo.forEach((c, i) => {
          const errno = errnos[i]!;
          if (!errno) return copied(c);
          if (errno === NOT_AS_RECORDED) return notAsRecorded(c.item);
          const [code, text] = nativeError(errno);
          fail(c.item, code, `${text}, copy '${c.from}' -> '${c.to}'`);
        });
      }
    };
    await Promise.all(Array.from({ length: NATIVE_LANES }, lane));
    return;
  }
  const made = new Set<string>();
  const worker = async () => {
    while (next < items.length) {
      const copy = copyOf(items[next++]!);
      const { item, from, to } = copy;
      try {
        if (await thereWhole(copy)) {
          copied(copy);
          continue;
        }
        if (item.recorded && !isAsRecorded(await fs.promises.lstat(from), item.recorded)) {
          notAsRecorded(item);
          continue;
        }
        const dir = path.dirname(to);
        if (!made.has(dir)) {
          await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
          made.add(dir);
        }
        // Straight into the receiving staging folder: a copy cut short there is only ever a partial
        // file in staging, which integrate's hash check rejects and the next transfer redoes.
        await fs.promises.copyFile(from, to);
        // Times travel too (rclone keeps them): a mirror's files must show the source's mtime. Blobs need none.
        if (!staged) {
          const st = await fs.promises.stat(from);
          await fs.promises.utimes(to, utimesSeconds(st.atimeMs), utimesSeconds(st.mtimeMs));
        }
        copied(copy);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        fail(item, e.code ?? 'copy', e.message);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));

  function notAsRecorded(item: Item): void {
    fail(item, 'changed-since-recorded', `${item.path ?? item.key} changed since it was recorded: run hoard add, then plan again`);
  }
}

/** Whether a file is still the regular file of the size and mtime recorded of it (as the native copier checks). */
function isAsRecorded(st: fs.Stats, [size, mtimeMs]: [number, number]): boolean {
  return st.isFile() && st.size === size && Math.abs(st.mtimeMs - mtimeMs) < 1;
}

/**
 * Files per native copy call, and calls at once (each on one thread): two threads kept
 * both cores busy in the kernel; a batch is a few tens of milliseconds of copying.
 */
const NATIVE_BATCH = 1000;
const NATIVE_LANES = 2;
/** Items per batch of copies on this machine (one native call per lane), and batches copying at once. */
const LOCAL_BATCH = NATIVE_BATCH;
const LOCAL_AT_ONCE = 2;
/** Items per rsync over ssh (one connection each), and rsyncs at once. */
const SSH_BATCH = 5000;
const SSH_AT_ONCE = 2;

let rsyncsStarted = 0;

async function rsyncOver(peer: PeerUrl, items: Item[], pushing: boolean, localStaging: string, farStaging: string, done: (i: Item) => void, fail: (i: Item, code: string, message: string) => void): Promise<void> {
  // Sent and received under their staged names (as stage made them and integrate finds them).
  const itemOf = new Map(items.map((i) => [stagedBlobName(i.key), i]));
  const names = [...itemOf.keys()].sort();
  const answered = new Set<string>();
  /** A name rsync sent, or, once it ended, one it did not name: there whole already. Each answered once. */
  const arrived = (name: string) => {
    const item = itemOf.get(name);
    if (item && !answered.has(name)) {
      answered.add(name);
      done(item);
    }
  };
  const n = ++rsyncsStarted;
  if (pushing) {
    // rsync's --files-from costs its sender ~3x a walk over the same files (measured: 100,000
    // staged blobs over ssh 35 s against 11 s, with 3x the CPU): the batch's staged files move
    // into a folder of their own, which goes whole, then is removed.
    // Named by this process too: one killed before it removed its folder leaves it to the
    // workflow's cleanup of staging, never to a later batch.
    const batchDir = path.join(localStaging, `.sending-${process.pid}-${n}`);
    const moved: string[] = [];
    const made = new Set<string>();
    for (const name of names) {
      const to = path.join(batchDir, name);
      try {
        if (!made.has(path.dirname(to))) {
          fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
          made.add(path.dirname(to));
        }
        fs.renameSync(path.join(localStaging, name), to);
        moved.push(name);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        fail(itemOf.get(name)!, e.code === 'ENOENT' ? 'not-staged' : (e.code ?? 'transfer'), e.code === 'ENOENT' ? `${name} is not in staging: run hoard stage again` : e.message);
      }
    }
    try {
      if (moved.length) await rsyncFiles({ dir: batchDir }, { peer, dir: farStaging }, undefined, arrived);
      moved.forEach(arrived);
    } finally {
      fs.rmSync(batchDir, { recursive: true, force: true });
    }
    return;
  }
  // Its own list (two rsyncs may run at once), in staging: one a killed rsync left goes with it.
  const listFile = path.join(localStaging, `.files-from-${process.pid}-${n}`);
  fs.mkdirSync(localStaging, { recursive: true, mode: 0o700 });
  // The batch's names, sorted, in one rsync. (An rsync client that receives from a remote
  // sender spends time quadratic in the folders of its --files-from list: with blobs staged at
  // their keys, 49,000 folders for 90,000 blobs, 39,000 names took over 140 s and pulls went in
  // runs of 2,000; under their staged names, 256 folders, 20,000 names take 4.9 s.)
  try {
    // What arrived is removed from the far side's staging: links to its tree's files left there
    // would keep the space of every file deleted there afterwards.
    await rsyncFiles({ peer, dir: farStaging }, { dir: localStaging }, { names, listFile }, arrived, { removeSent: true });
  } finally {
    fs.rmSync(listFile, { force: true });
  }
  names.forEach(arrived);
}
