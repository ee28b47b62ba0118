import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HoardError } from '@hoard/schema';
import { type Location, type PackedBlob, type Repository } from '@hoard/state';
import { rclone, rcloneBatch, rcloneList, remoteJoin } from '@hoard/remote';
import { nameList, nativeError, writeDirect } from '@hoard/native';

/**
 * Packs: small blobs travel and rest concatenated, a few thousand per file (restic's
 * layout), because a vault of one file per blob spends its time creating files, not
 * writing bytes. In the vault:
 *
 *   packs/<ab>/<id>   the blobs' bytes, back to back
 *   index/<id>        one JSON line: {"type":"pack","pack":id,"blobs":[[hash, offset, length], ...]}
 *
 * Every blob is hashed from the very bytes written into its pack, and a pack is written
 * whole and synced before its index is written; the index goes in after the pack. So a pack without an index is debris of a run
 * cut short (prune removes it), and every blob an index names was verified when it was
 * written. Blobs above PACK_MAX_BLOB stay single files under blobs/ (streamed, never held
 * in memory).
 */
export const PACK_TARGET = 16 << 20;
export const PACK_MAX_BLOB = 4 << 20;
/** Packs built before they are recorded (and, for a remote vault, uploaded) together. */
const RECORD_EVERY = 8;
/**
 * The most bytes a pack stream holds (eight packs' worth); past half of it, the reading
 * waits. Half is room for the packs being written (WRITERS, 32 MB), the one filling (16
 * MB) and the kept bytes of the hashing jobs on their way (tools/hash's MAX_KEEP_BYTES, 16
 * MB). At four packs' worth, half was full
 * as soon as two packs were being written: a first backup of 100,000 files paused its
 * reading 14-22 times, 0.2-0.9 s in all (none at eight). Eight interleaved pairs of first
 * backups: 9.30-11.12 s, median 10.00, against 9.57-11.95 s, median 10.45; 7 of 8 faster;
 * peak memory median 341 MB against 347 MB.
 */
export const STREAM_MAX_BYTES = 8 * PACK_TARGET;
/**
 * The most blobs in one pack, held by a stream, or written and not yet recorded: each is
 * a file whose record a backup keeps until its pack is recorded, and tiny files would
 * fill 16 MB packs with hundreds of thousands of them.
 */
export const PACK_MAX_BLOBS = 8192;
export const STREAM_MAX_BLOBS = 4 * PACK_MAX_BLOBS;
const RECORD_EVERY_BLOBS = 4 * PACK_MAX_BLOBS;
/** Packs written at once. */
const WRITERS = 2;

export interface PackIndex {
  type: 'pack';
  pack: string;
  blobs: Array<[hash: string, offset: number, length: number]>;
}

/** Content to pack: a file to read (expected to hold `hash`) or bytes in hand. */
export interface PackSource {
  hash: string;
  size: number;
  file?: string | Buffer;
  data?: Buffer;
}

export interface PackHooks {
  /** `later`: its record is committed later (see `record`). */
  onStored?: (blob: PackedBlob, later?: boolean) => void;
  onFailed?: (source: PackSource, code: string, message: string) => void;
  /**
   * Records packs the vault now holds in place of the host's own connection (a backup's
   * Recorder); true when that record is committed later: a stream then remembers what it
   * took until told (PackStream.recorded), since the state does not answer for it yet.
   */
  record?: (vaultId: number, packs: Array<{ id: string; blobs: PackedBlob[] }>) => boolean;
}

/** A vault on this machine: packs are renamed into it, not uploaded. */
export function isLocalVault(spec: string): boolean {
  return spec.startsWith('/');
}

function packKey(id: string): string {
  return `${id.slice(0, 2)}/${id}`;
}

const PACK_ID = /^[0-9a-f]{32}$/;
/** Vaults hold content by sha256: what the re-hash on every read checks. */
const SHA256_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * Pack `sources` into new packs in the vault, verified, and record them in `host`. What
 * cannot be read, or changed since it was hashed, is reported and left out.
 */
export async function writePacks(host: Repository, vault: Location, spec: string, sources: PackSource[], hooks: PackHooks = {}): Promise<void> {
  const outbox = new PackOutbox(host, vault, spec, hooks);
  try {
    for (const group of groups(sources)) {
      const built = gatherPack(group, hooks);
      if (built) await outbox.add(await savePack(outbox.staging, [built.data], built.blobs));
    }
    await outbox.flush();
  } finally {
    outbox.close();
  }
}

