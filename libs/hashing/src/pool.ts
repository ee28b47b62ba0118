import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHANGED_WHILE_READING, HASHED, hashFiles, nameList, nativeError, NOT_A_FILE } from '@hoard/native';
import type { Algo } from './algorithms.js';
import { CHANGED_WHILE_READ, NOT_A_FILE_ANYMORE, openFailure, type HashOutcome } from './hash-file.js';

export interface WorkerRequest {
  id: number;
  algo: Algo;
  files: Array<string | Uint8Array>;
  /** Per file, the size expected if its bytes are to be kept (see hashFile's `keep`), or -1. */
  keep?: number[];
}

/** Outcomes as they travel: kept bytes as [offset, length] in `store`. */
export type TravellingOutcome = HashOutcome | (Omit<Extract<HashOutcome, { ok: true }>, 'data'> & { kept?: [number, number] });

export interface WorkerReply {
  id: number;
  outcomes: TravellingOutcome[];
  store?: ArrayBuffer;
}

export interface PoolOptions {
  threads?: number;
  /** Read buffer per thread. */
  chunkBytes?: number;
}

/**
 * Where the compiled worker is, found by package name: this module may run from source
 * (tests), from dist/, or bundled into a tool (bin start-up), each in another folder.
 */
function workerUrl(): URL {
  return pathToFileURL(createRequire(import.meta.url).resolve('@hoard/hashing/worker'));
}

/**
 * Hashing threads, one per core by default. Work goes out in batches (many small files
 * per message, a big file alone), so both cores stay busy whatever the mix of sizes. A
 * sha256 batch is one job of the native hasher on libuv's pool (a few at once, the rest
 * wait their turn) when it was built: the same outcomes without a JavaScript thread's
 * objects and messages per file (first backup of 100,000 files: 16.6-18.1 CPU-seconds ->
 * 14.4-14.7). Other algorithms, or no native part, go to JavaScript threads, each batch to
 * the least loaded.
 */
export class HashPool {
  private readonly threads: number;
  private readonly chunkBytes: number;
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly waiting = new Map<number, { resolve: (o: HashOutcome[]) => void; reject: (e: Error) => void; worker: number; bytes: number }>();
  private nextId = 1;
  private failed: Error | undefined;
  /**
   * Native jobs at once: one per thread (more would only take turns on the same cores), and
   * one of libuv's threads always left to the file reads and writes that share them (a
   * backup's pack stream writes while hashing goes on).
   */
  private readonly nativeLimit: number;
  private nativeRunning = 0;
  private readonly nativeQueue: Array<() => void> = [];

  constructor(options: PoolOptions = {}) {
    this.threads = Math.max(1, options.threads ?? Math.min(os.availableParallelism(), 8));
    this.chunkBytes = options.chunkBytes ?? 2 << 20;
    this.nativeLimit = Math.max(1, Math.min(this.threads, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1));
  }

