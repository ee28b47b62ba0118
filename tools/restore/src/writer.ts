import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { readPackedBlob, setMetadata, writeNewFile, type MadeFiles } from './restored-file.js';
import type { WriteJob, WriteOutcome } from './file-writer.js';

/**
 * The restoring thread: for each file, reads its blob out of the pack, checks that the bytes
 * are what the blob's id says, makes the file at this thread's temporary name at the root
 * of the restore, gives it its metadata and renames it into place. Only files whose folder
 * this restore made come here: nothing else is in those folders.
 */
const { tmp, made } = workerData as { tmp: string; made: MadeFiles };
const packs = new Map<string, number>();

parentPort!.on('message', (req: { id: number; jobs?: WriteJob[]; done?: true }) => {
  if (req.done) {
    for (const fd of packs.values()) fs.closeSync(fd);
    packs.clear();
  }
  parentPort!.postMessage({ id: req.id, outcomes: (req.jobs ?? []).map(writeOne) });
});

function writeOne(job: WriteJob): WriteOutcome {
  try {
    let pack = packs.get(job.pack);
    if (pack === undefined) packs.set(job.pack, (pack = fs.openSync(job.pack, 'r')));
    const data = readPackedBlob(pack, path.basename(job.pack), job, job.hash);
    if (!Buffer.isBuffer(data)) return { ok: false, code: 'corrupt', message: data.corrupt };
    // This thread's own name: one left by a killed restore is removed (never followed).
    const fd = writeNewFile(tmp, job.meta ? job.meta.mode & 0o777 : 0o600, data);
    try {
      if (job.meta) setMetadata(fd, job.meta, true, made);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, job.dest);
    return { ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code ?? 'restore', message: e.message };
  }
}
