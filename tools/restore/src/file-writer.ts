import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { nativeError, nameList, WRITE_META, writeBlobs, type WriteBlobs } from '@hoard/native';
import { metadataSteps, readPackedBlob, type FileMetadata, type MadeFiles } from './restored-file.js';

/** One file for the restoring thread: its blob's place in a local pack, and where it goes. */
export interface WriteJob {
  /** The pack file (on this machine) and the blob's place in it. */
  pack: string;
  offset: number;
  length: number;
  /** The content id the bytes must have. */
  hash: string;
  /** Absolute path, in a folder this restore made. */
  dest: string;
  /** Metadata to give it (none: content only). */
  meta?: FileMetadata;
}

export type WriteOutcome = { ok: true } | { ok: false; code: string; message: string };

/** Writes restored files off the main thread while it reads the state, makes folders and decides. */
export interface BlobWriter {
  /** Files to hand over at once. */
  readonly batch: number;
  /** Hand files over: resolves once taken (waiting while enough are out); `onDone` gets their outcomes, in order. */
  write(jobs: WriteJob[], onDone: (outcomes: WriteOutcome[]) => void): Promise<void>;
  /** Wait until every file handed over is written (or failed). */
  drain(): Promise<void>;
  /** Wait for every file handed over, then let go of the packs and threads. */
  close(): Promise<void>;
}

/**
 * The native writer when it was built, else a worker thread. Each writing thread makes its
 * files at a temporary name of its own: `tmps` (at least NATIVE_LANES of them).
 */
export function blobWriter(settings: { tmps: string[]; made: MadeFiles }): BlobWriter {
  return writeBlobs ? new NativeWriter(writeBlobs, settings.tmps.slice(0, NATIVE_LANES), settings.made) : new FileWriter({ tmp: settings.tmps[0]!, made: settings.made });
}

/**
 * Calls of the native writer at once, each on a pool thread at its own temporary name. Two:
 * a C prototype creating 100k files at the root, then renaming each in, took 7.9 and 17.0 s on
 * one thread, 5.1 and 5.8 s on two (two cores; interleaved). The worker (below) stays one.
 */
export const NATIVE_LANES = 2;

/** Restore's writer in C (libs/native writeBlobs): read, verify, write, metadata, rename, a few hundred files a call. */
class NativeWriter implements BlobWriter {
  readonly batch = 500;
  private readonly running = new Set<Promise<void>>();
  private readonly free: string[];

  constructor(
    private readonly writeBlobs: WriteBlobs,
    tmps: string[],
    private readonly made: MadeFiles,
  ) {
    this.free = [...tmps];
  }

  async write(jobs: WriteJob[], onDone: (outcomes: WriteOutcome[]) => void): Promise<void> {
    while (!this.free.length) await Promise.race(this.running);
    const tmp = this.free.pop()!;
    const run = this.run(tmp, jobs, onDone).finally(() => {
      this.running.delete(run);
      this.free.push(tmp);
    });
    this.running.add(run);
  }

  async drain(): Promise<void> {
    while (this.running.size) await Promise.race(this.running);
  }

  async close(): Promise<void> {
    await this.drain();
  }

  /** One call; never rejects: a call that could not run reports each of its files failed. */
  private async run(tmp: string, jobs: WriteJob[], onDone: (outcomes: WriteOutcome[]) => void): Promise<void> {
    const meta = new Float64Array(jobs.length * WRITE_META);
    jobs.forEach((job, i) => {
      const steps = job.meta && metadataSteps(job.meta, true, this.made);
      meta.set([job.offset, job.length, job.meta ? job.meta.mode & 0o777 : 0o600, steps?.chown ? job.meta!.uid : -1, steps?.chown ? job.meta!.gid : -1, steps?.chmod ?? -1, job.meta?.atimeMs ?? 0, job.meta ? job.meta.mtimeMs : NaN], i * WRITE_META);
    });
    const hashes = Buffer.concat(jobs.map((job) => sha256Bytes(job.hash)));
    let errnos: Int32Array;
    try {
      errnos = await this.writeBlobs(nameList(jobs.map((job) => [job.pack, tmp, job.dest])), meta, hashes);
    } catch (err) {
      onDone(jobs.map(() => ({ ok: false, code: 'restore', message: `restoring thread failed: ${(err as Error).message}` })));
      return;
    }
    onDone(jobs.map((job, i) => (errnos[i] === 0 ? { ok: true } : failure(job, errnos[i]!))));
  }
}

