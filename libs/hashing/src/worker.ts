import { parentPort, workerData } from 'node:worker_threads';
import { hashFile } from './hash-file.js';
import type { TravellingOutcome, WorkerReply, WorkerRequest } from './pool.js';

/**
 * A hashing thread: takes batches of files, answers with one outcome per file. Files the
 * request asks to keep are read whole into one store per batch, handed back (transferred,
 * not copied) with each outcome's place in it.
 */
const buffer = Buffer.allocUnsafe((workerData as { chunkBytes: number }).chunkBytes);
parentPort!.on('message', (req: WorkerRequest) => {
  const room = req.keep?.map((size) => (size < 0 ? 0 : size + 1)); // +1: a file that grew is seen, not cut
  const store = room ? Buffer.allocUnsafeSlow(room.reduce((a, b) => a + b, 0)) : undefined;
  let used = 0;
  const outcomes: TravellingOutcome[] = req.files.map((f, i) => {
    const file = typeof f === 'string' ? f : Buffer.from(f);
    const space = store && room![i]! > 0 ? store.subarray(used, used + room![i]!) : undefined;
    const outcome = hashFile(file, req.algo, buffer, space);
    if (!outcome.ok || !outcome.data) return outcome;
    const { data, ...rest } = outcome;
    const kept: [number, number] = [used, data.length];
    used += room![i]!;
    return { ...rest, kept };
  });
  const reply: WorkerReply = { id: req.id, outcomes, ...(store ? { store: store.buffer as ArrayBuffer } : {}) };
  parentPort!.postMessage(reply, store ? [store.buffer as ArrayBuffer] : []);
});
