import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, hoardEnv, jsonl } from './support/cli.js';
import { treeSnapshot } from './support/compare.js';
import { startS3, type S3Server } from './support/s3.js';
import { tempDir } from './support/trees.js';

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
}, 30_000);
afterAll(async () => {
  await s3?.stop();
});

function env(home: string): Record<string, string> {
  const rcloneConfig = path.join(home, 'rclone.conf');
  if (!fs.existsSync(rcloneConfig)) fs.writeFileSync(rcloneConfig, '');
  return hoardEnv({ XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data'), XDG_CACHE_HOME: path.join(home, 'cache'), RCLONE_CONFIG: rcloneConfig, ...s3.rcloneEnv });
}

// The server runs in this process: every hoard call must be asynchronous.
async function hoard(home: string, cwd: string, ...args: string[]) {
  const r = await execa(path.join(BIN, 'hoard'), args, { cwd, env: env(home), reject: false });
  expect(r.exitCode, `hoard ${args.join(' ')}: ${r.stderr}`).toBe(0);
  const last = jsonl(r.stdout).at(-1);
  if (last?.type === 'summary') expect(last).toMatchObject({ errors: 0 });
  return last ?? {};
}

function writeTree(root: string): void {
  for (let i = 0; i < 30; i++) {
    const f = path.join(root, `dir${i % 4}`, `file ${i}.txt`);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, `content ${i}\n`.repeat(i * 100 + 1));
    fs.chmodSync(f, i % 3 ? 0o644 : 0o600);
    fs.utimesSync(f, 1_650_000_000 + i, 1_650_000_000 + i);
  }
  fs.writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(12 << 20, 7)); // several multipart parts
}

describe('an S3 API server on loopback, through rclone', () => {
  it('backs up into an S3 vault and restores identical; disaster recovery from it', async () => {
    const home = tempDir('hoard-s3-host-');
    const src = path.join(tempDir(), 'docs');
    writeTree(src);
    await hoard(home, home, 'config', 'vault', 'init', 's3', `rclone:s3test:${s3.bucket}/vault`);
    const first = await hoard(home, src, 'backup', src, '--json');
    expect(first).toMatchObject({ files: 31, sentFiles: 31 });
    fs.appendFileSync(path.join(src, 'dir1/file 1.txt'), 'changed\n');
    expect(await hoard(home, src, 'backup', '--all', '--json')).toMatchObject({ sentFiles: 1 });
    const to = path.join(tempDir(), 'restored');
    await hoard(home, src, 'restore', src, '--to', to, '--json');
    expect(treeSnapshot(to)).toEqual(treeSnapshot(src));
    const older = await hoard(home, src, 'restore', 'dir1/file 1.txt', '--version', '1', '--json');
    expect(fs.readFileSync(String(older.to), 'utf8')).toBe('content 1\n'.repeat(101));
    fs.rmSync(String(older.to));

    // forget + prune in the bucket: the pack holding the old version is rewritten without it
    // (the new pack uploaded and indexed before the old one goes); everything else still restores.
    expect(await hoard(home, src, 'forget', '--keep-last', '1', '--json')).toMatchObject({ removed: 1 });
    expect(await hoard(home, src, 'prune', '--grace', '0', '--json')).toMatchObject({ removed: 1, repacked: 1 });
    const afterPrune = path.join(tempDir(), 'after-prune');
    await hoard(home, src, 'restore', src, '--to', afterPrune, '--json');
    expect(treeSnapshot(afterPrune)).toEqual(treeSnapshot(src));

    // A new machine: nothing but the vault's address.
    const fresh = tempDir('hoard-s3-new-');
    const dr = path.join(tempDir(), 'dr');
    const recovered = await hoard(fresh, fresh, 'restore', '--from-vault', '--vault', `rclone:s3test:${s3.bucket}/vault`, '--to', dr, '--json');
    expect(recovered.restored).toBe(31);
    expect(treeSnapshot(path.join(dr, src))).toEqual(treeSnapshot(src));
  }, 120_000);

  it('push and pull through an S3 bucket as a vault (blobs) and as a mirror (tree)', async () => {
    for (const [layout, prefix] of [['blobs', 'pushed-vault'], ['tree', 'mirror']] as const) {
      const home = tempDir('hoard-s3-repo-');
      const src = path.join(tempDir(), 'src');
      writeTree(src);
      await hoard(home, src, 'init');
      await hoard(home, src, 'remote', 'add', 's3', `rclone:s3test:${s3.bucket}/${prefix}`, '--layout', layout);
      expect(await hoard(home, src, 'push', 's3', '--json')).toMatchObject({ filesSent: 31 });
      fs.renameSync(path.join(src, 'dir0/file 0.txt'), path.join(src, 'renamed.txt'));
      expect(await hoard(home, src, 'push', 's3', '--json')).toMatchObject({ filesSent: 0, moved: 1 });
      const dst = path.join(tempDir(), 'dst');
      fs.mkdirSync(dst);
      await hoard(home, dst, 'init');
      await hoard(home, dst, 'remote', 'add', 's3', `rclone:s3test:${s3.bucket}/${prefix}`, '--layout', layout);
      await hoard(home, dst, 'pull', 's3', '--json');
      expect(treeSnapshot(dst)).toEqual(treeSnapshot(src));
      const check = await execa(path.join(BIN, 'hoard'), ['fsck', '--remote', 's3'], { cwd: src, env: env(home), reject: false });
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    }
  }, 180_000);
});