/**
 * Packs content as a backup hashes it, so small files are read once: each offered blob
 * is the very bytes its hash was computed from. Content the vault already holds, or that
 * this stream already took, is dropped; the rest fills packs, and each full pack is
 * written (synced) and published while hashing goes on. What a failed write lost is
 * not taken: the backup's second path (writePacks) sends it from the file.
 */
export class PackStream {
  private readonly outbox: PackOutbox;
  private waiting: Array<{ hash: string; data: Buffer }> = [];
  private waitingBytes = 0;
  /** The pack being filled: the blobs' own buffers, written out in one gathering write. */
  private parts: Buffer[] = [];
  private used = 0;
  private blobs: PackedBlob[] = [];
  private readonly taken = new Set<string>();
  /** Packs sealed and waiting for a writer; at most WRITERS are written at once. */
  private sealed: Array<{ data: Buffer[]; blobs: PackedBlob[]; bytes: number }> = [];
  private readonly writes = new Set<Promise<void>>();
  private roomWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private ready: Promise<void> | undefined;
  /**
   * The vault held nothing this state knew of when the stream began, and the stream has
   * forgotten nothing it took since: what it took is then all the vault holds for it, and
   * a first backup into a new vault asks the state nothing per blob.
   */
  private vaultEmpty = false;
  /** Bytes held: waiting to be sifted, in the pack being filled, or sealed and not yet written. */
  private held = 0;
  /** Blobs held, likewise. */
  private heldBlobs = 0;
  /** Offers refused for want of room (their files go the second way), and the most bytes and blobs held. */
  readonly stats = { refused: 0, peakBytes: 0, peakBlobs: 0 };

  /**
   * `beforeFirst`: awaited before the vault is first asked what it holds (learning the
   * packs other hosts wrote: content is stored once across hosts).
   */
  constructor(
    private readonly host: Repository,
    private readonly vault: Location,
    spec: string,
    hooks: PackHooks = {},
    private readonly beforeFirst: () => Promise<void> = async () => {},
  ) {
    // Once recorded, content is found in the state (the vault holds it): the stream need not
    // remember taking it, so what it remembers stays bounded by what is on its way. A record
    // committed later (PackHooks.record) is forgotten when the caller says so (recorded).
    this.outbox = new PackOutbox(host, vault, spec, {
      ...hooks,
      onStored: (b, later) => {
        if (!later) this.forget(b.hash);
        hooks.onStored?.(b, later);
      },
    });
  }

  /** Content whose packs' records are committed: the state answers for it from now on. */
  recorded(hashes: Iterable<string>): void {
    for (const h of hashes) this.forget(h);
  }

  private forget(hash: string): void {
    this.taken.delete(hash);
    this.vaultEmpty = false;
  }

