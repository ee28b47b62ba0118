import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execa } from 'execa';
import { HoardError } from '@hoard/schema';

/** What rclone said about one object of a batch (from its --use-json-log output). */
export interface RcloneItemEvent {
  object: string;
  outcome: 'copied' | 'unchanged' | 'moved' | 'deleted' | 'error';
  message: string;
}

/** Errors worth retrying: the network or the server, not a missing file or a refusal. */
const TRANSIENT = /timeout|timed out|connection (reset|refused)|broken pipe|EOF|temporar|503|500|429|too many requests|i\/o timeout/i;

/** rclone's own config unless the user set one; never prompts. */
function baseArgs(): string[] {
  return ['--use-json-log', '--stats', '0', '--ask-password=false'];
}

/**
 * Run one rclone command over a batch listed in a --files-from file and report each
 * object as rclone logs it. Retries the whole batch with backoff on transient errors:
 * rclone skips what already arrived (size and time match), so a retry re-sends nothing.
 */
export async function rcloneBatch(
  verb: 'copy' | 'move' | 'delete',
  src: string,
  dst: string,
  keys: string[],
  options: { transfers?: number; retries?: number; onItem?: (e: RcloneItemEvent) => void; extra?: string[] } = {},
): Promise<{ failed: Map<string, string> }> {
  const listDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-rclone-'));
  const list = path.join(listDir, 'files-from');
  fs.writeFileSync(list, keys.map((k) => `${k}\n`).join(''));
  const transfers = String(options.transfers ?? 8);
  const retries = options.retries ?? 3;
  let failed = new Map<string, string>();
  try {
    for (let attempt = 0; ; attempt++) {
      failed = new Map();
      let transient = false;
      const args = [verb, src, ...(verb === 'delete' ? [] : [dst]), '--files-from-raw', list, '--no-traverse', '--transfers', transfers, '--checkers', transfers, '-vv', '--retries', '1', ...baseArgs(), ...(options.extra ?? [])];
      const child = execa('rclone', args, { reject: false, stdout: 'ignore', stderr: 'pipe', buffer: false });
      const lines = readline.createInterface({ input: child.stderr! });
      let generalError = '';
      for await (const line of lines) {
        const log = parseLog(line);
        if (!log) continue;
        if (log.level === 'error' && !log.object) {
          generalError = log.msg;
          if (TRANSIENT.test(log.msg)) transient = true;
          continue;
        }
        if (!log.object) continue;
        const outcome = classify(log);
        if (!outcome) continue;
        if (outcome === 'error') {
          failed.set(log.object, log.msg);
          if (TRANSIENT.test(log.msg)) transient = true;
        } else failed.delete(log.object);
        options.onItem?.({ object: log.object, outcome, message: log.msg });
      }
      const result = await child;
      if (result.exitCode === 0 && failed.size === 0) return { failed };
      if (attempt >= retries || (!transient && failed.size === 0 && !TRANSIENT.test(generalError))) {
        if (failed.size === 0) throw new HoardError(`rclone ${verb} failed: ${generalError || `exit ${result.exitCode}`}`, 'rclone');
        return { failed };
      }
      if (!transient && failed.size > 0) return { failed };
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  } finally {
    fs.rmSync(listDir, { recursive: true, force: true });
  }
}

interface RcloneLog {
  level: string;
  msg: string;
  object?: string;
}

function parseLog(line: string): RcloneLog | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as RcloneLog;
  } catch {
    return undefined;
  }
}

