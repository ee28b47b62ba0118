import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HashPool, readLink } from '@hoard/hashing';
import { isSymlinkMode, joinRecordPath, type AnyRecord } from '@hoard/schema';
import { blobKeyHash, keyPath, LOCAL, storeKeyHash, type Entry, type Repository } from '@hoard/state';
import { forwardToPeer, openLocation, peerUrl, rclone, rcloneRoot, readManifest, remoteJoin, type OpenedLocation } from '@hoard/remote';
import { verifyPacks } from '@hoard/backup';

/** One finding: corrupt (content differs from its id), missing, or changed since recorded (not a fault). */
export interface Finding {
  code: 'corrupt' | 'missing' | 'changed-since-recorded';
  message: string;
  path?: string;
  hash?: string;
}

const BATCH = 2000;

/**
 * Re-hash everything this repository says it holds: every recorded file of its tree
 * (a file whose size or time changed since it was recorded is reported as such, not as
 * corrupt) and every blob in its store, whose name is its content id.
 */
export async function* checkHere(repo: Repository): AsyncGenerator<Finding | { checked: number; bytes: number }> {
  const pool = new HashPool();
  let checked = 0;
  let bytes = 0;
  try {
    const local = repo.location(LOCAL);
    let batch: Entry[] = [];
    const flush = async function* (): AsyncGenerator<Finding> {
      const files = batch.map((e) => {
        const { path: p, pathBytes } = keyPath(e.key);
        return joinRecordPath(repo.root, p, pathBytes);
      });
      const outcomes = await pool.hash('sha256', files, batch.reduce((n, e) => n + e.size, 0));
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!;
        const o = outcomes[i]!;
        const p = keyPath(e.key).path;
        checked++;
        bytes += e.size;
        if (!o.ok) yield { code: o.code === 'ENOENT' ? 'missing' : 'corrupt', path: p, hash: e.hash, message: `${p}: ${o.message}` };
        else if (o.hash !== e.hash) {
          const same = o.state.size === e.size && Math.abs(o.state.mtimeMs - e.mtimeMs) < 1;
          yield same
            ? { code: 'corrupt', path: p, hash: e.hash, message: `${p}: content is ${o.hash}, recorded ${e.hash} with the same size and time (damaged)` }
            : { code: 'changed-since-recorded', path: p, hash: e.hash, message: `${p} changed since it was recorded (hoard add records it)` };
        }
      }
      batch = [];
    };
    for (const e of repo.entries(local.id)) {
      if (isSymlinkMode(e.mode)) {
        const finding = checkLink(repo.root, e);
        checked++;
        bytes += e.size;
        if (finding) yield finding;
        continue;
      }
      batch.push(e);
      if (batch.length >= BATCH) yield* flush();
    }
    if (batch.length) yield* flush();
    // The store: each blob is named by its content id.
    const objects = path.join(repo.hoardDir, 'objects');
    const stored = listFiles(objects);
    for (let i = 0; i < stored.length; i += BATCH) {
      const keys = stored.slice(i, i + BATCH);
      const outcomes = await pool.hash('sha256', keys.map((k) => path.join(objects, k)), 0);
      for (let j = 0; j < keys.length; j++) {
        const o = outcomes[j]!;
        const id = storeKeyHash(keys[j]!);
        checked++;
        if (!o.ok || o.hash !== id) yield { code: 'corrupt', hash: id, path: `.hoard/objects/${keys[j]}`, message: `stored blob ${keys[j]} does not hold ${id ?? 'a content id'}${o.ok ? ` (it holds ${o.hash})` : `: ${o.message}`}` };
        else bytes += o.state.size;
      }
    }
    yield { checked, bytes };
  } finally {
    await pool.close();
  }
}

