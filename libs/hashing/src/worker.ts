import { parentPort, workerData } from 'node:worker_threads';
import { hashFile } from './hash-file.js';
import type { WorkerReply, WorkerRequest } from './pool.js';

/** A hashing thread: takes batches of files, answers with one outcome per file. */
const buffer = Buffer.allocUnsafe((workerData as { chunkBytes: number }).chunkBytes);
parentPort!.on('message', (req: WorkerRequest) => {
  const outcomes = req.files.map((f) => hashFile(typeof f === 'string' ? f : Buffer.from(f), req.algo, buffer));
  parentPort!.postMessage({ id: req.id, outcomes } satisfies WorkerReply);
});
