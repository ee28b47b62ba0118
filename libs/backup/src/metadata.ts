import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { HoardError } from '@hoard/schema';
import { copyDatabase, type Repository } from '@hoard/state';
import { rclone, remoteJoin } from '@hoard/remote';
import { isLocalVault, syncFile } from './packs.js';

/**
 * A host's metadata in a vault: `hosts/<host-id>/metadata/<stamp>.db` is a whole copy of its
 * state database; `<stamp>.delta.db` holds only the rows added since the upload before it
 * (snapshots, events, scans, backups) plus the small tables whole (locations, folders). The
 * newest whole copy and the deltas after it, applied in order, are the host's state: a
 * backup that changed 4,000 files uploads those rows, not the 100 MB database.
 */
export function metadataDir(spec: string, hostId: string): string {
  return remoteJoin(spec, `hosts/${hostId}/metadata`);
}

const FULL = /^[0-9TZ-]+\.db$/;
const DELTA = /^[0-9TZ-]+\.delta\.db$/;
/** Tables that only grow (append-only or never updated once written), by their increasing key. */
const GROWING: ReadonlyArray<[table: string, key: string]> = [
  ['snapshots', 'id'],
  ['events', 'seq'],
  ['scans', 'id'],
  ['backups', 'id'],
];
/** Small tables sent whole in every delta (rows there may change). */
const WHOLE = ['locations', 'directories', 'meta'];
/** A whole copy again once the deltas since the last one hold this share of its rows (or this many deltas). */
const DELTA_SHARE = 0.25;
const MAX_DELTAS = 50;

/** What was uploaded to one vault last: the whole copy's stamp, the high-water keys, delta bookkeeping. */
interface UploadMark {
  full: string;
  keys: Record<string, number>;
  deltaRows: number;
  deltas: number;
  fullRows: number;
}

function markKeyOf(spec: string): string {
  return `metadata-mark:${spec}`;
}

/** Whether this host's metadata was ever uploaded to the vault at `spec`. */
function metadataUploaded(host: Repository, spec: string): boolean {
  return host.meta(markKeyOf(spec)) !== undefined;
}

/** Set by anything that updates or deletes rows a delta would not carry (forget, absorbing a folder). */
export const FULL_UPLOAD_NEEDED = 'metadata-full-needed';
/**
 * Set by a change to what the vault's copy should know that records no version (a folder
 * untracked or tracked again): the next backup uploads even if it records nothing.
 */
export const UPLOAD_NEEDED = 'metadata-upload-needed';

/** Whether the host's state changed in a way its last upload to `spec` does not carry yet (versions aside). */
export function metadataPending(host: Repository, spec: string): boolean {
  return !metadataUploaded(host, spec) || host.meta(UPLOAD_NEEDED) === '1' || host.meta(FULL_UPLOAD_NEEDED) === '1';
}

/**
 * Upload a new version of this host's metadata: a delta of what was added since the last
 * upload to this vault, or a whole copy (SQLite's backup API, consistent while others read) when
 * there is none yet, when rows changed in place, or when the deltas grew large. Older
 * versions stay. Returns the name uploaded.
 */
