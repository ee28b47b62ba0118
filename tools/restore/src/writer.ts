import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { setMetadata, type MadeFiles } from './file-metadata.js';
import type { WriteJob, WriteOutcome } from './file-writer.js';

/**
 * The restoring thread: for each file, reads its blob out of the pack, checks that the bytes
 * are what the blob's id says, makes the file at this thread's temporary name at the root
 * of the restore, gives it its metadata and renames it into place. Only files whose folder
 * this restore made come here: nothing else is in those folders.
 */
const { tmp, made } = workerData as { tmp: string; made: MadeFiles };
const packs = new Map<string, number>();
const CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

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
    const data = Buffer.allocUnsafe(job.length);
    const got = fs.readSync(pack, data, 0, job.length, job.offset) === job.length ? `sha256:${crypto.createHash('sha256').update(data).digest('hex')}` : 'a short read';
    if (got !== job.hash) return { ok: false, code: 'corrupt', message: `the vault's pack ${path.basename(job.pack)} holds ${got} where ${job.hash} should be: corrupt, not restored` };
    const mode = job.meta ? job.meta.mode & 0o7777 : 0o600;
    let fd: number;
    try {
      fd = fs.openSync(tmp, CREATE, mode & 0o777);
    } catch (err) {
      // Left by a restore that was killed: this thread's own name, never followed (O_EXCL).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      fs.rmSync(tmp, { force: true });
      fd = fs.openSync(tmp, CREATE, mode & 0o777);
    }
    try {
      for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done);
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
