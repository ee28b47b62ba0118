import fs from 'node:fs';
import path from 'node:path';
import { asInputLines, type OutputItem } from '@hoard/jsonl';
import { blobKeyHash, entryKey, type HostConfig, type Location, type Repository, type ScanMarks, type StateChange } from '@hoard/state';
import { isSymlinkMode, joinRecordPath, symlinkTarget, type ActionRecord, type AnyRecord } from '@hoard/schema';
import { locator, rcloneList, remoteJoin } from '@hoard/remote';
import { checkTrackable, INSERT_SNAPSHOT, learnPacks, metadataPending, PACK_MAX_BLOB, PackStream, Recorder, trackDir, trackedDirs, uploadMetadata, vaultLocation, vaultSpec, writePacks, type PackSource, type Tracked } from '@hoard/backup';
import { diffTree, type RepositoryDiff } from '@hoard/tool-add/pipeline';
import { stageActions } from '@hoard/tool-stage/stage';
import { transferStaged } from '@hoard/tool-transfer/transfer';
import { integrateReceived } from '@hoard/tool-integrate/integrate';

export interface BackupOptions {
  /** Re-scan every tracked folder, not only what was staged. */
  all: boolean;
  /** Folders to track (if not yet) and back up whole. */
  dirs: string[];
  onScanned?: (files: number, bytes: number) => void;
  onSent?: (bytes: number) => void;
  /**
   * The step under way, with how many files or versions it concerns (and their bytes, to
   * pack or send): after the scan, or during it when a look records as it goes
   * (`scanning` again once that record is done).
   */
  onPhase?: (phase: 'scanning' | 'packing' | 'sending' | 'recording' | 'uploading', count: number, bytes?: number) => void;
  onError?: (error: { code: string; message: string; path?: string }) => void;
  /** Versions recorded, each time some are (a look records as it goes). */
  onRecorded?: (count: number) => void;
  /** Changes held before those whose content is safe are recorded during the scan (default RECORD_EVERY_CHANGES). */
  recordEvery?: number;
}

export interface BackupSummary {
  type: 'summary';
  command: 'backup';
  backup: number;
  files: number;
  bytes: number;
  newFiles: number;
  newBytes: number;
  sentFiles: number;
  sentBytes: number;
  deleted: number;
  metadata?: string;
  errors: number;
  [extra: string]: unknown;
}

type Change = StateChange & { path: string; pathBytes?: string; target?: string; targetBytes?: string; uid?: number; gid?: number; atimeMs?: number; ctimeMs?: number; birthtimeMs?: number };

/**
 * A look at a whole folder records its changes as it goes (a first look its additions, a
 * later one its modifications), once about this many are held and their content is safe
 * in the vault: a first backup of ten million files holds this many records (~60 MB) and
 * those whose content is still on its way into a pack (the pack stream bounds them, by
 * bytes and by count), not ten million. Each record is a commit that rewrites pages
 * scattered over the state's indexes, so they are few: recording every 20,000 did not make
 * a first backup of 100,000 files faster (10.7-12.4 s against 10.0-13.3 s).
 */
const RECORD_EVERY_CHANGES = 131_072;

/** A first look's additions whose content is safe go to the recorder this many at a time (fewer if recordEvery is lower). */
const POST_EVERY_ADDITIONS = 2048;

interface Work {
  dir: Tracked;
  under: string;
  /** Only these keys (a staged file): the rest of the folder scanned is not this backup's business. */
  only?: Set<string>;
}

/**
 * One backup: scan | hash | diff-state of each folder to back up against what the last
 * backup recorded, then the content the vault lacks goes through stage | transfer |
 * integrate (verified on arrival), and only then are the new versions recorded, with
 * their full metadata, and this host's state uploaded to the vault. A file whose content
 * did not reach the vault is not recorded: the next backup sends it again.
 */
