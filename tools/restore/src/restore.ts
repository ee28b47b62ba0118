import fs from 'node:fs';
import path from 'node:path';
import { hashFile, HashPool } from '@hoard/hashing';
import { isSymlinkMode, utimesSeconds } from '@hoard/schema';
import { blobKey, keyPath, type Location, type PackedBlob, type Repository } from '@hoard/state';
import { fetchBlobs, learnPacks, openPacks, type Snapshot } from '@hoard/backup';
import { Tree } from '@hoard/tool-reconcile/tree';
import { blobWriter, NATIVE_LANES, type BlobWriter, type WriteJob } from './file-writer.js';
import { readPackedBlob, setMetadata, writeNewFile, type MadeFiles } from './restored-file.js';

/**
 * Puts a file's content at the temporary name: returns it open there (nothing for a symlink),
 * `created` when it made the file itself with the permission bits `mode` (less the umask).
 */
type Fill = (tmp: string, mode: number) => { fd: number; created: boolean } | undefined;

/** How restorePacked hands files to the restoring thread (see restoreFiles). */
interface Threads {
  /** Where the thread may write this file, or undefined: the main thread restores it. */
  route(it: RestoreItem): string | undefined;
  writer(): BlobWriter;
  drain(): Promise<void>;
  meta(s: Snapshot): WriteJob['meta'];
  restored(it: RestoreItem): void;
}

/** A file being restored, before it is renamed into place. */
const TMP_NAME = '.hoard-restore.tmp';
/** Items restored per round: the state asked and packs opened once for each. */
const BATCH = 5000;

export interface RestoreItem {
  snapshot: Snapshot;
  /** Where it goes, relative to `root`. */
  rel: string;
}

export interface RestoreOutcome {
  /** Files that now are as they were at their version... */
  restored: number;
  /** ...of which this many were already, content and metadata: left untouched, nothing trashed. */
  unchanged: number;
  bytes: number;
  trashed: number;
  errors: Array<{ path: string; code: string; message: string }>;
}

/**
 * Write snapshots' content under `root`: packed content read out of its pack and re-hashed
 * in memory, single blobs fetched from the vault into staging and re-hashed there (never
 * trusted as they come), then each file made whole beside its
 * place, given its metadata and renamed in. A file in the way goes to the host's trash
 * first; a folder on the way that is a symlink stops that file (nothing is written
 * through it).
 */
