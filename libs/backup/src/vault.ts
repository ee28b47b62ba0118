import fs from 'node:fs';
import path from 'node:path';
import { HoardError, UsageError } from '@hoard/schema';
import { type HostConfig, type Location, type Repository } from '@hoard/state';
import { backendOfSpec, parseRemoteUrl, rclone, rcloneBatch, remoteJoin } from '@hoard/remote';
import { isLocalVault } from './packs.js';

/** A vault URL as rclone names its root: a plain path becomes rclone's local backend. */
export function vaultSpec(url: string): string {
  const parsed = parseRemoteUrl(url);
  if (parsed.kind === 'path') return parsed.path;
  if (parsed.kind === 'rclone') return parsed.remote;
  throw new UsageError(`a vault is a folder or an rclone remote (rclone:REMOTE:path), not ${url}`);
}

/** The vault's location in this host's state (blobs layout), created on first use. */
export async function vaultLocation(host: Repository, config: HostConfig, name = config.defaultVault): Promise<Location> {
  const vault = config.vaults[name];
  if (!vault) throw new UsageError(`no vault named "${name}" (hoard config list shows them)`);
  const locName = `vault-${name}`;
  const spec = vaultSpec(vault.url);
  try {
    const loc = host.location(locName);
    if (loc.url === `rclone:${spec}`) return loc;
    host.removeLocation(locName); // the vault moved: forget what we knew of the old place
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
  }
  await initVault(spec);
  return host.addLocation(locName, 'rclone', `rclone:${spec}`, 'blobs', { backend: await backendOf(spec) });
}

/**
 * The vault at `spec` as a location of a state recovered from it (disaster recovery): the
 * one with its URL, or a new one whose packs are then learned from the vault's indexes.
 */
export function recoveredVaultLocation(repo: Repository, spec: string): Location {
  const found = repo.remotes().find((l) => l.url === `rclone:${spec}`);
  if (found) return found;
  let name = 'vault-recovered';
  for (let n = 2; repo.remotes().some((l) => l.name === name); n++) name = `vault-recovered-${n}`;
  return repo.addLocation(name, 'rclone', `rclone:${spec}`, 'blobs');
}

async function backendOf(spec: string): Promise<string> {
  if (isLocalVault(spec)) return backendOfSpec(spec, {});
  const listed = await rclone(['listremotes', '--long']).catch(() => '');
  const configured: Record<string, string> = {};
  for (const line of listed.split('\n')) {
    const m = /^(.+?):\s+(\S+)/.exec(line);
    if (m) configured[m[1]!] = m[2]!;
  }
  return backendOfSpec(spec, configured);
}

/** Create the vault's layout and prove it can be written, read back and deleted. */
export async function initVault(spec: string): Promise<void> {
  if (isLocalVault(spec)) return initLocalVault(spec);
  await rclone(['mkdir', remoteJoin(spec, 'blobs')]);
  const probe = remoteJoin(spec, `.hoard/probe-${process.pid}`);
  await rclone(['rcat', probe], 'hoard');
  const back = await rclone(['cat', probe]);
  await rclone(['deletefile', probe]);
  if (back !== 'hoard') throw new HoardError(`vault ${spec}: what was written did not read back`, 'vault');
}

/** The same proof for a folder on this machine, without four rclone start-ups (~0.5 s). */
function initLocalVault(dir: string): void {
  const probe = path.join(dir, `.hoard/probe-${process.pid}`);
  let back: string;
  try {
    fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.dirname(probe), { recursive: true, mode: 0o700 });
    fs.writeFileSync(probe, 'hoard');
    back = fs.readFileSync(probe, 'utf8');
    fs.unlinkSync(probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new HoardError(`vault ${dir}: cannot write there (${e.code ?? e.message})`, 'vault');
  }
  if (back !== 'hoard') throw new HoardError(`vault ${dir}: what was written did not read back`, 'vault');
}

/** Fetch blobs from the vault into `dir` (as blob keys); returns the keys that did not arrive. */
export async function fetchBlobs(spec: string, keys: string[], dir: string): Promise<Map<string, string>> {
  if (!keys.length) return new Map();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { failed } = await rcloneBatch('copy', remoteJoin(spec, 'blobs'), dir, keys);
  for (const k of keys) if (!failed.has(k) && !fs.existsSync(path.join(dir, k))) failed.set(k, 'not in the vault');
  return failed;
}
