import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AnyRecord } from '@hoard/schema';
import { blobKeyHash, ensureConfig, openHost, type Location, type Repository } from '@hoard/state';
import { deletePack, deleteUnindexed, downloadMetadata, learnPacks, openPacks, referencedHashes, unindexedPacks, vaultHosts, vaultLocation, vaultSpec, writePacks } from '@hoard/backup';
import { rcloneBatch, rcloneList, remoteJoin } from '@hoard/remote';

/**
 * Every host's newest metadata is read (this host's own state directly) before anything
 * is deleted; a blob goes only if none of them refers to it and it is older than the
 * grace period.
 */
export async function runPrune(options: { graceMs: number; dryRun: boolean; waitMs: number; onStep?: (text: string | (() => string)) => void }, emit: (rec: AnyRecord) => void): Promise<AnyRecord> {
  const step = options.onStep ?? (() => {});
  const config = ensureConfig();
  const host = openHost();
  const release = host.lock('prune', options.waitMs);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-prune-'));
  try {
    const vault = await vaultLocation(host, config);
    const spec = vaultSpec(config.vaults[config.defaultVault]!.url);
    const startedMs = Date.now();
    const referenced = referencedHashes(host.db);
    step('listing the hosts in the vault');
    const hosts = await vaultHosts(spec);
    for (const [i, h] of hosts.entries()) {
      if (h === config.hostId) continue;
      step(`reading the metadata of host ${h} (${i + 1} of ${hosts.length})`);
      const file = path.join(work, `${h}.db`);
      await downloadMetadata(spec, h, file);
      const db = new Database(file, { readonly: true });
      try {
        for (const hash of referencedHashes(db as never)) referenced.add(hash);
      } finally {
        db.close();
      }
    }
    step("listing the vault's single blobs");
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
      step(`deleting ${removable.length === 1 ? '1 blob' : `${removable.length} blobs`}`);
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

    // Packs: one whose blobs are all unreferenced goes; one with some is rewritten with the
    // rest (the new pack verified and indexed before the old one goes).
    const packs = await prunePacks(host, vault, spec, referenced, startedMs, { ...options, onStep: step }, emit);
    const blobs = listed.length + packs.blobs;
    removed += packs.removed;
    removedBytes += packs.removedBytes;
    young += packs.young;
    errors += packs.errors;
    const removableCount = removable.length + packs.removable;
    return { type: 'summary', command: 'prune', dryRun: options.dryRun, hosts: Math.max(hosts.length, 1), blobs, packs: packs.packs, repacked: packs.repacked, removable: removableCount, removed, removedBytes, young, errors };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    release();
    host.close();
  }
}

interface PackPrune {
  packs: number;
  blobs: number;
  removable: number;
  removed: number;
  removedBytes: number;
  repacked: number;
  young: number;
  errors: number;
}

async function prunePacks(host: Repository, vault: Location, spec: string, referenced: Set<string>, startedMs: number, options: { graceMs: number; dryRun: boolean; onStep: (text: string | (() => string)) => void }, emit: (rec: AnyRecord) => void): Promise<PackPrune> {
  const out: PackPrune = { packs: 0, blobs: 0, removable: 0, removed: 0, removedBytes: 0, repacked: 0, young: 0, errors: 0 };
  options.onStep("reading the vault's pack indexes");
  const learned = await learnPacks(host, vault, spec);
  out.errors += learned.problems.length;
  out.packs = learned.packs.length;
  let looked = 0;
  // Asked when the line is drawn: thousands of packs, one step.
  options.onStep(() => `looking through the packs: ${looked} of ${learned.packs.length}`);
  for (const p of learned.packs) {
    looked++;
    const blobs = host.packBlobs(vault.id, p.id);
    out.blobs += blobs.length;
    const dead = blobs.filter((b) => !referenced.has(b.hash));
    if (!dead.length) continue;
    if (startedMs - p.modTimeMs < options.graceMs) {
      out.young += dead.length;
      continue;
    }
    for (const d of dead) emit({ type: 'prune', hash: d.hash, size: d.length, pack: p.id, dryRun: options.dryRun });
    out.removable += dead.length;
    if (options.dryRun) continue;
    const live = blobs.filter((b) => referenced.has(b.hash));
    if (live.length) {
      const opened = await openPacks(spec, [p.id]);
      let failed = 0;
      try {
        const file = opened.file(p.id);
        if (!file) throw new Error(`pack ${p.id} is missing`);
        const data = fs.readFileSync(file);
        await writePacks(host, vault, spec, live.map((b) => ({ hash: b.hash, size: b.length, data: data.subarray(b.offset, b.offset + b.length) })), {
          onFailed: () => failed++,
        });
      } catch {
        failed = live.length;
      } finally {
        opened.done();
      }
      if (failed) {
        out.errors += failed; // the old pack stays: nothing referenced is lost
        continue;
      }
      out.repacked++;
    }
    await deletePack(spec, p.id);
    host.dropPack(vault.id, p.id);
    out.removed += dead.length;
    out.removedBytes += dead.reduce((n, d) => n + d.length, 0);
  }
  // Debris of backups cut short: packs no index names, once past the grace period.
  if (!options.dryRun) {
    options.onStep('looking for packs no index names');
    for (const u of await unindexedPacks(spec, new Set(learned.packs.map((p) => p.id)))) {
      if (startedMs - u.modTimeMs >= options.graceMs) await deleteUnindexed(spec, u.id);
    }
  }
  return out;
}