export async function restoreFiles(host: Repository, vault: Location, vaultSpec: string, root: string, items: Iterable<RestoreItem>, options: { contentOnly: boolean; onFile?: (bytes: number) => void }): Promise<RestoreOutcome> {
  const outcome: RestoreOutcome = { restored: 0, unchanged: 0, bytes: 0, trashed: 0, errors: [] };
  const staging = host.stagingDir('restore');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(root, { recursive: true });
  const tree = new Tree(fs.realpathSync(root), path.join(host.trashDir, 'restore'));
  const pool = new HashPool();
  const asRoot = process.getuid?.() === 0;
  // A file made at a temporary name at the root is ours, and in our group when the root's
  // group is ours too (whether the root hands its group down or not); its permission bits
  // are what the umask leaves of those asked for.
  const egid = process.getegid?.();
  const made: MadeFiles = { asRoot, euid: process.geteuid?.(), madeGid: fs.statSync(tree.root).gid === egid ? egid : undefined, umask: process.umask() };
  // Packs another host wrote, or written before this state was recovered: read their indexes first.
  const learned = await learnPacks(host, vault, vaultSpec);
  for (const problem of learned.problems) outcome.errors.push({ path: '', code: 'bad-index', message: `vault: ${problem}` });
  /**
   * Make one file whole beside its place, give it its metadata, move it in. `fill` puts the
   * content at the temporary name and returns the file open there (nothing for a symlink),
   * `created` if it made the file with the permission bits asked for.
   */
  // One name at the root, not one beside each file: measured 28 s against 38 s for 100k files here.
  let mainTmp = path.join(tree.root, TMP_NAME);
  const readBuffer = Buffer.allocUnsafe(1 << 20);
  /**
   * Whether `dest` already is the file as it was (content; and mode, mtime and, as root,
   * owner unless content only): then nothing is written and nothing trashed (a restore over
   * a tree that did not change would otherwise fill the trash with copies of every file).
   */
  const alreadyThere = (dest: string | Buffer, s: Snapshot): boolean => {
    if (isSymlinkMode(s.mode)) return false;
    const sameMeta = (st: { mode: number; mtimeMs: number; uid: number; gid: number }) =>
      options.contentOnly || ((st.mode & 0o7777) === (s.mode & 0o7777) && Math.abs(st.mtimeMs - s.mtimeMs) < 0.001 && (!asRoot || (st.uid === s.uid && st.gid === s.gid)));
    const st = fs.lstatSync(dest, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size !== s.size || !sameMeta(st)) return false;
    const h = hashFile(dest, 'sha256', readBuffer);
    return h.ok && h.hash === s.hash && sameMeta(h.state);
  };
  const counted = (size: number) => {
    outcome.restored++;
    outcome.bytes += size;
    options.onFile?.(size);
  };
  const install = (it: RestoreItem, fill: Fill) => {
    const s = it.snapshot;
    try {
      const dest = tree.file(it.rel, keyPath(s.key).pathBytes !== undefined && it.rel === keyPath(s.key).path ? keyPath(s.key).pathBytes : undefined);
      // In a folder this restore made, nothing can be there yet (each file is restored once).
      const inMade = typeof dest === 'string' && tree.made(path.dirname(dest));
      if (!inMade && alreadyThere(dest, s)) {
        outcome.unchanged++;
        counted(s.size);
        return;
      }
      const tmp = mainTmp;
      const opened = fill(tmp, options.contentOnly ? 0o600 : s.mode & 0o777);
      const fd = opened?.fd;
      try {
        if (!options.contentOnly) {
          if (isSymlinkMode(s.mode)) {
            // The link itself, never what it points to (a link's own mode means nothing on Linux).
            if (asRoot) fs.lchownSync(tmp, s.uid, s.gid);
            fs.lutimesSync(tmp, s.atimeMs ? utimesSeconds(s.atimeMs) : new Date(), utimesSeconds(s.mtimeMs));
          } else if (opened) {
            setMetadata(opened.fd, s, opened.created, made);
          }
        }
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
      if (!inMade && fs.lstatSync(dest, { throwIfNoEntry: false })) {
        tree.trash(dest, it.rel, undefined, stamp);
        outcome.trashed++;
      }
      fs.renameSync(tmp, dest);
      counted(s.size);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      outcome.errors.push({ path: it.rel, code: e.code ?? 'restore', message: e.message });
    }
  };
  // Most files of a restore into a new folder are written on a thread of their own, while
  // this one reads the state and makes folders. At temporary names of their own.
  const threadTmps = Array.from({ length: NATIVE_LANES }, (_, n) => `${TMP_NAME}.thread${n || ''}`);
  let writer: BlobWriter | undefined;
  let writerDone = false;
  const threads: Threads = {
    route(it) {
      const s = it.snapshot;
      if (writerDone || isSymlinkMode(s.mode) || keyPath(s.key).pathBytes !== undefined) return undefined;
      try {
        const dest = tree.file(it.rel);
        // Only into a folder this restore made: nothing else is in it (no trash needed).
        return typeof dest === 'string' && tree.made(path.dirname(dest)) ? dest : undefined;
      } catch {
        return undefined; // the careful way meets the same problem, and reports it
      }
    },
    writer: () => (writer ??= blobWriter({ tmps: threadTmps.map((name) => path.join(tree.root, name)), made })),
    drain: async () => writer?.drain(),
    meta: (s) => (options.contentOnly ? undefined : { mode: s.mode, uid: s.uid, gid: s.gid, atimeMs: s.atimeMs, mtimeMs: s.mtimeMs }),
    restored: (it) => counted(it.snapshot.size),
  };
  /** Restore a few thousand items: packed content first, then single blobs. */
  const restoreBatch = async (batch: RestoreItem[]) => {
    // Packed content is read straight out of its pack and verified in memory: no staging file.
    const packedAt = host.packedBlobs(vault.id, batch.map((it) => it.snapshot.hash));
    const where = batch.map((it) => packedAt.get(it.snapshot.hash));
    const packed = batch.flatMap((it, n) => (where[n] ? [{ it, at: where[n] }] : []));
    await restorePacked(vaultSpec, packed, install, (it, code, message) => outcome.errors.push({ path: it.rel, code, message }), threads);
    const single = batch.filter((_, n) => !where[n]);
    if (!single.length) return;
    const keys = [...new Set(single.map((it) => blobKey(it.snapshot.hash)))];
    const missing = await fetchBlobs(vaultSpec, keys.filter((k) => !fs.existsSync(path.join(staging, k))), staging);
    const verified = new Set<string>();
    const present = keys.filter((k) => !missing.has(k));
    const hashes = await pool.hash('sha256', present.map((k) => path.join(staging, k)), 0);
    present.forEach((k, n) => {
      const h = hashes[n]!;
      if (h.ok && blobKey(h.hash) === k) verified.add(k);
      else {
        fs.rmSync(path.join(staging, k), { force: true });
        missing.set(k, h.ok ? `the vault's blob ${k} holds ${h.hash}: corrupt, not restored` : h.message);
      }
    });
    const uses = new Map<string, number>();
    for (const it of single) uses.set(blobKey(it.snapshot.hash), (uses.get(blobKey(it.snapshot.hash)) ?? 0) + 1);
    for (const it of single) {
      const key = blobKey(it.snapshot.hash);
      if (!verified.has(key)) {
        outcome.errors.push({ path: it.rel, code: 'missing-content', message: missing.get(key) ?? 'not in the vault' });
        continue;
      }
      install(it, (tmp) => {
        const blob = path.join(staging, key);
        const left = uses.get(key)! - 1;
        uses.set(key, left);
        if (isSymlinkMode(it.snapshot.mode)) return makeLink(tmp, fs.readFileSync(blob));
        if (left === 0) fs.renameSync(blob, tmp);
        else fs.copyFileSync(blob, tmp);
        return { fd: fs.openSync(tmp, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW), created: false };
      });
    }
  };
  try {
    // Whatever sits at the temporary names (a killed restore's leftover, or anybody's file)
    // goes to the trash: writing a file there removes what is in the way, untrashed.
    const tmpNames = [TMP_NAME, ...threadTmps];
    for (const name of tmpNames) {
      const at = path.join(tree.root, name);
      if (!fs.lstatSync(at, { throwIfNoEntry: false })) continue;
      tree.trash(at, name, undefined, stamp);
      outcome.trashed++;
    }
    // Items are read as they are restored (the state of a big tree takes a second to read).
    // Files at the temporary names (or below them) come last, once the thread is done, and
    // are made at a name nothing restored has taken.
    const atTmpNames: RestoreItem[] = [];
    let batch: RestoreItem[] = [];
    for (const it of items) {
      if (tmpNames.some((name) => it.rel === name || it.rel.startsWith(`${name}/`))) atTmpNames.push(it);
      else if (batch.push(it) >= BATCH) {
        await restoreBatch(batch);
        batch = [];
      }
    }
    await restoreBatch(batch);
    await writer?.drain();
    writerDone = true;
    if (atTmpNames.length) {
      for (let n = 1; fs.lstatSync((mainTmp = path.join(tree.root, `${TMP_NAME}.${n}`)), { throwIfNoEntry: false }); n++);
      await restoreBatch(atTmpNames);
    }
  } finally {
    await pool.close();
    await writer?.close();
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return outcome;
}

/**
 * Restore items whose content is packed: each pack needed is opened (downloaded from a
 * remote vault), each blob read at its offset and re-hashed in memory; only then is it
 * written out. A blob that is not what its id says is refused.
 */
async function restorePacked(
  vaultSpec: string,
  items: Array<{ it: RestoreItem; at: PackedBlob & { pack: string } }>,
  install: (it: RestoreItem, fill: Fill) => void,
  fail: (it: RestoreItem, code: string, message: string) => void,
  threads: Threads,
): Promise<void> {
  if (!items.length) return;
  const packs = await openPacks(vaultSpec, [...new Set(items.map((i) => i.at.pack))]);
  const fds = new Map<string, number>();
  let jobs: WriteJob[] = [];
  let jobItems: RestoreItem[] = [];
  const handOver = async () => {
    if (!jobs.length) return;
    const sent = jobItems;
    const sending = jobs;
    jobs = [];
    jobItems = [];
    await threads.writer().write(sending, (outcomes) =>
      outcomes.forEach((o, i) => {
        if (o.ok) threads.restored(sent[i]!);
        else fail(sent[i]!, o.code, o.message);
      }),
    );
  };
  try {
    for (const { it, at: w } of items) {
      const file = packs.file(w.pack);
      if (!file) {
        fail(it, 'missing-content', `pack ${w.pack} is not in the vault`);
        continue;
      }
      const dest = threads.route(it);
      if (dest !== undefined) {
        jobs.push({ pack: file, offset: w.offset, length: w.length, hash: it.snapshot.hash, dest, meta: threads.meta(it.snapshot) });
        jobItems.push(it);
        if (jobs.length >= threads.writer().batch) await handOver();
        continue;
      }
      let fd = fds.get(w.pack);
      if (fd === undefined) fds.set(w.pack, (fd = fs.openSync(file, 'r')));
      const data = readPackedBlob(fd, w.pack, w, it.snapshot.hash);
      if (!Buffer.isBuffer(data)) {
        fail(it, 'corrupt', data.corrupt);
        continue;
      }
      install(it, (tmp, mode) => (isSymlinkMode(it.snapshot.mode) ? makeLink(tmp, data) : { fd: writeNewFile(tmp, mode, data), created: true }));
    }
    await handOver();
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
    // The thread reads these packs: a downloaded copy goes only once it is done with them.
    await threads.drain();
    packs.done();
  }
}

/** A symlink at `file` holding `target` (whatever sat at the name is removed first, never followed). */
function makeLink(file: string, target: Buffer): undefined {
  fs.rmSync(file, { force: true });
  fs.symlinkSync(target, file);
  return undefined;
}