export async function runBackup(host: Repository, config: HostConfig, options: BackupOptions): Promise<BackupSummary> {
  // Folders named are tracked first, once all can be: one missing or not a folder stops the backup before it starts.
  for (const d of options.dirs) checkTrackable(host, d);
  for (const d of options.dirs) trackDir(host, d);
  const vault = await vaultLocation(host, config);
  const startedAt = new Date().toISOString();
  const backupId = Number(host.db.prepare('INSERT INTO backups (host, started_at) VALUES (?, ?)').run(config.hostId, startedAt).lastInsertRowid);
  const summary: BackupSummary = { type: 'summary', command: 'backup', backup: backupId, files: 0, bytes: 0, newFiles: 0, newBytes: 0, sentFiles: 0, sentBytes: 0, deleted: 0, errors: 0 };
  const fail = (e: { code: string; message: string; path?: string }) => {
    summary.errors++;
    options.onError?.(e);
  };

  const work = plannedWork(host, options);
  const spec = vaultSpec(config.vaults[config.defaultVault]!.url);
  // What reaches the vault (packed or single), for the summary and for what may be recorded.
  const stored = new Set<string>();
  const storedOne = (hash: string, bytes: number) => {
    if (stored.has(hash)) return;
    stored.add(hash);
    summary.sentFiles++;
    summary.sentBytes += bytes;
    options.onSent?.(bytes);
  };
  // Small files are packed as they are hashed (read once). Whatever this misses (content
  // hashed earlier, from the cache; a pack that failed) goes the second way, below.
  let learned: Promise<void> | undefined;
  const learnOnce = () =>
    (learned ??= learnPacks(host, vault, spec).then((l) => {
      for (const problem of l.problems) fail({ code: 'bad-index', message: `vault: ${problem}` });
    }));
  /**
   * A first look of a folder (nothing recorded there yet) records its additions while the
   * scan goes on, on the recorder's thread, as soon as their content is stored: the packs
   * and their files' first versions, in that order. While the recorder is open, this
   * connection writes only inside `writing` (the recorder commits first).
   */
  let recorder: Recorder | undefined;
  const writing = <T>(body: () => T | Promise<T>): Promise<T> => (recorder ? recorder.exclusive(body) : Promise.resolve().then(body));
  const diffs = new Map<number, RepositoryDiff>();
  // Additions waiting for their content to be stored, by content id; those whose content is, by location.
  const waitlist = new Map<string, Array<[locationId: number, change: Change]>>();
  let waitlisted = 0;
  const ready = new Map<number, Change[]>();
  let readyCount = 0;
  // Content posted to the recorder and counted as new: this connection sees it once a release has returned.
  const counted = new Set<string>();
  let postedSinceRelease: string[] = [];
  const postEvery = Math.min(options.recordEvery ?? RECORD_EVERY_CHANGES, POST_EVERY_ADDITIONS);
  const makeReady = (locationId: number, c: Change) => {
    let list = ready.get(locationId);
    if (!list) ready.set(locationId, (list = []));
    list.push(c);
    readyCount++;
  };
  const postReady = () => {
    if (!recorder || !readyCount) return;
    const time = new Date().toISOString();
    for (const [locationId, list] of ready) {
      for (const c of list) {
        postedSinceRelease.push(c.hash!);
        if (counted.has(c.hash!)) continue;
        counted.add(c.hash!);
        summary.newFiles++;
        summary.newBytes += c.size ?? 0;
      }
      // Only additions with content, size, mode and mtime are made ready (see onChanges).
      recorder.additions(locationId, backupId, time, list as Array<Change & { hash: string; size: number; mode: number; mtimeMs: number }>);
      snapshots += list.length;
    }
    ready.clear();
    readyCount = 0;
  };
  const stream = new PackStream(
    host,
    vault,
    spec,
    {
      onStored: (b) => {
        storedOne(b.hash, b.length);
        const waiting = waitlist.get(b.hash);
        if (!waiting) return;
        waitlist.delete(b.hash);
        waitlisted -= waiting.length;
        for (const [locationId, c] of waiting) makeReady(locationId, c);
        if (readyCount >= postEvery) postReady();
      },
      // Through the recorder while it writes; through this connection inside `writing`.
      record: (vaultId, packs) => {
        if (recorder?.writing) {
          recorder.packs(vaultId, packs);
          return true;
        }
        host.recordPacks(vaultId, packs);
        return false;
      },
    },
    learnOnce,
  );
  /**
   * Once everything posted is committed, this connection finds that content in the state:
   * nothing of it need stay in memory (as after a record here).
   */
  const forgetPosted = async () => {
    if (!recorder) return;
    const posted = postedSinceRelease;
    postedSinceRelease = [];
    await recorder.release();
    for (const h of posted) {
      stored.delete(h);
      counted.delete(h);
    }
    stream.recorded(posted);
  };
  // Changes found and not recorded yet, by location.
  const pending = new Map<number, Change[]>();
  let pendingCount = 0;
  /** Additions still waiting for their content (held by the vault before, refused by a full stream, or never packed) join the changes to settle. */
  const settleWaitlisted = () => {
    for (const waiting of waitlist.values()) for (const [locationId, c] of waiting) pending.get(locationId)!.push(c);
    waitlist.clear();
    pendingCount += waitlisted;
    waitlisted = 0;
  };
  const complete = new Map<number, boolean>();
  // Each look at a folder starts from the marks the one before saved: the last holds them all.
  const marks = new Map<number, ScanMarks>();
  const recordEvery = options.recordEvery ?? RECORD_EVERY_CHANGES;
  // Held back by the last record (content still on its way in a pack): the next waits for as many more.
  let recordAt = recordEvery;
  // The vault's single blobs are listed once a run: what it learns is recorded.
  let listedBlobs = false;
  let snapshots = 0;

  /**
   * Send what the vault lacks of `batch` and record what is safe there. Mid-scan, only
   * additions and modifications whose content needs no pack written now (held, stored by
   * the stream, or big: sent on its own) are recorded; the rest is handed back for later.
   */
  const settle = async (batch: Map<number, Change[]>, final: boolean): Promise<Map<number, Change[]>> => {
    const later = new Map<number, Change[]>();
    const all = [...batch.values()].flat();
    // Content the vault lacks, once per content id. What this host does not know the vault
    // to hold may have come from another host: the vault's own listing says (dedup across hosts).
    const hashes = [...new Set(all.flatMap((c) => (c.op !== 'delete' && c.hash && !stored.has(c.hash) ? [c.hash] : [])))];
    let held = host.holdsMany(vault.id, hashes);
    if (held.size < hashes.length) {
      // Single blobs are only the big ones: list them only when a big file's content is new.
      const sizes = new Map(all.map((c) => [c.hash, c.size ?? 0]));
      if (!listedBlobs && hashes.some((h) => !held.has(h) && (sizes.get(h) ?? 0) > PACK_MAX_BLOB)) {
        listedBlobs = true;
        const listed = await rcloneList(remoteJoin(spec, 'blobs'));
        host.recordCopies(vault.id, listed.map((l) => ({ hash: blobKeyHash(l.Path), size: l.Size })).filter((b): b is { hash: string; size: number } => b.hash !== undefined));
      }
      await learnOnce();
      held = host.holdsMany(vault.id, hashes);
    }
    const single: ActionRecord[] = [];
    const packed: PackSource[] = [];
    const wanted = new Set<string>();
    const ready = new Map<number, Change[]>();
    for (const [locationId, list] of batch) {
      const dir = work.find((w) => w.dir.location.id === locationId)!.dir;
      const now: Change[] = [];
      const wait: Change[] = [];
      for (const c of list) {
        const small = (c.size ?? 0) <= PACK_MAX_BLOB || isSymlinkMode(c.mode);
        const needsPack = c.op !== 'delete' && c.hash && !held.has(c.hash) && !stored.has(c.hash) && small;
        if (!final && (c.op === 'delete' || c.op === 'move' || needsPack)) {
          wait.push(c);
          continue;
        }
        now.push(c);
        if (c.op === 'delete' || !c.hash || wanted.has(c.hash) || held.has(c.hash) || counted.has(c.hash)) continue;
        wanted.add(c.hash);
        summary.newFiles++;
        summary.newBytes += c.size ?? 0;
        if (stored.has(c.hash)) continue;
        if (isSymlinkMode(c.mode)) {
          // A symlink's content is its target, from the scan: never read through it.
          const data = symlinkTarget(c);
          packed.push({ hash: c.hash, size: data.length, data });
          continue;
        }
        if (small) {
          packed.push({ hash: c.hash, size: c.size ?? 0, file: joinRecordPath(dir.path, c.path, c.pathBytes) });
          continue;
        }
        single.push({ type: 'action', op: 'copy', source: dir.location.name, target: vault.name, hash: c.hash, size: c.size, path: c.path, ...(c.pathBytes ? { pathBytes: c.pathBytes } : {}), mtimeMs: c.mtimeMs });
      }
      if (now.length || final) ready.set(locationId, now);
      if (wait.length) later.set(locationId, wait);
    }
    if (packed.length) {
      options.onPhase?.('packing', packed.length, packed.reduce((n, p) => n + p.size, 0));
      await writePacks(host, vault, spec, packed, {
        onStored: (b) => storedOne(b.hash, b.length),
        onFailed: (source, code, message) => fail({ code, message, path: typeof source.file === 'string' ? source.file : undefined }),
      });
    }
    if (single.length) {
      options.onPhase?.('sending', single.length, single.reduce((n, a) => n + (a.size ?? 0), 0));
      await sendToVault(host, single, options, fail, storedOne);
    }

    // Record what is safe in the vault now: new versions with full metadata, and deletions.
    const count = [...ready.values()].reduce((n, list) => n + list.length, 0);
    options.onPhase?.('recording', count);
    const recordedHashes: string[] = [];
    host.db
      .transaction(() => {
        const snap = host.db.prepare(INSERT_SNAPSHOT);
        const unstage = host.db.prepare('DELETE FROM staged WHERE location_id = ?');
        const now = new Date().toISOString();
        for (const [locationId, list] of ready) {
          const recorded: StateChange[] = [];
          for (const c of list) {
            if (c.op === 'delete') {
              const prev = host.entry(locationId, c.key);
              if (!prev) continue;
              snap.run(locationId, c.key, prev.hash, prev.size, prev.mode, 0, 0, 0, prev.mtimeMs, 0, 0, now, backupId, 1);
              snapshots++;
              summary.deleted++;
              recorded.push(c);
            } else if (c.hash && (held.has(c.hash) || stored.has(c.hash))) {
              snap.run(locationId, c.key, c.hash, c.size ?? 0, c.mode ?? 0, c.uid ?? 0, c.gid ?? 0, c.atimeMs ?? 0, c.mtimeMs ?? 0, c.ctimeMs ?? 0, c.birthtimeMs ?? 0, now, backupId, 0);
              snapshots++;
              recordedHashes.push(c.hash);
              if (c.op === 'move' && c.fromKey) {
                const prev = host.entry(locationId, c.fromKey);
                if (prev) snap.run(locationId, c.fromKey, prev.hash, prev.size, prev.mode, 0, 0, 0, prev.mtimeMs, 0, 0, now, backupId, 1);
              }
              recorded.push(c);
            }
          }
          host.applyChanges(locationId, recorded, final ? { marks: marks.get(locationId) } : {});
          if (final && complete.get(locationId)) unstage.run(locationId);
        }
        if (final) host.db.prepare('UPDATE backups SET finished_at = ?, files = ?, bytes = ?, new_files = ?, new_bytes = ? WHERE id = ?').run(now, summary.files, summary.bytes, summary.newFiles, summary.newBytes, backupId);
      })
      .immediate();
    options.onRecorded?.(count);
    // Recorded content is found in the state from now on: nothing of it need stay in memory.
    for (const h of recordedHashes) stored.delete(h);
    return later;
  };

  try {
    for (const w of work) {
      // A whole folder's look records as it goes what it can: a first look (nothing recorded
      // there yet) its additions, which diff-state passes on at once; a later look its
      // modifications (diff-state holds additions and deletions to the end, to pair them
      // into moves), its run marks following its own records.
      const id = w.dir.location.id;
      const firstLook = !w.only && !host.hasHistory(id);
      if (firstLook && !recorder) {
        // The vault's packs by other hosts are known before the recorder writes: what they hold is not sent again.
        await learnOnce();
        recorder = new Recorder(host.root, {
          onRecorded: (r) => {
            diffs.get(r.locationId)?.followed(r.before, r.after);
            options.onRecorded?.(r.count);
          },
        });
      }
      if (!pending.has(id)) pending.set(id, []);
      const found = await changesOf(host, w, options, fail, summary, w.only ? undefined : stream, writing, async (changes, diff) => {
        const list = pending.get(id)!;
        if (firstLook) diffs.set(id, diff);
        for (const c of changes) {
          if (firstLook && c.op === 'add' && c.hash && c.size !== undefined && c.size <= PACK_MAX_BLOB && c.mode !== undefined && !isSymlinkMode(c.mode) && c.mtimeMs !== undefined) {
            if (stored.has(c.hash)) makeReady(id, c);
            else {
              const waiting = waitlist.get(c.hash);
              if (waiting) waiting.push([id, c]);
              else waitlist.set(c.hash, [[id, c]]);
              waitlisted++;
            }
          } else {
            list.push(c);
            pendingCount++;
          }
        }
        if (readyCount >= postEvery) postReady();
        if (postedSinceRelease.length >= recordEvery) await forgetPosted();
        if (w.only || pendingCount + waitlisted < recordAt) return;
        settleWaitlisted();
        // This folder's changes only: another's wait for the end, where its run marks are saved.
        const now = firstLook ? list : list.filter((c) => c.op === 'modify');
        await writing(async () => {
          const before = host.lastSeq(id);
          const waiting = new Set(now.length ? ((await settle(new Map([[id, now]]), false)).get(id) ?? []) : []);
          diff.followed(before, host.lastSeq(id));
          const recorded = new Set(now.filter((c) => !waiting.has(c)));
          const left = list.filter((c) => !recorded.has(c));
          pendingCount += left.length - list.length;
          pending.set(id, left);
        });
        recordAt = pendingCount + waitlisted + recordEvery;
        options.onPhase?.('scanning', 0);
      });
      if (found.marks) marks.set(id, found.marks);
      else marks.delete(id);
      complete.set(id, (complete.get(id) ?? true) && found.complete);
    }
    await stream.finish();
    if (recorder) {
      postReady();
      options.onPhase?.('recording', readyCount + waitlisted + pendingCount);
      await recorder.close();
      recorder = undefined;
    }
  } catch (err) {
    // What the recorder had not committed is rolled back; what is stored from here on is recorded here.
    const r = recorder;
    recorder = undefined;
    await r?.abort();
    await stream.finish().catch(() => undefined);
    throw err;
  }
  // What the recorder did not take (content held before, big, a symlink's, or sent the second way) is settled here.
  settleWaitlisted();
  await settle(pending, true);

  // The state changed (or was never uploaded): a new metadata version goes to the vault.
  if (snapshots > 0 || metadataPending(host, spec)) {
    options.onPhase?.('uploading', 1);
    summary.metadata = await uploadMetadata(host, spec, config.hostId);
  }
  return summary;
}

