#!/usr/bin/env node
// Records 100,000 first versions through a backup's Recorder (libs/backup/src/recorder.ts), in
// packs of 2,000 as a first backup posts them, into a fresh host state; prints the time and
// CPU it took. `--pace MS` waits that long between packs (a backup posts one every ~100 ms).
// Run after `npm run build`: node bench/recorder.mjs [--pace 100] [--files 100000]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const pace = arg('--pace', 0);
const files = arg('--files', 100_000);
const { Repository } = await import(path.join(repo, 'libs/state/dist/index.js'));
const { Recorder } = await import(path.join(repo, 'libs/backup/dist/index.js'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-recorder-bench-'));
try {
  const host = Repository.init(dir, { nested: true });
  const loc = host.addLocation('dir-1', 'dir', '/data', 'tree');
  const vault = host.addLocation('vault', 'rclone', 'rclone:/vault', 'blobs');
  const backupId = Number(host.db.prepare("INSERT INTO backups (host, started_at) VALUES ('bench', ?)").run(new Date().toISOString()).lastInsertRowid);
  // Keys shaped like the corpus's (folder/dNN/file-NNNNN.ext), in scan order; content ids random.
  const additions = Array.from({ length: files }, (_, i) => ({
    key: `dir${String(Math.floor(i / 5000)).padStart(2, '0')}/sub${String(Math.floor(i / 50) % 100).padStart(3, '0')}/file-${String(i).padStart(6, '0')}.dat`,
    hash: `sha256:${crypto.createHash('sha256').update(String(i)).digest('hex')}`,
    size: 7000 + (i % 5000), mode: 0o100644, uid: 1000, gid: 1000,
    atimeMs: 1.7e12 + i, mtimeMs: 1.7e12 + i, ctimeMs: 1.7e12 + i, birthtimeMs: 1.7e12, ino: 100_000 + i,
  }));
  const started = performance.now();
  const cpu = process.cpuUsage();
  const recorder = new Recorder(dir);
  for (let i = 0; i < additions.length; i += 2000) {
    const batch = additions.slice(i, i + 2000);
    recorder.packs(vault.id, [{ id: `pack-${i}`, blobs: batch.map((a, k) => ({ hash: a.hash, offset: k * 8000, length: a.size })) }]);
    recorder.additions(loc.id, backupId, new Date().toISOString(), batch);
    if (pace) await new Promise((r) => setTimeout(r, pace));
  }
  const posted = performance.now();
  await recorder.close();
  const closed = performance.now();
  const used = process.cpuUsage(cpu);
  host.db.pragma('wal_checkpoint(TRUNCATE)');
  const checkpointed = performance.now();
  const ms = (a, b) => `${(b - a).toFixed(0)} ms`;
  console.log(
    `${files} first versions, pace ${pace} ms: posting ${ms(started, posted)}, closing ${ms(posted, closed)}, CPU ${((used.user + used.system) / 1000).toFixed(0)} ms ` +
      `(both threads), checkpoint after ${ms(closed, checkpointed)}, state ${(fs.statSync(path.join(dir, '.hoard', 'state.db')).size / 1e6).toFixed(1)} MB`,
  );
  host.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
