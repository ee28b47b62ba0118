import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FileMetadata, MadeFiles } from './restored-file.js';

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

/** Files per message: enough that messages cost little. */
export const FILES_PER_MESSAGE = 256;
/** Messages out at once: one being written, two waiting. */
const IN_FLIGHT = 3;

/**
 * One thread writing restored files (see writer.ts) while the main thread reads the state,
 * makes folders and decides. One, not one per core: two threads creating files at once
 * contended in the kernel on the test machine (20-29 s against 11-13 s for 100k files).
 */
export class FileWriter {
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

  /** Hand files over: resolves once taken (waiting while enough are out); `onDone` gets their outcomes, in order. */
  async write(jobs: WriteJob[], onDone: (outcomes: WriteOutcome[]) => void): Promise<void> {
    while (!this.failure && this.waiting.size >= IN_FLIGHT) await new Promise<void>((resolve) => this.freed.push(resolve));
    if (this.failure) throw this.failure;
    this.send({ jobs }, onDone);
  }

  /** Wait until every file handed over is written (or failed). */
  async drain(): Promise<void> {
    while (!this.failure && this.waiting.size) await new Promise<void>((resolve) => this.freed.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Wait for every file handed over, let the thread close its packs, and stop it. */
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