  /**
   * Hash `files` (one batch) with `algo`; `bytes` is their total size, used to balance
   * threads. `keep`: per file, its expected size if the bytes hashed are wanted back (as the
   * outcome's `data`), or -1.
   */
  hash(algo: Algo, files: Array<string | Buffer>, bytes: number, keep?: number[]): Promise<HashOutcome[]> {
    if (this.failed) return Promise.reject(this.failed);
    if (algo === 'sha256' && hashFiles) return this.hashNatively(files, keep);
    if (!this.workers.length) this.startWorkers();
    let target = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[target]!) target = i;
    const id = this.nextId++;
    const weight = bytes + files.length * 16384; // opening a file costs about as much as reading 16 KB
    this.load[target]! += weight;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker: target, bytes: weight });
      this.workers[target]!.postMessage({ id, algo, files, ...(keep ? { keep } : {}) } satisfies WorkerRequest);
    });
  }

  private startWorkers(): void {
    const url = workerUrl();
    for (let i = 0; i < this.threads; i++) {
      const w = new Worker(url, { workerData: { chunkBytes: this.chunkBytes } });
      w.on('message', (reply: WorkerReply) => this.settle(reply));
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private async hashNatively(files: Array<string | Buffer>, keep?: number[]): Promise<HashOutcome[]> {
    if (this.nativeRunning >= this.nativeLimit) await new Promise<void>((resolve) => this.nativeQueue.push(resolve));
    this.nativeRunning++;
    try {
      const room = new Float64Array(files.length);
      if (keep) keep.forEach((size, i) => (room[i] = size < 0 ? 0 : size + 1)); // +1: a file that grew is seen, not cut
      const store = Buffer.allocUnsafeSlow(room.reduce((a, b) => a + b, 0));
      const out = new Float64Array(files.length * HASHED);
      const hashes = Buffer.allocUnsafe(files.length * 32);
      await hashFiles!(nameList(files.map((f) => [f])), room, store, out, hashes);
      let used = 0;
      const ids = contentIds(hashes, files.length);
      return files.map((_, i) => {
        const at = used;
        used += room[i]!;
        return nativeOutcome(out.subarray(i * HASHED, (i + 1) * HASHED), ids, i, store, at);
      });
    } finally {
      this.nativeRunning--;
      this.nativeQueue.shift()?.();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(reply: WorkerReply): void {
    const job = this.waiting.get(reply.id);
    if (!job) return;
    this.waiting.delete(reply.id);
    this.load[job.worker]! -= job.bytes;
    const store = reply.store ? Buffer.from(reply.store) : undefined;
    job.resolve(
      reply.outcomes.map((o) => {
        if (!('kept' in o) || !o.kept) return o as HashOutcome;
        const { kept, ...rest } = o;
        return { ...rest, data: store!.subarray(kept[0], kept[0] + kept[1]) };
      }),
    );
  }

  private fail(err: Error): void {
    this.failed = err;
    for (const job of this.waiting.values()) job.reject(err);
    this.waiting.clear();
  }
}

/** One file's numbers from the native hasher as hashFile would have answered. */
const ID_PREFIX = 'sha256:';
const ID_LENGTH = ID_PREFIX.length + 64;
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, b) => {
  const hex = b.toString(16).padStart(2, '0');
  return hex.charCodeAt(0) | (hex.charCodeAt(1) << 8);
});

/**
 * Each digest's content id (`sha256:` and 64 hex digits) written out in one buffer, to be cut
 * into strings of one piece each: an id made by joining two strings is a pair V8 flattens the
 * first time it is a key, and every id is a key in several sets and maps on its way.
 */
function contentIds(digests: Buffer, count: number): Buffer {
  const ids = Buffer.allocUnsafe(count * ID_LENGTH);
  for (let i = 0; i < count; i++) {
    let at = ids.write(ID_PREFIX, i * ID_LENGTH, 'latin1') + i * ID_LENGTH;
    for (let k = i * 32; k < i * 32 + 32; k++) {
      const pair = HEX_PAIRS[digests[k]!]!;
      ids[at++] = pair & 0xff;
      ids[at++] = pair >> 8;
    }
  }
  return ids;
}

function nativeOutcome(n: Float64Array, ids: Buffer, i: number, store: Buffer, at: number): HashOutcome {
  const errno = n[0]!;
  if (errno === NOT_A_FILE) return { ...NOT_A_FILE_ANYMORE };
  if (errno === CHANGED_WHILE_READING) return { ...CHANGED_WHILE_READ };
  if (errno !== 0) return openFailure(...nativeError(errno));
  const state = { size: n[1]!, mtimeMs: n[2]!, ctimeMs: n[3]!, ino: n[4]!, dev: n[5]!, mode: n[6]!, nlink: n[7]!, uid: n[8]!, gid: n[9]!, atimeMs: n[10]!, birthtimeMs: n[11]! };
  const hash = ids.toString('latin1', i * ID_LENGTH, (i + 1) * ID_LENGTH);
  return { ok: true, hash, state, startedAtMs: n[12]!, ...(n[13]! >= 0 ? { data: store.subarray(at, at + n[13]!) } : {}) };
}