/** What to scan: the folders named and, with --all, every tracked one; otherwise what `hoard add` staged. */
function plannedWork(host: Repository, options: BackupOptions): Work[] {
  const tracked = trackedDirs(host);
  const named = new Set(options.dirs.map((d) => path.resolve(d)));
  const work: Work[] = [];
  for (const dir of tracked) {
    if (options.all || [...named].some((n) => n === dir.path || n.startsWith(`${dir.path}/`))) {
      work.push({ dir, under: '' });
      continue;
    }
    const staged = host.db.prepare('SELECT key FROM staged WHERE location_id = ? ORDER BY key').pluck().all(dir.location.id) as string[];
    for (const key of staged) {
      if (!key) {
        work.push({ dir, under: '' });
        break;
      }
      const st = fs.lstatSync(path.join(dir.path, key), { throwIfNoEntry: false });
      if (st?.isDirectory()) work.push({ dir, under: key });
      else work.push({ dir, under: path.posix.dirname(key) === '.' ? '' : path.posix.dirname(key), only: new Set([key]) });
    }
  }
  return work;
}

async function changesOf(
  host: Repository,
  w: Work,
  options: BackupOptions,
  fail: (e: { code: string; message: string; path?: string }) => void,
  summary: BackupSummary,
  stream: PackStream | undefined,
  writing: <T>(body: () => T | Promise<T>) => Promise<T>,
  onChanges: (changes: Change[], diff: RepositoryDiff) => Promise<void>,
): Promise<{ complete: boolean; marks?: ScanMarks }> {
  // Reads through the backup's connection: what a recorder writes meanwhile is a first look's
  // own additions, which the diff has passed already.
  const reader = host;
  const keep = stream && { maxBytes: PACK_MAX_BLOB, take: (_rec: unknown, hash: string, data: Buffer) => stream.offer(hash, data) };
  const diff = diffTree(reader, w.dir.location, w.dir.path, w.under, { onHashed: options.onScanned, keep });
  let complete = false;
  try {
    for await (const batch of diff.items) {
      const changes: Change[] = [];
      for (const item of batch) {
        const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
        if (rec.type === 'error') fail({ code: String(rec.code), message: String(rec.message), path: rec.path as string | undefined });
        else if (rec.type === 'scan') {
          complete = rec.complete === true;
          summary.files += Number(rec.files ?? 0);
          summary.bytes += Number(rec.bytes ?? 0);
        } else if (rec.type === 'change') {
          const key = entryKey(String(rec.path), rec.pathBytes as string | undefined);
          const fromKey = rec.from !== undefined ? entryKey(String(rec.from), rec.fromBytes as string | undefined) : undefined;
          if (w.only && !w.only.has(key) && !(fromKey && w.only.has(fromKey))) continue;
          // diff-state's own record, used by nothing else: keyed in place, not copied.
          const change = rec as unknown as Change;
          change.key = key;
          change.fromKey = fromKey;
          changes.push(change);
        }
      }
      if (changes.length) await onChanges(changes, diff);
    }
  } finally {
    // Closing saves the scan's run marks: a write, after the recorder's (which its marks follow).
    // If the recorder failed, the backup fails; the hashing threads still end.
    await writing(() => diff.close()).catch(async (err: unknown) => {
      await diff.close();
      throw err;
    });
  }
  return { complete, marks: diff.marks() };
}

