import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AnyRecord } from '@hoard/schema';
import { blobKeyHash, ensureConfig, openHost } from '@hoard/state';
import { downloadMetadata, referencedHashes, vaultHosts, vaultLocation, vaultSpec } from '@hoard/backup';
import { rcloneBatch, rcloneList, remoteJoin } from '@hoard/remote';

/**
 * Every host's newest metadata is read (this host's own state directly) before anything
 * is deleted; a blob goes only if none of them refers to it and it is older than the
 * grace period.
 */
export async function runPrune(options: { graceMs: number; dryRun: boolean; waitMs: number }, emit: (rec: AnyRecord) => void): Promise<AnyRecord> {
  const config = ensureConfig();
  const host = openHost();
  const release = host.lock('prune', options.waitMs);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-prune-'));
  try {
    const vault = await vaultLocation(host, config);
    const spec = vaultSpec(config.vaults[config.defaultVault]!.url);
    const startedMs = Date.now();
    const referenced = referencedHashes(host.db);
    const hosts = await vaultHosts(spec);
    for (const h of hosts) {
      if (h === config.hostId) continue;
      const file = path.join(work, `${h}.db`);
      await downloadMetadata(spec, h, file);
      const db = new Database(file, { readonly: true });
      try {
        for (const hash of referencedHashes(db as never)) referenced.add(hash);
      } finally {
        db.close();
      }
    }
    const listed = await rcloneList(remoteJoin(spec, 'blobs'));
    const removable: Array<{ key: string; hash: string; size: number }> = [];
    let young = 0;
    for (const l of listed) {
      const hash = blobKeyHash(l.Path);
      if (!hash || referenced.has(hash)) continue;
      if (startedMs - Date.parse(l.ModTime) < options.graceMs) {
        young++;
        continue;
      }
      removable.push({ key: l.Path, hash, size: l.Size });
    }
    for (const r of removable) emit({ type: 'prune', hash: r.hash, size: r.size, dryRun: options.dryRun });
    let removed = 0;
    let removedBytes = 0;
    let errors = 0;
    if (!options.dryRun && removable.length) {
      const { failed } = await rcloneBatch('delete', remoteJoin(spec, 'blobs'), '', removable.map((r) => r.key));
      for (const r of removable) {
        if (failed.has(r.key)) errors++;
        else {
          removed++;
          removedBytes += r.size;
        }
      }
      host.dropCopies(vault.id, removable.filter((r) => !failed.has(r.key)).map((r) => r.hash));
    }
    return { type: 'summary', command: 'prune', dryRun: options.dryRun, hosts: Math.max(hosts.length, 1), blobs: listed.length, removable: removable.length, removed, removedBytes, young, errors };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    release();
    host.close();
  }
}
