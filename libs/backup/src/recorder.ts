import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HoardError } from '@hoard/schema';
import type { PackedBlob } from '@hoard/state';
import { ADDITION_FIELDS, type RecorderReply, type RecorderRequest } from './recorder-protocol.js';

/** A first version to record: what a snapshot row and an entry hold. */
export interface Addition {
  key: string;
  hash: string;
  size: number;
  mode: number;
  uid?: number;
  gid?: number;
  atimeMs?: number;
  mtimeMs: number;
  ctimeMs?: number;
  birthtimeMs?: number;
  ino?: number;
}

export interface RecorderHooks {
  /** A batch of additions is written (committed by the next release at the latest); `before`/`after`: the location's last event around it. */
  onRecorded?: (r: { n: number; locationId: number; count: number; before: number; after: number }) => void;
}

/**
 * Records a backup's packs and first versions on a thread of its own, through a second
 * connection to the host's state, while the scan goes on: a first backup of 100,000 files
 * spent its last ~1.5 s recording ~300,000 rows on the main thread after the scan.
 *
 * The state has one writer at a time. While a recorder is open the backup writes through
 * its own connection only inside `exclusive` (everything posted before is committed first,
 * and what is posted meanwhile waits); its reads see only what the recorder committed, so
 * a backup remembers what it posted until a release has returned since.
 */
export class Recorder {
  private readonly worker: Worker;
  private n = 0;
  private failure: Error | undefined;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  /** Posts held while the backup writes itself (exclusive). */
  private held: RecorderRequest[] | undefined;
  private exited = false;

  constructor(root: string, private readonly hooks: RecorderHooks = {}) {
    this.worker = new Worker(pathToFileURL(createRequire(import.meta.url).resolve('@hoard/backup/recorder-worker')), { workerData: { root } });
    this.worker.on('message', (r: RecorderReply) => this.answer(r));
    this.worker.on('error', (err) => this.fail(err.message));
    this.worker.on('exit', () => {
      this.exited = true;
      if (this.waiting.size) this.fail('its thread ended');
    });
  }

  /** Whether posts go to the thread now (not while `exclusive` runs, nor after a failure). */
  get writing(): boolean {
    return !this.held && !this.failure && !this.exited;
  }

  /** Record packs a vault now holds (before any version of their content). */
  packs(vaultId: number, packs: Array<{ id: string; blobs: PackedBlob[] }>): void {
    this.post({ op: 'packs', n: ++this.n, vaultId, packs: packs.map((p) => ({ id: p.id, blobs: p.blobs.map((b) => ({ hash: b.hash, offset: b.offset, length: b.length })) })) });
  }

  /** Record first versions of files in a location (their content posted as held before). */
  additions(locationId: number, backupId: number, time: string, list: readonly Addition[]): void {
    // One flat array of numbers and strings: cloned to the thread far cheaper than objects.
    const rows: Array<string | number> = new Array(list.length * ADDITION_FIELDS);
    let i = 0;
    for (const a of list) {
      rows[i++] = a.key;
      rows[i++] = a.hash;
      rows[i++] = a.size;
      rows[i++] = a.mode;
      rows[i++] = a.uid ?? 0;
      rows[i++] = a.gid ?? 0;
      rows[i++] = a.atimeMs ?? 0;
      rows[i++] = a.mtimeMs;
      rows[i++] = a.ctimeMs ?? 0;
      rows[i++] = a.birthtimeMs ?? 0;
      rows[i++] = a.ino ?? 0;
    }
    this.post({ op: 'add', n: ++this.n, locationId, backupId, time, rows });
  }

  /** Everything posted so far committed (not while `exclusive` runs: what it holds back would not be). */
  release(): Promise<void> {
    if (this.held) return Promise.reject(new Error('Recorder.release inside exclusive'));
    return this.ask('release');
  }

  /**
   * Run `body` (which writes through the backup's own connection) once everything posted
   * is committed; what is posted meanwhile is sent after it.
   */
  async exclusive<T>(body: () => T | Promise<T>): Promise<T> {
    await this.release();
    this.held = [];
    try {
      return await body();
    } finally {
      const held = this.held;
      this.held = undefined;
      for (const m of held) this.post(m);
    }
  }

  /** Commit everything posted and end the thread; rejects if any of it failed. */
  async close(): Promise<void> {
    try {
      await this.ask('close');
    } finally {
      await this.worker.terminate();
    }
  }

  /** End the thread now: what it has not committed is rolled back with its connection. */
  async abort(): Promise<void> {
    await this.worker.terminate();
  }

  private ask(op: 'release' | 'close'): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const n = ++this.n;
    const done = new Promise<void>((resolve, reject) => this.waiting.set(n, { resolve, reject }));
    this.post({ op, n });
    return done;
  }

  private post(m: RecorderRequest): void {
    // After a failure nothing more is recorded: the failure reaches the backup at release or close.
    if (this.failure || this.exited) return;
    if (this.held && m.op !== 'release' && m.op !== 'close') this.held.push(m);
    else this.worker.postMessage(m);
  }

  private answer(r: RecorderReply): void {
    switch (r.op) {
      case 'recorded':
        this.hooks.onRecorded?.(r);
        break;
      case 'released': {
        const w = this.waiting.get(r.n);
        this.waiting.delete(r.n);
        w?.resolve();
        break;
      }
      case 'failed':
        this.fail(r.message);
        break;
    }
  }

  private fail(message: string): void {
    this.failure ??= new HoardError(`recording the backup failed: ${message}`);
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }
}
