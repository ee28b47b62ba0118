import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '@hoard/schema';
import type { Location, Repository } from '@hoard/state';
import { FULL_UPLOAD_NEEDED, UPLOAD_NEEDED } from './metadata.js';

/** A folder this host backs up (or did: `removedAt`, its history kept). */
export interface Tracked {
  id: number;
  path: string;
  location: Location;
  removedAt?: string;
}

/** The folders this host backs up; with `removed`, also those it no longer does (`hoard dir remove`). */
export function trackedDirs(host: Repository, options: { removed?: boolean } = {}): Tracked[] {
  const rows = host.db
    .prepare(`SELECT d.id, d.path, l.name, d.removed_at AS removedAt FROM directories d JOIN locations l ON l.id = d.location_id ${options.removed ? '' : 'WHERE d.removed_at IS NULL'} ORDER BY d.path`)
    .all() as Array<{ id: number; path: string; name: string; removedAt: string | null }>;
  return rows.map((r) => ({ id: r.id, path: r.path, location: host.location(r.name), ...(r.removedAt ? { removedAt: r.removedAt } : {}) }));
}

/** What `hoard dir list` tells of a tracked folder: its files and bytes as last backed up, and when. */
export type TrackedSummary = {
  type: 'tracked';
  path: string;
  files: number;
  bytes: number;
  /** When its last version was recorded (null: never backed up yet). */
  lastBackup: string | null;
  /** When `hoard dir remove` stopped backing it up (null: still backed up). */
  removedAt: string | null;
};

/** Every folder tracked, untracked ones too (their history is kept). */
export function trackedSummaries(host: Repository): TrackedSummary[] {
  const totals = host.db.prepare('SELECT count(*) AS files, ifnull(sum(size), 0) AS bytes FROM entries WHERE location_id = ?');
  const last = host.db.prepare('SELECT max(created_at) FROM snapshots WHERE location_id = ?').pluck();
  return trackedDirs(host, { removed: true }).map((d) => {
    const { files, bytes } = totals.get(d.location.id) as { files: number; bytes: number };
    return { type: 'tracked', path: d.path, files, bytes, lastBackup: (last.get(d.location.id) as string | null) ?? null, removedAt: d.removedAt ?? null };
  });
}

/**
 * The tracked folder containing `p`, and `p` relative to it; with `removed`, an untracked
 * one too (restore and log read history), the innermost folder either way.
 */
export function trackedFor(host: Repository, p: string, options: { removed?: boolean } = {}): { dir: Tracked; rel: string } | undefined {
  const abs = path.resolve(p);
  let best: Tracked | undefined;
  for (const d of trackedDirs(host, options)) if ((abs === d.path || abs.startsWith(`${d.path}/`)) && (!best || d.path.length > best.path.length)) best = d;
  return best ? { dir: best, rel: path.relative(best.path, abs) } : undefined;
}

/**
 * Stop backing up a tracked folder (`hoard dir remove`): what is staged there is dropped;
 * its history stays, restorable by its path, until forget and prune drop it. The folder
 * itself need not exist any more (that is the usual reason).
 */
export function untrackDir(host: Repository, dir: string): Tracked {
  const abs = path.resolve(dir);
  const found = trackedFor(host, abs);
  if (!found) throw new UsageError(`${abs} is not a folder this host backs up (hoard dir list)`);
  if (found.dir.path !== abs) throw new UsageError(`${abs} is inside ${found.dir.path}: only a tracked folder itself can be removed`);
  const removedAt = new Date().toISOString();
  host.db
    .transaction(() => {
      host.db.prepare('UPDATE directories SET removed_at = ? WHERE id = ?').run(removedAt, found.dir.id);
      host.db.prepare('DELETE FROM staged WHERE location_id = ?').run(found.dir.location.id);
      host.setMeta(UPLOAD_NEEDED, '1');
    })
    .immediate();
  return { ...found.dir, removedAt };
}

/**
 * The absolute path of `dir` if it can be tracked (a folder, or anything inside a tracked
 * one), else a usage error: a path tracked by mistake would fail every `backup --all`.
 */
export function checkTrackable(host: Repository, dir: string): string {
  const abs = path.resolve(dir);
  if (abs === '/') throw new UsageError('tracking / is not supported; track the folders you mean');
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`${abs}: no such file or folder`);
  if (!st.isDirectory() && !trackedFor(host, abs)) throw new UsageError(`${abs} is not a folder: hoard backs up folders (hoard backup ${path.dirname(abs)}; or hoard add a file inside a tracked folder)`);
  return abs;
}

/**
 * Track a folder (seed 004's create_directory): a folder inside a tracked one is tracked
 * already; tracking a parent absorbs the tracked folders inside it, their files and
 * history re-keyed under the parent, in one transaction.
 */
export function trackDir(host: Repository, dir: string): { dir: Tracked; absorbed: string[]; already: boolean } {
  const abs = checkTrackable(host, dir);
  const inside = trackedFor(host, abs);
  if (inside && inside.dir.path !== abs) return { dir: inside.dir, absorbed: [], already: true };
  let parent = inside?.dir;
  // Tracked before and removed: backed up again from where its history left off.
  const again = parent ? undefined : trackedDirs(host, { removed: true }).find((d) => d.path === abs);
  if (again) {
    host.db.prepare('UPDATE directories SET removed_at = NULL WHERE id = ?').run(again.id);
    host.setMeta(UPLOAD_NEEDED, '1');
    parent = { id: again.id, path: again.path, location: again.location };
  }
  if (!parent) {
    host.db
      .transaction(() => {
        const name = `dir-${host.db.prepare('SELECT ifnull(max(id), 0) + 1 FROM directories').pluck().get() as number}`;
        const loc = host.addLocation(name, 'dir', abs, 'tree');
        const id = Number(host.db.prepare('INSERT INTO directories (path, location_id, created_at) VALUES (?, ?, ?)').run(abs, loc.id, new Date().toISOString()).lastInsertRowid);
        parent = { id, path: abs, location: loc };
      })
      .immediate();
  }
  // Absorb tracked folders inside: their current files move under the parent (logged as
  // events of both locations), their history and staged files are re-keyed. Re-running
  // after a crash finishes the job.
  // Removed folders inside too: their history joins the parent's, and the parent's next
  // backup records what of their last state is gone.
  const children = trackedDirs(host, { removed: true }).filter((d) => d.path.startsWith(`${abs}/`));
  for (const child of children) {
    const prefix = `${path.relative(abs, child.path)}/`;
    const moved = [...host.entries(child.location.id)];
    host.applyChanges(parent!.location.id, moved.map((e) => ({ op: 'add' as const, ...e, key: prefix + e.key })));
    host.applyChanges(child.location.id, moved.map((e) => ({ op: 'delete' as const, key: e.key })));
    host.db
      .transaction(() => {
        for (const table of ['snapshots', 'staged']) {
          host.db.prepare(`UPDATE ${table} SET location_id = ?, key = ? || key WHERE location_id = ?`).run(parent!.location.id, prefix, child.location.id);
        }
        host.setMeta(FULL_UPLOAD_NEEDED, '1'); // rows changed in place: a delta cannot carry that
        host.db.prepare('DELETE FROM directories WHERE id = ?').run(child.id);
      })
      .immediate();
  }
  return { dir: parent!, absorbed: children.map((c) => c.path), already: inside !== undefined && children.length === 0 };
}
