import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Repository } from '@hoard/state';
import { downloadMetadata, FULL_UPLOAD_NEEDED, uploadMetadata } from './metadata.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-metadata-test-'));
const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/** The rows a recovered host needs, as comparable text. */
function dump(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(
      ['snapshots ORDER BY id', 'events ORDER BY seq', 'backups ORDER BY id', 'locations ORDER BY id'].map((q) => [q.split(' ')[0], db.prepare(`SELECT * FROM ${q}`).all()]),
    );
  } finally {
    db.close();
  }
}

describe('host metadata in a vault', () => {
  it('uploads a whole copy, then only what was added; the newest state is the copy with its deltas applied', async () => {
    const host = Repository.init(tempDir());
    const vault = path.join(tempDir(), 'vault');
    const dir = host.addLocation('dir-1', 'dir', '/data', 'tree');
    const snap = host.db.prepare(
      `INSERT INTO snapshots (location_id, key, hash, size, mode, uid, gid, atime_ms, mtime_ms, ctime_ms, birthtime_ms, created_at, backup_id, deleted)
       VALUES (?, ?, ?, ?, 33188, 0, 0, 0, 1000, 0, 0, ?, ?, 0)`,
    );
    let n = 0;
    const backupOf = (files: number) => {
      const id = Number(host.db.prepare("INSERT INTO backups (host, started_at) VALUES ('h', ?)").run(new Date().toISOString()).lastInsertRowid);
      const changes = [];
      for (let i = 0; i < files; i++, n++) {
        snap.run(dir.id, `f${n}`, H(n), n, new Date().toISOString(), id);
        changes.push({ op: 'add' as const, key: `f${n}`, hash: H(n), size: n, mode: 33188, mtimeMs: 1000, ino: 0 });
      }
      host.applyChanges(dir.id, changes);
    };
    const hostFile = path.join(host.hoardDir, 'state.db');

    backupOf(50);
    expect(await uploadMetadata(host, vault, 'host-1')).toMatch(/^[0-9TZ-]+\.db$/);
    backupOf(7);
    expect(await uploadMetadata(host, vault, 'host-1')).toMatch(/\.delta\.db$/);
    backupOf(3);
    expect(await uploadMetadata(host, vault, 'host-1')).toMatch(/\.delta\.db$/);
    const merged = path.join(tempDir(), 'merged.db');
    await downloadMetadata(vault, 'host-1', merged);
    expect(dump(merged)).toEqual(dump(hostFile));
    expect((dump(merged).snapshots as unknown[]).length).toBe(60);

    // Rows deleted (forget) cannot travel in a delta: the next upload is whole again.
    host.db.prepare('DELETE FROM snapshots WHERE key IN (?, ?)').run('f0', 'f1');
    host.setMeta(FULL_UPLOAD_NEEDED, '1');
    expect(await uploadMetadata(host, vault, 'host-1')).toMatch(/^[0-9TZ-]+\.db$/);
    backupOf(2);
    expect(await uploadMetadata(host, vault, 'host-1')).toMatch(/\.delta\.db$/);
    const again = path.join(tempDir(), 'again.db');
    await downloadMetadata(vault, 'host-1', again);
    expect(dump(again)).toEqual(dump(hostFile));
    expect((dump(again).snapshots as Array<{ key: string }>).map((s) => s.key)).not.toContain('f0');
    host.close();
  });
});