/** The 32 bytes a sha256 content id names (zeros for any other id: no blob matches them). */
function sha256Bytes(hash: string): Buffer {
  return hash.startsWith('sha256:') && hash.length === 71 ? Buffer.from(hash.slice(7), 'hex') : Buffer.alloc(32);
}

/** A native write's errno as an outcome; a blob that did not verify is read again here to say what it holds. */
function failure(job: WriteJob, errno: number): WriteOutcome {
  if (errno === os.constants.errno.EBADMSG) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(job.pack, 'r');
      const data = readPackedBlob(fd, path.basename(job.pack), job, job.hash);
      return { ok: false, code: 'corrupt', message: Buffer.isBuffer(data) ? `${job.hash}: changed in the pack while it was restored` : data.corrupt };
    } catch (err) {
      return { ok: false, code: 'corrupt', message: (err as Error).message };
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }
  const [code, message] = nativeError(errno);
  return { ok: false, code, message: `${job.dest}: ${message}` };
}

/** Files per message to the worker: enough that messages cost little. */
const FILES_PER_MESSAGE = 256;
/** Messages out at once: one being written, two waiting. */
const IN_FLIGHT = 3;

/**
 * One worker thread writing restored files (see writer.ts): the path without the native
 * parts. One, not one per core: two threads creating files at once contended in the
 * kernel on the test machine (20-29 s against 11-13 s for 100k files).
 */
export class FileWriter implements BlobWriter {
  readonly batch = FILES_PER_MESSAGE;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { files: number; onDone: (o: WriteOutcome[]) => void }>();
  private readonly freed: Array<() => void> = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(settings: { tmp: string; made: MadeFiles }) {
    this.worker = new Worker(pathToFileURL(createRequire(import.meta.url).resolve('@hoard/tool-restore/writer')), { workerData: settings });
    this.worker.on('message', (reply: { id: number; outcomes: WriteOutcome[] }) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      w?.onDone(reply.outcomes);
      this.wake();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      // Whatever was out is reported failed, file by file: nothing goes missing silently.
      for (const w of this.waiting.values()) w.onDone(Array.from({ length: w.files }, () => ({ ok: false as const, code: 'restore', message: `restoring thread failed: ${err.message}` })));
      this.waiting.clear();
      this.wake();
    });
  }

  async write(jobs: WriteJob[], onDone: (outcomes: WriteOutcome[]) => void): Promise<void> {
    while (!this.failure && this.waiting.size >= IN_FLIGHT) await new Promise<void>((resolve) => this.freed.push(resolve));
    if (this.failure) throw this.failure;
    this.send({ jobs }, onDone);
  }

  async drain(): Promise<void> {
    while (!this.failure && this.waiting.size) await new Promise<void>((resolve) => this.freed.push(resolve));
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    try {
      if (!this.failure) await new Promise<void>((resolve) => this.send({ done: true }, () => resolve()));
    } finally {
      await this.worker.terminate();
    }
    if (this.failure) throw this.failure;
  }

  private send(message: { jobs?: WriteJob[]; done?: true }, onDone: (o: WriteOutcome[]) => void): void {
    const id = this.nextId++;
    this.waiting.set(id, { files: message.jobs?.length ?? 0, onDone });
    this.worker.postMessage({ id, ...message });
  }

  private wake(): void {
    for (const resolve of this.freed.splice(0)) resolve();
  }
}