  /**
   * Offer one blob; a promise when the caller should wait before reading more (past half
   * of STREAM_MAX_BYTES held: the vault writes slower than the files are read). A caller
   * that does not wait meets the hard bound: an offer past STREAM_MAX_BYTES is refused,
   * the memory stays bounded, and the file is read again by the second way.
   */
  offer(hash: string, data: Buffer): Promise<void> | undefined {
    if (data.length > PACK_MAX_BLOB || this.taken.has(hash)) return undefined;
    if (this.held + data.length > STREAM_MAX_BYTES || this.heldBlobs >= STREAM_MAX_BLOBS) {
      this.stats.refused++;
      return this.room();
    }
    this.held += data.length;
    this.heldBlobs++;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.held);
    this.stats.peakBlobs = Math.max(this.stats.peakBlobs, this.heldBlobs);
    this.waiting.push({ hash, data });
    this.waitingBytes += data.length;
    // The vault is asked in batches: one query per few thousand blobs.
    if (this.waiting.length >= 2048 || this.waitingBytes >= PACK_MAX_BLOB) return this.sift();
    return this.crowded() ? this.room() : undefined;
  }

  /** Everything offered in the vault (or reported); records what was stored. */
  async finish(): Promise<void> {
    try {
      await this.sift();
      this.seal();
      while (this.writes.size) await Promise.all(this.writes);
      await this.outbox.flush();
    } finally {
      this.outbox.close();
    }
  }

  private async sift(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    this.waitingBytes = 0;
    await (this.ready ??= this.beforeFirst().then(() => void (this.vaultEmpty = this.host.holdsNothing(this.vault.id))));
    const held = this.vaultEmpty ? new Set<string>() : this.host.holdsMany(this.vault.id, batch.map((b) => b.hash));
    for (const b of batch) {
      if (held.has(b.hash) || this.taken.has(b.hash)) {
        this.held -= b.data.length;
        this.heldBlobs--;
        continue;
      }
      this.taken.add(b.hash);
      this.parts.push(b.data);
      this.blobs.push({ hash: b.hash, offset: this.used, length: b.data.length });
      this.used += b.data.length;
      if (this.used >= PACK_TARGET || this.blobs.length >= PACK_MAX_BLOBS) this.seal();
    }
    await this.room();
  }

  /** Past half of either bound. */
  private crowded(): boolean {
    return this.held > STREAM_MAX_BYTES / 2 || this.heldBlobs > STREAM_MAX_BLOBS / 2;
  }

  /** Resolves once at most half of each bound is held (or nothing is being written that could free more). */
  private room(): Promise<void> | undefined {
    if (!this.crowded() || !this.writes.size) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** The current pack, full or last, on its way to the disk. */
  private seal(): void {
    if (!this.blobs.length) return;
    this.sealed.push({ data: this.parts, blobs: this.blobs, bytes: this.used });
    this.parts = [];
    this.used = 0;
    this.blobs = [];
    this.startWrites();
  }

  /**
   * Write sealed packs, WRITERS at a time: one pack's sync overlaps the next one's
   * writes. A failed write stops the stream taking content: what it lost goes the
   * second way.
   */
  private startWrites(): void {
    while (this.writes.size < WRITERS && this.sealed.length) {
      const { data, blobs, bytes } = this.sealed.shift()!;
      const write = (async () => {
        try {
          if (!this.failure) await this.outbox.add(await savePack(this.outbox.staging, data, blobs));
        } catch (err) {
          this.failure = err as Error;
        }
        if (this.failure) for (const b of blobs) this.taken.delete(b.hash);
        this.held -= bytes;
        this.heldBlobs -= blobs.length;
      })().finally(() => {
        this.writes.delete(write);
        this.startWrites();
        if (!this.crowded() || !this.writes.size) for (const wake of this.roomWaiters.splice(0)) wake();
      });
      this.writes.add(write);
    }
  }
}

/** Built packs on their way into the vault: published (or uploaded) and recorded a batch at a time. */
class PackOutbox {
  readonly staging: string;
  private readonly local: boolean;
  private pending: Array<{ id: string; blobs: PackedBlob[] }> = [];

  constructor(
    private readonly host: Repository,
    private readonly vault: Location,
    private readonly spec: string,
    private readonly hooks: PackHooks,
  ) {
    this.staging = host.stagingDir('packs');
    fs.mkdirSync(this.staging, { recursive: true, mode: 0o700 });
    this.local = isLocalVault(spec);
  }

  async add(built: { id: string; blobs: PackedBlob[] }): Promise<void> {
    if (this.local) publishLocal(this.spec, this.staging, built.id);
    this.pending.push(built);
    // Recorded elsewhere, a pack's record costs this thread little: its files' versions may follow at once.
    const every = this.local && this.hooks.record ? 1 : RECORD_EVERY;
    if (this.pending.length >= every || this.pending.reduce((n, p) => n + p.blobs.length, 0) >= RECORD_EVERY_BLOBS) await this.flush();
  }

  /**
   * Record (and, for a remote vault, first upload) what is pending, in one transaction: a
   * pack in the vault that a run cut short did not record is found again by its index
   * (learnPacks).
   */
  async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (!batch.length) return;
    if (this.local) {
      const later = recordPacks(this.host, this.vault, batch, this.hooks);
      for (const p of batch) for (const b of p.blobs) this.hooks.onStored?.(b, later);
    } else await upload(this.host, this.vault, this.spec, this.staging, batch, this.hooks);
  }

  close(): void {
    fs.rmSync(this.staging, { recursive: true, force: true });
  }
}

/** Sources in runs of about PACK_TARGET bytes. */
function* groups(sources: PackSource[]): Generator<PackSource[]> {
  let group: PackSource[] = [];
  let bytes = 0;
  for (const s of sources) {
    if (s.size > PACK_MAX_BLOB) throw new RangeError(`${s.hash} is ${s.size} bytes: too big for a pack`);
    group.push(s);
    bytes += s.size;
    if (bytes >= PACK_TARGET || group.length >= PACK_MAX_BLOBS) {
      yield group;
      group = [];
      bytes = 0;
    }
  }
  if (group.length) yield group;
}