function classify(log: RcloneLog): RcloneItemEvent['outcome'] | undefined {
  if (log.level === 'error') return 'error';
  if (/^Copied \(/.test(log.msg)) return 'copied';
  if (/^Moved \(/.test(log.msg) || /^Moved$/.test(log.msg)) return 'moved';
  if (/^Deleted/.test(log.msg)) return 'deleted';
  if (/^Unchanged skipping/.test(log.msg)) return 'unchanged';
  return undefined;
}

/** Run a short rclone command; its stdout. Throws a one-line error on failure. */
export async function rclone(args: string[], input?: string | Buffer): Promise<string> {
  const result = await execa('rclone', [...args, '--ask-password=false'], { reject: false, input, stripFinalNewline: false });
  if (result.exitCode !== 0) {
    const msg = String(result.stderr).split('\n').filter((l) => /ERROR|Failed|error/i.test(l)).pop() ?? String(result.stderr).trim().split('\n').pop();
    throw new HoardError(`rclone ${args[0]} failed: ${msg ?? `exit ${result.exitCode}`}`, 'rclone');
  }
  return String(result.stdout);
}

export interface RcloneListing {
  Path: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  Hashes?: Record<string, string>;
}

/** Files under a remote path, recursively (missing folder = empty). */
export async function rcloneList(remote: string, options: { hash?: boolean } = {}): Promise<RcloneListing[]> {
  const result = await execa('rclone', ['lsjson', '-R', '--files-only', ...(options.hash ? ['--hash', '--hash-type', 'sha256'] : []), remote, '--ask-password=false'], { reject: false });
  if (result.exitCode === 3 || /directory not found/i.test(String(result.stderr))) return [];
  if (result.exitCode !== 0) throw new HoardError(`rclone lsjson ${remote} failed: ${String(result.stderr).trim().split('\n').pop()}`, 'rclone');
  return JSON.parse(String(result.stdout)) as RcloneListing[];
}

/** A remote file's bytes, or undefined when it does not exist. */
export async function rcloneCat(remote: string): Promise<Buffer | undefined> {
  const result = await execa('rclone', ['cat', remote, '--ask-password=false'], { reject: false, encoding: 'buffer' });
  if (result.exitCode !== 0) {
    if (/not found|doesn't exist|no such file|is a directory/i.test(Buffer.from(result.stderr).toString())) return undefined;
    throw new HoardError(`rclone cat ${remote} failed: ${Buffer.from(result.stderr).toString().trim().split('\n').pop()}`, 'rclone');
  }
  return Buffer.from(result.stdout);
}

/** Join a remote root and a relative key (`remote:a` + `b/c` -> `remote:a/b/c`). */
export function remoteJoin(root: string, rel: string): string {
  if (!rel) return root;
  return root.endsWith(':') || root.endsWith('/') ? `${root}${rel}` : `${root}/${rel}`;
}

/**
 * The same place under another rclone name. rclone refuses to move files between a folder
 * and one inside it ("overlapping remotes") even for a listed set of files; a mirror's
 * staging and trash live inside it (on this machine), so its moves name the two ends differently.
 */
export function rcloneSide(spec: string, side: 'src' | 'dst'): string {
  // rclone tells remotes apart by name and real options: for the local backend a no-op option (nounc) on one side does.
  if (spec.startsWith('/')) return side === 'src' ? `:local,nounc=true:${spec}` : spec;
  if (spec.startsWith(':local:')) return side === 'src' ? `:local,nounc=true:${spec.slice(7)}` : spec;
  return spec; // other backends keep a mirror's staging and trash beside it (mirrorAreas)
}

/**
 * Where a mirror (tree layout) keeps incoming files and its trash. rclone will not move
 * files between a folder and a folder inside it, so on remote backends both live beside
 * the mirror (`<parent>/.hoard-<name>/...`); on this machine, inside its `.hoard/`.
 */
export function mirrorAreas(root: string): { staging: (transferId: string) => string; trash: (stamp: string) => string; local: boolean } {
  if (root.startsWith('/') || root.startsWith(':local:')) {
    return { staging: (t) => remoteJoin(root, `.hoard/staging/${t}`), trash: (s) => remoteJoin(root, `.hoard/trash/${s}`), local: true };
  }
  const colon = root.indexOf(':', root.startsWith(':') ? 1 : 0);
  const pathPart = root.slice(colon + 1).replace(/\/+$/, '');
  const slash = pathPart.lastIndexOf('/');
  if (colon < 0 || slash <= 0) {
    throw new HoardError(`a mirror through rclone must be a folder inside its remote (rclone:REMOTE:bucket/folder), not ${root}: hoard stages files beside it`, 'usage');
  }
  const parent = `${root.slice(0, colon + 1)}${pathPart.slice(0, slash)}`;
  const name = pathPart.slice(slash + 1);
  return { staging: (t) => `${parent}/.hoard-${name}/staging/${t}`, trash: (s) => `${parent}/.hoard-${name}/trash/${s}`, local: false };
}