export async function uploadMetadata(host: Repository, spec: string, hostId: string): Promise<string> {
  const markKey = markKeyOf(spec);
  const previous = host.meta(markKey);
  const mark = previous ? (JSON.parse(previous) as UploadMark) : undefined;
  const keys = Object.fromEntries(GROWING.map(([t, k]) => [t, (host.db.prepare(`SELECT ifnull(max(${k}), 0) FROM ${t}`).pluck().get() as number) ?? 0]));
  const rows = (t: string, k: string, after: number) => host.db.prepare(`SELECT count(*) FROM ${t} WHERE ${k} > ?`).pluck().get(after) as number;
  // Counted whole through the table's smallest index (a range by key would read the table itself).
  const count = (t: string) => host.db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
  const newRows = mark ? GROWING.reduce((n, [t, k]) => n + rows(t, k, mark.keys[t] ?? 0), 0) : 0;
  const whole = !mark || host.meta(FULL_UPLOAD_NEEDED) === '1' || mark.deltas + 1 > MAX_DELTAS || mark.deltaRows + newRows > Math.max(10_000, mark.fullRows * DELTA_SHARE);

  const local = isLocalVault(spec);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const name = whole ? `${stamp}.db` : `${stamp}.delta.db`;
  // A folder on this machine gets the file written in place under a temporary name, then
  // synced and renamed (no copy, no rclone start-up); elsewhere it is uploaded from a temp folder.
  const dir = local ? metadataDir(spec, hostId) : fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-metadata-'));
  const file = local ? path.join(dir, `${name}.tmp`) : path.join(dir, 'state.db');
  try {
    let next: UploadMark;
    if (local) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.rmSync(file, { force: true });
      fs.writeFileSync(file, '', { mode: 0o600 }); // a host's state is nobody else's to read
    }
    if (whole) {
      // The file as it is (a consistent copy, see copyDatabase); VACUUM INTO would rebuild
      // every table and index.
      await copyDatabase(host.db, file);
      next = { full: name, keys, deltaRows: 0, deltas: 0, fullRows: GROWING.reduce((n, [t]) => n + count(t), 0) };
    } else {
      writeDelta(host, file, mark!);
      next = { ...mark!, keys, deltaRows: mark!.deltaRows + newRows, deltas: mark!.deltas + 1 };
    }
    if (local) {
      syncFile(file);
      fs.renameSync(file, path.join(dir, name));
    } else {
      await rclone(['copyto', file, `${metadataDir(spec, hostId)}/${name}`]);
    }
    host.setMeta(markKey, JSON.stringify(next));
    if (whole) host.setMeta(FULL_UPLOAD_NEEDED, '0');
    host.setMeta(UPLOAD_NEEDED, '0');
    return name;
  } finally {
    if (local) fs.rmSync(file, { force: true });
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows added since `mark`, and the small tables whole, in a database file of their own. */
function writeDelta(host: Repository, file: string, mark: UploadMark): void {
  host.db.prepare('ATTACH ? AS delta').run(file);
  try {
    host.db.transaction(() => {
      for (const [t, k] of GROWING) host.db.exec(`CREATE TABLE delta.${t} AS SELECT * FROM main.${t} WHERE ${k} > ${Number(mark.keys[t] ?? 0)}`);
      for (const t of WHOLE) host.db.exec(`CREATE TABLE delta.${t} AS SELECT * FROM main.${t}`);
    })();
  } finally {
    host.db.exec('DETACH delta');
  }
}

/** The hosts that keep metadata in a vault (listed recursively: object stores have no real folders). */
export async function vaultHosts(spec: string): Promise<string[]> {
  const out = await rclone(['lsf', '-R', '--files-only', remoteJoin(spec, 'hosts')]).catch(() => '');
  const hosts = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^([A-Za-z0-9-]+)\/metadata\/([0-9TZ-]+\.db)$/.exec(line);
    if (m) hosts.add(m[1]!);
  }
  return [...hosts].sort();
}

/**
 * A host's newest state, into `file`: its newest whole copy with every delta uploaded after
 * it applied in order. Returns the name of the newest version used.
 */
export async function downloadMetadata(spec: string, hostId: string, file: string): Promise<string> {
  if (!/^[A-Za-z0-9-]+$/.test(hostId)) throw new HoardError(`not a host id: ${hostId}`, 'bad-input');
  const names = (await rclone(['lsf', '-R', '--files-only', metadataDir(spec, hostId)]).catch(() => '')).split('\n');
  const full = names.filter((n) => FULL.test(n)).sort().at(-1);
  if (!full) throw new HoardError(`the vault holds no metadata for host ${hostId}`, 'no-metadata');
  const deltas = names.filter((n) => DELTA.test(n) && n > full).sort();
  await rclone(['copyto', `${metadataDir(spec, hostId)}/${full}`, file]);
  if (!deltas.length) return full;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-delta-'));
  const db = new Database(file);
  // A row of a small table is replaced by its newer self (same id): what refers to it stays valid.
  db.pragma('foreign_keys = OFF');
  try {
    for (const name of deltas) {
      const delta = path.join(dir, name);
      await rclone(['copyto', `${metadataDir(spec, hostId)}/${name}`, delta]);
      db.prepare('ATTACH ? AS delta').run(delta);
      try {
        const present = new Set(db.prepare("SELECT name FROM delta.sqlite_schema WHERE type = 'table'").pluck().all() as string[]);
        db.transaction(() => {
          for (const t of [...WHOLE, ...GROWING.map(([t]) => t)]) {
            if (!present.has(t)) throw new HoardError(`metadata ${name} lacks table ${t}: not a delta of hoard's`, 'bad-metadata');
            // Columns by name: a delta written by an older hoard may lack newer ones.
            const cols = (db.prepare(`SELECT name FROM pragma_table_info('${t}', 'delta')`).pluck().all() as string[]).map((c) => `"${c}"`).join(', ');
            // The log is append-only (its triggers refuse changes): a row already there is the same row.
            db.exec(`INSERT OR ${t === 'events' ? 'IGNORE' : 'REPLACE'} INTO main.${t} (${cols}) SELECT ${cols} FROM delta.${t}`);
          }
        })();
      } finally {
        db.exec('DETACH delta');
      }
    }
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return deltas.at(-1)!;
}