/**
 * Read a group's content into one buffer and hash every blob in it against its id: only
 * the blobs that match go into the pack. Reads are synchronous: the files were just
 * hashed, so they come from the page cache, where a plain read costs a fraction of a
 * thread-pool round trip.
 */
function gatherPack(group: PackSource[], hooks: PackHooks): { data: Buffer; blobs: PackedBlob[] } | undefined {
  const total = group.reduce((n, s) => n + s.size, 0);
  const buffer = Buffer.allocUnsafe(total);
  const blobs: PackedBlob[] = [];
  let offset = 0;
  for (const source of group) {
    const length = readSource(source, buffer, offset, hooks);
    if (length === undefined) continue;
    // What a source held when it was read decides, not what it was when scanned.
    const got = `sha256:${crypto.createHash('sha256').update(buffer.subarray(offset, offset + length)).digest('hex')}`;
    if (got !== source.hash) {
      hooks.onFailed?.(source, 'changed', `content is now ${got}, not the ${source.hash} it was hashed as (changed while backing up?): not stored`);
      continue;
    }
    blobs.push({ hash: source.hash, offset, length });
    offset += length;
  }
  return blobs.length ? { data: buffer.subarray(0, offset), blobs } : undefined;
}

/** `parts` without their first `n` bytes. */
function skipBytes(parts: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < parts.length && n >= parts[i]!.length) n -= parts[i++]!.length;
  const rest = parts.slice(i);
  if (n > 0 && rest.length) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/** Write a pack and then its index into staging, each synced; off the main thread (libuv's pool). */
