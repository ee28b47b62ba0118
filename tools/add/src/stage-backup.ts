import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '@hoard/schema';
import { dataDir, HOARD_DIR, STATE_FILE, openHost } from '@hoard/state';
import { trackedFor } from '@hoard/backup';

/** `hoard add PATH` in a folder this host backs up: remember PATH for the next `hoard backup`. */
export function stageForBackup(target: string): { path: string; folder: string } | undefined {
  if (!fs.existsSync(path.join(dataDir(), HOARD_DIR, STATE_FILE))) return undefined;
  const host = openHost();
  try {
    const found = trackedFor(host, target);
    if (!found) return undefined;
    if (!fs.existsSync(path.resolve(target))) throw new UsageError(`${target} does not exist`);
    host.db.prepare('INSERT OR REPLACE INTO staged (location_id, key, staged_at) VALUES (?, ?, ?)').run(found.dir.location.id, found.rel, new Date().toISOString());
    return { path: found.rel, folder: found.dir.path };
  } finally {
    host.close();
  }
}