/** stage | transfer | integrate into the vault, in process; tells `stored` what arrived verified. */
async function sendToVault(host: Repository, actions: ActionRecord[], options: BackupOptions, fail: (e: { code: string; message: string; path?: string }) => void, stored: (hash: string, bytes: number) => void): Promise<void> {
  const transferId = 'backup';
  const locate = locator(host);
  const staged = stageActions(asInputLines(chunks(actions)), { repo: host, transferId, locate });
  const sent = transferStaged(asInputLines(staged), { repo: host, transferId, locate });
  const integrated = integrateReceived(asInputLines(sent), { repo: host, transferId, locate });
  for await (const batch of integrated) {
    for (const item of batch as OutputItem[]) {
      const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
      if (rec.type === 'result' && rec.ok === false) fail({ code: String(rec.code), message: String(rec.message), path: rec.path as string | undefined });
      else if (rec.type === 'result' && rec.tool === 'integrate' && rec.ok === true) stored(String(rec.hash), Number(rec.bytes ?? 0));
      else if (rec.type === 'error') fail({ code: String(rec.code), message: String(rec.message) });
    }
  }
  fs.rmSync(host.stagingDir(transferId), { recursive: true, force: true });
  fs.rmSync(`${host.stagingDir(transferId)}.journal`, { force: true });
}

function* chunks<T>(items: T[], size = 1000): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export type { Location };