/** A recorded symlink: its content is its target, read (never followed) and compared with its id. */
function checkLink(root: string, e: Entry): Finding | undefined {
  const { path: p, pathBytes } = keyPath(e.key);
  const file = joinRecordPath(root, p, pathBytes);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st) return { code: 'missing', path: p, hash: e.hash, message: `${p}: no such symlink` };
  const hash = st.isSymbolicLink() ? readLink(file).hash : undefined;
  if (hash === e.hash) return undefined;
  const same = st.isSymbolicLink() && st.size === e.size && Math.abs(st.mtimeMs - e.mtimeMs) < 1;
  return same
    ? { code: 'corrupt', path: p, hash: e.hash, message: `${p}: symlink target is ${hash}, recorded ${e.hash} with the same size and time (damaged)` }
    : { code: 'changed-since-recorded', path: p, hash: e.hash, message: `${p} changed since it was recorded (hoard add records it)` };
}

function listFiles(dir: string, rel = ''): string[] {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  return names.flatMap((d) => (d.isDirectory() ? listFiles(dir, rel ? `${rel}/${d.name}` : d.name) : d.name.endsWith('.part') ? [] : [rel ? `${rel}/${d.name}` : d.name]));
}

/**
 * Check a remote: another repository checks itself (its own hoard fsck --content); an rclone
 * location has its files hashed where it can (local, sftp), downloaded and hashed otherwise,
 * and compared with the content ids its manifest names.
 */
export async function* checkRemote(repo: Repository, name: string): AsyncGenerator<Finding | AnyRecord | { checked: number; bytes: number }> {
  const opened = openLocation(repo.location(name));
  const peer = peerUrl(opened);
  if (peer) {
    for await (const rec of forwardToPeer(peer, name, 'fsck', ['--content'], [], { hoard: opened.location.options.hoard })) {
      if (rec.type === 'error' || rec.type === 'note') yield { code: rec.code as Finding['code'], message: `${name}: ${String(rec.message)}`, path: rec.path as string | undefined };
      else if (rec.type === 'summary') yield { checked: Number(rec.checked ?? 0), bytes: Number(rec.bytes ?? 0) };
    }
    return;
  }
  yield* checkRclone(opened);
}

async function* checkRclone(opened: OpenedLocation): AsyncGenerator<Finding | { checked: number; bytes: number }> {
  const root = rcloneRoot(opened);
  const manifest = await readManifest(root);
  const local = ['local', 'sftp'].includes(opened.location.options.backend ?? '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-fsck-'));
  try {
    const sumsFile = path.join(dir, 'sums');
    const where = opened.caps.layout === 'blobs' ? remoteJoin(root, 'blobs') : root;
    await rclone(['hashsum', 'sha256', where, '--output-file', sumsFile, ...(local ? [] : ['--download']), ...(opened.caps.layout === 'tree' ? ['--exclude', '/.hoard/**'] : [])]);
    const sums = new Map<string, string>();
    for (const line of fs.readFileSync(sumsFile, 'utf8').split('\n')) {
      const m = /^([0-9a-f]{64}) {2}(.*)$/.exec(line);
      if (m) sums.set(m[2]!, `sha256:${m[1]}`);
    }
    let checked = 0;
    if (opened.caps.layout === 'blobs') {
      for (const [key, hash] of sums) {
        checked++;
        if (blobKeyHash(key) !== hash) yield { code: 'corrupt', path: `blobs/${key}`, hash, message: `${opened.location.name}: blob ${key} holds ${hash}, not the content its name says` };
      }
      const held = new Set(sums.values());
      for await (const v of verifyPacks(root)) {
        checked++;
        if (v.ok) held.add(v.hash);
        else yield { code: 'corrupt', path: `packs/${v.pack}`, hash: v.hash || undefined, message: `${opened.location.name}: ${v.message}` };
      }
      for (const e of manifest) if (!held.has(e.hash)) yield { code: 'missing', path: keyPath(e.key).path, hash: e.hash, message: `${opened.location.name}: ${keyPath(e.key).path} needs ${e.hash}, which the vault does not hold` };
    } else {
      for (const e of manifest) {
        const p = keyPath(e.key).path;
        checked++;
        const got = sums.get(p);
        if (!got) yield { code: 'missing', path: p, hash: e.hash, message: `${opened.location.name}: ${p} is missing` };
        else if (got !== e.hash) yield { code: 'corrupt', path: p, hash: e.hash, message: `${opened.location.name}: ${p} holds ${got}, not ${e.hash}` };
      }
    }
    yield { checked, bytes: 0 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
