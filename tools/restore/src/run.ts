import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError, type AnyRecord } from '@hoard/schema';
import { ensureConfig, keyPath, openHost, readConfig, writeConfig, dataDir, HOARD_DIR, STATE_FILE, Repository, type HostConfig } from '@hoard/state';
import { downloadMetadata, history, recoveredVaultLocation, stateAt, stateTotals, trackedDirs, trackedFor, vaultHosts, vaultLocation, vaultSpec, type Snapshot } from '@hoard/backup';
import { restoreFiles, type RestoreItem } from './restore.js';

type Report = (e: { code: string; message: string; path?: string }) => void;
/** Told of each file restored, of the bytes to come (for an ETA), and of a step that counts nothing (fetching a host's metadata). */
export interface RestoreProgress {
  readonly active: boolean;
  add(files: number, bytes: number): void;
  expect(bytes: number): void;
  phase(text: string | undefined): void;
}

/** Each file restored, counted on the progress line. */
function fileCounter(progress: RestoreProgress | undefined): ((bytes: number) => void) | undefined {
  return progress && ((bytes) => progress.add(1, bytes));
}

export async function runRestore(target: string | undefined, options: Record<string, unknown>, fail: Report, emit: (rec: AnyRecord) => void, progress?: RestoreProgress): Promise<AnyRecord> {
  if (options.fromVault) return fromVault(options, fail, emit, progress);
  const onFile = fileCounter(progress);
  if (!target) throw new UsageError('usage: hoard restore PATH [--version N | --at TIME | --hash H] [--to PATH]  or  hoard restore --from-vault --to PATH');
  const config = ensureConfig();
  const host = openHost();
  try {
    const found = trackedFor(host, target, { removed: true });
    if (!found) throw new UsageError(`${target} is not inside a folder this host backs up`);
    const { dir, rel } = found;
    const versions = history(host, dir.location.id, rel).filter((v) => !v.deleted);
    const spec = vaultSpec(config.vaults[config.defaultVault]!.url);
    const vault = await vaultLocation(host, config);
    if (versions.length) {
      const chosen = pick(versions, options);
      const short = chosen.hash.slice(chosen.hash.indexOf(':') + 1, chosen.hash.indexOf(':') + 13);
      const to = options.to !== undefined ? path.resolve(String(options.to)) : `${path.resolve(target)}.${short}`;
      const outcome = await restoreFiles(host, vault, spec, path.dirname(to), [{ snapshot: chosen, rel: path.basename(to) }], { contentOnly: Boolean(options.contentOnly), onFile });
      for (const e of outcome.errors) fail(e);
      return { type: 'summary', command: 'restore', to, version: versions.indexOf(chosen) + 1, hash: chosen.hash, restored: outcome.restored, unchanged: outcome.unchanged, bytes: outcome.bytes, trashed: outcome.trashed, errors: outcome.errors.length };
    }
    // A folder: every file under it as of the time asked.
    const at = options.at !== undefined ? isoTime(String(options.at)) : new Date().toISOString();
    const peek = stateAt(host, dir.location.id, rel, at);
    const empty = peek.next().done;
    peek.return(undefined);
    if (empty && options.at === undefined) throw new UsageError(`${target} has no backed-up version`);
    if (empty) throw new UsageError(`nothing under ${target} was backed up at ${at}`);
    if (options.to === undefined) throw new UsageError(`${target} is a folder: say where to restore it with --to PATH`);
    const to = path.resolve(String(options.to));
    if (progress?.active) progress.expect(stateTotals(host, dir.location.id, rel, at).bytes);
    let files = 0;
    // Read as they are restored (the state of a big tree takes a second to read).
    function* items(): Generator<RestoreItem> {
      for (const s of stateAt(host, dir.location.id, rel, at)) {
        files++;
        yield { snapshot: s, rel: rel ? path.posix.relative(rel, keyPath(s.key).path) : keyPath(s.key).path };
      }
    }
    const outcome = await restoreFiles(host, vault, spec, to, items(), { contentOnly: Boolean(options.contentOnly), onFile });
    for (const e of outcome.errors) fail(e);
    return { type: 'summary', command: 'restore', to, at, files, restored: outcome.restored, unchanged: outcome.unchanged, bytes: outcome.bytes, trashed: outcome.trashed, errors: outcome.errors.length };
  } finally {
    host.close();
  }
}

