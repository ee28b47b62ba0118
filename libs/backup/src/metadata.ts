import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HoardError } from '@hoard/schema';
import type { Repository } from '@hoard/state';
import { rclone, remoteJoin } from '@hoard/remote';

/** Where a host's metadata versions live in a vault: `hosts/<host-id>/metadata/<stamp>.db`. */
export function metadataDir(spec: string, hostId: string): string {
  return remoteJoin(spec, `hosts/${hostId}/metadata`);
}

/**
 * Snapshot this host's state database (VACUUM INTO: a consistent copy while others read)
 * and upload it to the vault as a new version; older versions stay.
 */
export async function uploadMetadata(host: Repository, spec: string, hostId: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-metadata-'));
  try {
    const file = path.join(dir, 'state.db');
    host.db.prepare('VACUUM INTO ?').run(file);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const name = `${stamp}.db`;
    await rclone(['copyto', file, `${metadataDir(spec, hostId)}/${name}`]);
    return name;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The hosts that keep metadata in a vault (listed recursively: object stores have no real folders). */
export async function vaultHosts(spec: string): Promise<string[]> {
  const out = await rclone(['lsf', '-R', '--files-only', remoteJoin(spec, 'hosts')]).catch(() => '');
  const hosts = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^([A-Za-z0-9-]+)\/metadata\/[0-9TZ-]+\.db$/.exec(line);
    if (m) hosts.add(m[1]!);
  }
  return [...hosts].sort();
}

/** Download a host's newest metadata version to `file`. */
export async function downloadMetadata(spec: string, hostId: string, file: string): Promise<string> {
  if (!/^[A-Za-z0-9-]+$/.test(hostId)) throw new HoardError(`not a host id: ${hostId}`, 'bad-input');
  const versions = (await rclone(['lsf', '-R', '--files-only', metadataDir(spec, hostId)]).catch(() => ''))
    .split('\n')
    .filter((l) => /^[0-9TZ-]+\.db$/.test(l))
    .sort();
  const newest = versions.at(-1);
  if (!newest) throw new HoardError(`the vault holds no metadata for host ${hostId}`, 'no-metadata');
  await rclone(['copyto', `${metadataDir(spec, hostId)}/${newest}`, file]);
  return newest;
}
