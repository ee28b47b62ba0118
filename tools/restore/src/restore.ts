import fs from 'node:fs';
import path from 'node:path';
import { HashPool } from '@hoard/hashing';
import { HoardError } from '@hoard/schema';
import { blobKey, blobKeyHash, keyPath, type Location, type Repository } from '@hoard/state';
import { extractPacked, fetchBlobs, learnPacks, type Snapshot } from '@hoard/backup';
import { Tree } from '@hoard/tool-reconcile/tree';

export interface RestoreItem {
  snapshot: Snapshot;
  /** Where it goes, relative to `root`. */
  rel: string;
}

export interface RestoreOutcome {
  restored: number;
  bytes: number;
  trashed: number;
  errors: Array<{ path: string; code: string; message: string }>;
}

/**
 * Write snapshots' content under `root`: blobs fetched from the vault into staging and
 * verified there (never trusted as they come), then each file made whole beside its
 * place, given its metadata and renamed in. A file in the way goes to the host's trash
 * first; a folder on the way that is a symlink stops that file (nothing is written
 * through it).
 */
export async function restoreFiles(host: Repository, vault: Location, vaultSpec: string, root: string, items: RestoreItem[], options: { contentOnly: boolean; onFile?: (bytes: number) => void }): Promise<RestoreOutcome> {
  const outcome: RestoreOutcome = { restored: 0, bytes: 0, trashed: 0, errors: [] };
  const staging = host.stagingDir('restore');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(root, { recursive: true });
  const tree = new Tree(fs.realpathSync(root), path.join(host.trashDir, 'restore'));
  const pool = new HashPool();
  // Packs another host wrote, or written before this state was recovered: read their indexes first.
  const learned = await learnPacks(host, vault, vaultSpec);
  for (const problem of learned.problems) outcome.errors.push({ path: '', code: 'bad-index', message: `vault: ${problem}` });
  try {
    const BATCH = 5000;
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      const keys = [...new Set(batch.map((it) => blobKey(it.snapshot.hash)))];
      const wanted = keys.filter((k) => !fs.existsSync(path.join(staging, k)));
      const unpacked = await extractPacked(host, vault, vaultSpec, wanted.map((k) => blobKeyHash(k)!), staging);
      const missing = await fetchBlobs(vaultSpec, wanted.filter((k) => !unpacked.has(blobKeyHash(k)!)), staging);
      const verified = new Set<string>();
      const present = keys.filter((k) => !missing.has(k));
      const hashes = await pool.hash('sha256', present.map((k) => path.join(staging, k)), 0);
      present.forEach((k, n) => {
        const h = hashes[n]!;
        if (h.ok && blobKey(h.hash) === k) verified.add(k);
        else {
          fs.rmSync(path.join(staging, k), { force: true });
          missing.set(k, h.ok ? `the vault's blob ${k} holds ${h.hash}: corrupt, not restored` : h.message);
        }
      });
      const uses = new Map<string, number>();
      for (const it of batch) uses.set(blobKey(it.snapshot.hash), (uses.get(blobKey(it.snapshot.hash)) ?? 0) + 1);
      for (const it of batch) {
        const key = blobKey(it.snapshot.hash);
        const s = it.snapshot;
        try {
          if (!verified.has(key)) throw new HoardError(missing.get(key) ?? 'not in the vault', 'missing-content');
          const dest = tree.file(it.rel, keyPath(s.key).pathBytes !== undefined && it.rel === keyPath(s.key).path ? keyPath(s.key).pathBytes : undefined);
          const blob = path.join(staging, key);
          const tmp = path.join(tree.root, '.hoard-restore.tmp');
          const left = uses.get(key)! - 1;
          uses.set(key, left);
          if (left === 0) fs.renameSync(blob, tmp);
          else fs.copyFileSync(blob, tmp);
          if (!options.contentOnly) {
            fs.chmodSync(tmp, s.mode & 0o7777);
            if (process.getuid?.() === 0) fs.chownSync(tmp, s.uid, s.gid);
            fs.utimesSync(tmp, s.atimeMs / 1000 || new Date(), s.mtimeMs / 1000);
          }
          if (fs.lstatSync(dest, { throwIfNoEntry: false })) {
            tree.trash(dest, it.rel, undefined, stamp);
            outcome.trashed++;
          }
          fs.renameSync(tmp, dest);
          outcome.restored++;
          outcome.bytes += s.size;
          options.onFile?.(s.size);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          outcome.errors.push({ path: it.rel, code: e.code ?? 'restore', message: e.message });
        }
      }
    }
  } finally {
    await pool.close();
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return outcome;
}
