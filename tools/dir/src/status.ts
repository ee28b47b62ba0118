import path from 'node:path';
import { UsageError, type AnyRecord } from '@hoard/schema';
import { entryKey, type Repository } from '@hoard/state';
import { trackedFor } from '@hoard/backup';
import { diffTree } from '@hoard/tool-add/pipeline';

export interface FileStatus {
  path: string;
  status: 'backed-up' | 'staged' | 'modified' | 'untracked' | 'deleted';
}

/**
 * Each file under DIR: backed up (as its last backup recorded it), modified since, staged
 * for the next backup (`hoard add`), or untracked (never backed up); deleted ones on request.
 */
export async function* dirStatus(host: Repository, dir: string, deleted: boolean): AsyncGenerator<FileStatus> {
  const found = trackedFor(host, dir);
  if (!found) throw new UsageError(`${path.resolve(dir)} is not inside a folder this host backs up (hoard dir init tracks one)`);
  const { dir: tracked, rel } = found;
  const staged = host.db.prepare('SELECT key FROM staged WHERE location_id = ?').pluck().all(tracked.location.id) as string[];
  const isStaged = (key: string) => staged.some((s) => s === '' || key === s || key.startsWith(`${s}/`));
  const diff = diffTree(host, tracked.location, tracked.path, rel, { unchanged: true });
  try {
    for await (const batch of diff.items) {
      for (const item of batch) {
        const rec = (typeof item === 'string' ? JSON.parse(item) : item) as AnyRecord;
        if (rec.type !== 'change') continue;
        const p = String(rec.path);
        const key = entryKey(p, rec.pathBytes as string | undefined);
        if (rec.op === 'unchanged') yield { path: p, status: 'backed-up' };
        else if (rec.op === 'delete') {
          if (deleted) yield { path: p, status: 'deleted' };
        } else if (isStaged(key)) yield { path: p, status: 'staged' };
        else yield { path: p, status: rec.op === 'add' ? 'untracked' : 'modified' };
      }
    }
  } finally {
    await diff.close();
  }
}