async function savePack(staging: string, data: Buffer[], blobs: PackedBlob[]): Promise<{ id: string; blobs: PackedBlob[] }> {
  const id = crypto.randomBytes(16).toString('hex');
  const file = path.join(staging, 'packs', packKey(id));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  if (writeDirect) {
    // Past the page cache: its sync writes the bytes to the disk anyway (see file_ops.c).
    const errno = await writeDirect(nameList([[file]]), data, 0o600);
    if (errno) {
      const [code, message] = nativeError(errno);
      throw Object.assign(new Error(`cannot write pack ${file}: ${message}`), { code });
    }
  } else {
    const handle = await fsp.open(file, 'wx', 0o600);
    try {
      // A write may take fewer bytes (or buffers: IOV_MAX) than given: go on from where it stopped.
      for (let parts = data, want = data.reduce((n, b) => n + b.length, 0); want > 0; ) {
        const { bytesWritten } = await handle.writev(parts);
        want -= bytesWritten;
        parts = skipBytes(parts, bytesWritten);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  const index: PackIndex = { type: 'pack', pack: id, blobs: blobs.map((b) => [b.hash, b.offset, b.length]) };
  await fsp.mkdir(path.join(staging, 'index'), { recursive: true });
  await fsp.writeFile(path.join(staging, 'index', id), `${JSON.stringify(index)}\n`, { mode: 0o600, flush: true });
  return { id, blobs };
}

/** Copy a source's bytes into `buffer` at `offset`; its length, or undefined (reported) when it cannot be read or is no longer the size it was hashed at. */
function readSource(source: PackSource, buffer: Buffer, offset: number, hooks: PackHooks): number | undefined {
  if (source.data) {
    source.data.copy(buffer, offset);
    return source.data.length;
  }
  let fd: number | undefined;
  try {
    fd = fs.openSync(source.file!, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const size = fs.fstatSync(fd).size;
    if (size !== source.size) throw new HoardError(`is ${size} bytes now, not the ${source.size} it was hashed at (changed while backing up?)`, 'changed');
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buffer, offset + got, size - got, got);
      if (n === 0) throw new HoardError('shrank while being read', 'changed');
      got += n;
    }
    return size;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    hooks.onFailed?.(source, e.code ?? 'read', `cannot pack ${String(source.file)}: ${e.message}`);
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Move a built pack, then its index, into a vault folder on this machine. */
function publishLocal(spec: string, staging: string, id: string): void {
  for (const [from, to] of [
    [path.join(staging, 'packs', packKey(id)), path.join(spec, 'packs', packKey(id))],
    [path.join(staging, 'index', id), path.join(spec, 'index', id)],
  ] as const) {
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
    try {
      fs.renameSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another file system: copy whole under a temporary name, synced, then rename.
      const tmp = `${to}.tmp-${process.pid}`;
      fs.copyFileSync(from, tmp);
      syncFile(tmp);
      fs.renameSync(tmp, to);
      fs.rmSync(from);
    }
  }
}

/** Flush a file written through its path to the disk (before it is renamed into place). */
export function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Record packs through the hook or the host's connection; true when the record is committed later. */
function recordPacks(host: Repository, vault: Location, packs: Array<{ id: string; blobs: PackedBlob[] }>, hooks: PackHooks): boolean {
  if (hooks.record) return hooks.record(vault.id, packs);
  host.recordPacks(vault.id, packs);
  return false;
}

/** Upload built packs to a remote vault: packs first, then the indexes of those that arrived. */
async function upload(host: Repository, vault: Location, spec: string, staging: string, built: Array<{ id: string; blobs: PackedBlob[] }>, hooks: PackHooks): Promise<void> {
  const packs = await rcloneBatch('copy', path.join(staging, 'packs'), remoteJoin(spec, 'packs'), built.map((b) => packKey(b.id)));
  const arrived = built.filter((b) => !packs.failed.has(packKey(b.id)));
  const indexes = await rcloneBatch('copy', path.join(staging, 'index'), remoteJoin(spec, 'index'), arrived.map((b) => b.id));
  const stored = built.filter((b) => {
    const failed = packs.failed.get(packKey(b.id)) ?? indexes.failed.get(b.id);
    if (failed) for (const blob of b.blobs) hooks.onFailed?.({ hash: blob.hash, size: blob.length }, 'upload', `pack ${b.id}: ${failed}`);
    return !failed;
  });
  const later = recordPacks(host, vault, stored, hooks);
  for (const b of stored) {
    for (const blob of b.blobs) hooks.onStored?.(blob, later);
    fs.rmSync(path.join(staging, 'packs', packKey(b.id)), { force: true });
    fs.rmSync(path.join(staging, 'index', b.id), { force: true });
  }
}

/** A pack index read from a vault, or why it is refused. */
export function parsePackIndex(name: string, text: string): PackIndex {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HoardError(`index/${name} is not JSON`, 'bad-index');
  }
  const idx = value as PackIndex;
  const ok =
    idx?.type === 'pack' &&
    idx.pack === name &&
    PACK_ID.test(name) &&
    Array.isArray(idx.blobs) &&
    idx.blobs.every((b) => Array.isArray(b) && b.length === 3 && typeof b[0] === 'string' && SHA256_ID.test(b[0]) && Number.isSafeInteger(b[1]) && b[1] >= 0 && Number.isSafeInteger(b[2]) && b[2] >= 0);
  if (!ok) throw new HoardError(`index/${name} is not a pack index of hoard's`, 'bad-index');
  return idx;
}

export interface VaultPack {
  id: string;
  /** When its index was written (ms). */
  modTimeMs: number;
}

/** The packs a vault has an index for. */
export async function listPacks(spec: string): Promise<VaultPack[]> {
  if (isLocalVault(spec)) {
    const dir = path.join(spec, 'index');
    const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    return names.filter((n) => PACK_ID.test(n)).map((n) => ({ id: n, modTimeMs: fs.statSync(path.join(dir, n)).mtimeMs }));
  }
  return (await rcloneList(remoteJoin(spec, 'index'))).filter((l) => PACK_ID.test(l.Path)).map((l) => ({ id: l.Path, modTimeMs: Date.parse(l.ModTime) }));
}

/** Read the indexes of the vault's packs this host does not know yet (packed by another host, or before a disaster) and record them. */
export async function learnPacks(host: Repository, vault: Location, spec: string, listed?: VaultPack[]): Promise<{ packs: VaultPack[]; problems: string[] }> {
  const packs = listed ?? (await listPacks(spec));
  const known = host.knownPacks(vault.id);
  const unknown = packs.filter((p) => !known.has(p.id));
  const problems: string[] = [];
  if (!unknown.length) return { packs, problems };
  const texts = await readIndexes(spec, unknown.map((p) => p.id));
  const learned: Array<{ id: string; blobs: PackedBlob[] }> = [];
  for (const [id, text] of texts) {
    try {
      const idx = parsePackIndex(id, text);
      learned.push({ id, blobs: idx.blobs.map(([hash, offset, length]) => ({ hash, offset, length })) });
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  host.recordPacks(vault.id, learned);
  return { packs, problems };
}

async function readIndexes(spec: string, ids: string[]): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  if (isLocalVault(spec)) {
    for (const id of ids) texts.set(id, fs.readFileSync(path.join(spec, 'index', id), 'utf8'));
    return texts;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-index-'));
  try {
    await rcloneBatch('copy', remoteJoin(spec, 'index'), dir, ids);
    for (const id of ids) {
      const file = path.join(dir, id);
      if (fs.existsSync(file)) texts.set(id, fs.readFileSync(file, 'utf8'));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return texts;
}

/**
 * A local copy of each pack named (the vault's own file when it is on this machine), for
 * reading blobs out of; `done` removes what was downloaded.
 */
export async function openPacks(spec: string, ids: string[]): Promise<{ file: (id: string) => string | undefined; done: () => void }> {
  const local = isLocalVault(spec);
  const dir = local ? path.join(spec, 'packs') : fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-packs-'));
  if (!local && ids.length) await rcloneBatch('copy', remoteJoin(spec, 'packs'), dir, ids.map(packKey));
  // Asked once per blob read: each pack is looked for once.
  const found = new Map<string, string | undefined>();
  return {
    file(id) {
      if (!found.has(id)) {
        const file = path.join(dir, packKey(id));
        found.set(id, fs.existsSync(file) ? file : undefined);
      }
      return found.get(id);
    },
    done: () => {
      if (!local) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Remove a pack from the vault: its index first (a pack without an index holds nothing), then the pack. */
export async function deletePack(spec: string, id: string): Promise<void> {
  if (isLocalVault(spec)) fs.rmSync(path.join(spec, 'index', id), { force: true });
  else await rclone(['deletefile', remoteJoin(spec, `index/${id}`)]).catch(() => undefined);
  await deleteUnindexed(spec, id);
}

/** Packs in the vault that no index names (left by a run cut short), with their age. */
export async function unindexedPacks(spec: string, indexed: Set<string>): Promise<VaultPack[]> {
  if (isLocalVault(spec)) {
    const root = path.join(spec, 'packs');
    if (!fs.existsSync(root)) return [];
    const found: VaultPack[] = [];
    for (const sub of fs.readdirSync(root)) {
      for (const name of fs.readdirSync(path.join(root, sub))) {
        if (!indexed.has(name)) found.push({ id: name, modTimeMs: fs.statSync(path.join(root, sub, name)).mtimeMs });
      }
    }
    return found;
  }
  return (await rcloneList(remoteJoin(spec, 'packs')))
    .map((l) => ({ id: path.posix.basename(l.Path), modTimeMs: Date.parse(l.ModTime) }))
    .filter((p) => !indexed.has(p.id));
}

/** Remove a pack file that no index names. */
export async function deleteUnindexed(spec: string, id: string): Promise<void> {
  if (isLocalVault(spec)) fs.rmSync(path.join(spec, 'packs', packKey(id)), { force: true });
  else await rclone(['deletefile', remoteJoin(spec, `packs/${packKey(id)}`)]).catch(() => undefined);
}

/** Every blob of every indexed pack re-hashed: what does not match its id, or is missing. */
export async function* verifyPacks(spec: string): AsyncGenerator<{ hash: string; ok: boolean; message?: string; pack: string }> {
  const listed = await listPacks(spec);
  const texts = await readIndexes(spec, listed.map((p) => p.id));
  for (const [id, text] of texts) {
    let idx: PackIndex;
    try {
      idx = parsePackIndex(id, text);
    } catch (err) {
      yield { hash: '', ok: false, message: (err as Error).message, pack: id };
      continue;
    }
    const packs = await openPacks(spec, [id]);
    try {
      const file = packs.file(id);
      const data = file ? fs.readFileSync(file) : undefined;
      for (const [hash, offset, length] of idx.blobs) {
        if (!data) {
          yield { hash, ok: false, message: `pack ${id} is missing`, pack: id };
          continue;
        }
        const got = offset + length <= data.length ? `sha256:${crypto.createHash('sha256').update(data.subarray(offset, offset + length)).digest('hex')}` : 'past the end of the pack';
        yield got === hash ? { hash, ok: true, pack: id } : { hash, ok: false, message: `pack ${id}: blob ${hash} holds ${got}`, pack: id };
      }
    } finally {
      packs.done();
    }
  }
}
