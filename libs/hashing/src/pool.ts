import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Algo } from './algorithms.js';
import type { HashOutcome } from './hash-file.js';

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
 * per message, a big file alone) to the least-loaded thread, so both cores stay busy
 * whatever the mix of sizes.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly waiting = new Map<number, { resolve: (o: HashOutcome[]) => void; reject: (e: Error) => void; worker: number; bytes: number }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(options: PoolOptions = {}) {
    const threads = Math.max(1, options.threads ?? Math.min(os.availableParallelism(), 8));
    const url = workerUrl();
    for (let i = 0; i < threads; i++) {
      const w = new Worker(url, { workerData: { chunkBytes: options.chunkBytes ?? 2 << 20 } });
      w.on('message', (reply: WorkerReply) => this.settle(reply));
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
      this.load.push(0);
    }
  }

  /**
   * Hash `files` (one batch) with `algo`; `bytes` is their total size, used to balance
   * threads. `keep`: per file, its expected size if the bytes hashed are wanted back (as the
   * outcome's `data`), or -1.
   */
  hash(algo: Algo, files: Array<string | Buffer>, bytes: number, keep?: number[]): Promise<HashOutcome[]> {
    if (this.failed) return Promise.reject(this.failed);
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