function pick(versions: Snapshot[], options: Record<string, unknown>): Snapshot {
  if (options.version !== undefined) {
    const n = Number(options.version);
    const v = versions[n - 1];
    if (!Number.isInteger(n) || !v) throw new UsageError(versions.length === 1 ? `there is 1 version; --version takes 1` : `there are ${versions.length} versions; --version takes 1..${versions.length}`);
    return v;
  }
  if (options.hash !== undefined) {
    const h = String(options.hash);
    const matches = versions.filter((v) => v.hash === h || v.hash.slice(v.hash.indexOf(':') + 1).startsWith(h.replace(/^sha256:/, '')));
    if (matches.length === 0) throw new UsageError(`no version has content ${h}`);
    return matches.at(-1)!;
  }
  if (options.at !== undefined) {
    const at = isoTime(String(options.at));
    const before = versions.filter((v) => v.createdAt <= at);
    if (!before.length) throw new UsageError(`no version existed at ${at}`);
    return before.at(-1)!;
  }
  return versions.at(-1)!;
}

function isoTime(t: string): string {
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new UsageError(`--at ${t}: not a time (use ISO, e.g. 2026-11-22T10:00)`);
  return new Date(ms).toISOString();
}

/**
 * Disaster recovery: fetch a host's newest metadata from the vault and restore every file
 * it last backed up under --to (at its original absolute path inside --to). When this
 * machine has no backup state of its own, it takes that host's state and id, so backups
 * go on where they stopped.
 */
async function fromVault(options: Record<string, unknown>, fail: Report, emit: (rec: AnyRecord) => void, progress?: RestoreProgress): Promise<AnyRecord> {
  if (options.to === undefined) throw new UsageError('--from-vault needs --to PATH (where the files go)');
  const configured = readConfig();
  const url = options.vault !== undefined ? String(options.vault) : configured?.vaults[configured.defaultVault]?.url;
  if (!url) throw new UsageError('which vault? --vault URL (no vault is configured here)');
  const spec = vaultSpec(url);
  const hosts = await vaultHosts(spec);
  let hostId = options.host !== undefined ? String(options.host) : undefined;
  if (!hostId) {
    if (hosts.length !== 1) {
      for (const h of hosts) emit({ type: 'host', hostId: h });
      throw new UsageError(hosts.length ? `the vault holds ${hosts.length} hosts: choose one with --host ID` : 'the vault holds no host metadata');
    }
    hostId = hosts[0]!;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-recover-'));
  try {
    const file = path.join(work, 'state.db');
    progress?.phase(`fetching the metadata of host ${hostId}`);
    await downloadMetadata(spec, hostId, file);
    progress?.phase(undefined);
    // Adopt the host's state when this machine has none: backups continue as that host.
    const stateFile = path.join(dataDir(), HOARD_DIR, STATE_FILE);
    if (!fs.existsSync(stateFile) && (!configured || configured.hostId === hostId)) {
      fs.mkdirSync(path.dirname(stateFile), { recursive: true, mode: 0o700 });
      fs.copyFileSync(file, stateFile);
      fs.chmodSync(stateFile, 0o600);
      const config: HostConfig = configured ?? { hostId, vaults: { default: { url } }, defaultVault: 'default' };
      config.hostId = hostId;
      if (!Object.values(config.vaults).some((v) => v.url === url)) {
        config.vaults.recovered = { url };
        config.defaultVault = 'recovered';
      }
      writeConfig(config);
    }
    const recovered = Repository.open(work === dataDir() ? dataDir() : prepareRepo(work, file));
    const to = path.resolve(String(options.to));
    const now = new Date().toISOString();
    if (progress?.active) for (const dir of trackedDirs(recovered)) progress.expect(stateTotals(recovered, dir.location.id, '', now).bytes);
    let restored = 0;
    let bytes = 0;
    let errors = 0;
    let files = 0;
    try {
      const vault = recoveredVaultLocation(recovered, spec);
      for (const dir of trackedDirs(recovered)) {
        const items = function* (): Generator<RestoreItem> {
          for (const s of stateAt(recovered, dir.location.id, '', now)) {
            files++;
            yield { snapshot: s, rel: path.posix.join(dir.path.replace(/^\/+/, ''), keyPath(s.key).path) };
          }
        };
        const outcome = await restoreFiles(recovered, vault, spec, to, items(), { contentOnly: Boolean(options.contentOnly), onFile: fileCounter(progress) });
        restored += outcome.restored;
        bytes += outcome.bytes;
        errors += outcome.errors.length;
        for (const e of outcome.errors) fail(e);
      }
    } finally {
      recovered.close();
    }
    return { type: 'summary', command: 'restore', from: 'vault', hostId, to, files, restored, bytes, trashed: 0, errors };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Make a downloaded state file openable as a repository (it lives in <dir>/.hoard/state.db). */
function prepareRepo(dir: string, file: string): string {
  fs.mkdirSync(path.join(dir, HOARD_DIR), { recursive: true, mode: 0o700 });
  fs.renameSync(file, path.join(dir, HOARD_DIR, STATE_FILE));
  return dir;
}
