import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '@hoard/schema';
import { HOARD_DIR, STATE_FILE } from './locations.js';
import { Repository } from './repository.js';

/** This host's configuration: `$XDG_CONFIG_HOME/hoard/config.json`. */
export interface HostConfig {
  hostId: string;
  /** Vaults by name: a blobs-layout location (a path or rclone:REMOTE:path). */
  vaults: Record<string, { url: string }>;
  defaultVault: string;
}

function xdg(variable: string, fallback: string): string {
  const v = process.env[variable];
  return v && path.isAbsolute(v) ? v : path.join(os.homedir(), fallback);
}

export function configDir(): string {
  return path.join(xdg('XDG_CONFIG_HOME', '.config'), 'hoard');
}

/** Where this host's backup state lives: `$XDG_DATA_HOME/hoard` (a repository of its own, without a tree). */
export function dataDir(): string {
  return path.join(xdg('XDG_DATA_HOME', '.local/share'), 'hoard');
}

export function configFile(): string {
  return path.join(configDir(), 'config.json');
}

export function readConfig(): HostConfig | undefined {
  try {
    return JSON.parse(fs.readFileSync(configFile(), 'utf8')) as HostConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`${configFile()}: ${(err as Error).message}`);
  }
}

export function writeConfig(config: HostConfig): void {
  fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  const tmp = `${configFile()}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, configFile());
}

/** The configuration, created on first use: a host id generated once, the local default vault. */
export function ensureConfig(options: { hostId?: string } = {}): HostConfig {
  const existing = readConfig();
  if (existing) return existing;
  const config: HostConfig = {
    hostId: options.hostId ?? crypto.randomUUID(),
    vaults: { default: { url: path.join(dataDir(), 'vault') } },
    defaultVault: 'default',
  };
  writeConfig(config);
  return config;
}

/** This host's backup state database (created on first use). */
export function openHost(): Repository {
  const dir = dataDir();
  if (!fs.existsSync(path.join(dir, HOARD_DIR, STATE_FILE))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Repository.init(dir, { nested: true }).close();
  }
  const host = Repository.open(dir);
  dropRepositoryIndexes(host);
  return host;
}

/**
 * Indexes a repository needs and a host's state does not: `entries_hash` (which file of a
 * tree holds this content: stage, reconcile, whereis and missing ask it of a repository;
 * a host asks its vault, whose blobs are in packed and copies, and a location's lookups by
 * hash stay within its own rows through the entries key) and `events_key` (a path's
 * history for the three-way plan; a host's history by path is its snapshots). Every
 * backup rewrote their pages: the 4,000 random changes of `mutate` touched 3,014 of
 * entries_hash's 3,771 pages and 1,523 of events_key's 1,712. Dropped once; queries are
 * the same, only their plans differ.
 */
const REPOSITORY_ONLY_INDEXES = ['entries_hash', 'events_key'];

function dropRepositoryIndexes(host: Repository): void {
  const present = host.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN (${REPOSITORY_ONLY_INDEXES.map(() => '?').join(', ')})`).pluck().all(...REPOSITORY_ONLY_INDEXES) as string[];
  if (!present.length) return;
  try {
    host.db.transaction(() => present.forEach((name) => host.db.exec(`DROP INDEX IF EXISTS ${name}`))).immediate();
  } catch (err) {
    // Another hoard is writing (a backup running): they cost only time, and go at a later open.
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
  }
}
