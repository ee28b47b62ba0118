import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { HoardError, recordProblem, type AnyRecord } from '@hoard/schema';
import { shellQuote, sshArgv, sshProgram } from './shell.js';
import type { RemoteUrl } from './url.js';

/** Another hoard repository, here (a path) or over ssh: driven by running hoard's own tools there. */
export type PeerUrl = Extract<RemoteUrl, { kind: 'path' | 'ssh' }>;

/** How to start `hoard` on this machine: the entry point of this very installation. */
function localHoard(): string[] {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('hoard/package.json');
  return [process.execPath, path.join(path.dirname(pkg), 'bin', 'hoard.js')];
}

/**
 * Run `hoard <tool> <args>` in the peer repository with JSONL on stdin and stdout. Records
 * come back parsed and checked against the schema: a peer is untrusted input too.
 */
export async function* runPeerTool(
  url: PeerUrl,
  tool: string,
  args: string[],
  input?: AsyncIterable<string> | Iterable<string>,
  options: { hoard?: string; mkdir?: boolean } = {},
): AsyncGenerator<AnyRecord> {
  let child: ResultPromise;
  const env = { ...process.env, HOARD_NO_PROGRESS: '1' };
  if (url.kind === 'path') {
    if (!fs.existsSync(url.path)) throw new HoardError(`repository ${url.path} does not exist`, 'ENOENT');
    const [node, entry] = localHoard();
    child = execa(node!, [entry!, tool, ...args], { cwd: url.path, env, reject: false, stdin: input ? 'pipe' : 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true } });
  } else {
    const hoard = options.hoard ?? 'hoard';
    const line = `${options.mkdir ? `mkdir -p -- ${shellQuote(url.path)} && ` : ''}cd ${shellQuote(url.path)} && HOARD_NO_PROGRESS=1 exec ${hoard} ${[tool, ...args].map(shellQuote).join(' ')}`;
    child = execa(sshArgv(url)[0]!, [...sshArgv(url).slice(1), line], { env, reject: false, stdin: input ? 'pipe' : 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true } });
  }
  const feeding = input ? feed(child, input) : Promise.resolve();
  const lines = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new HoardError(`${where(url)}: hoard ${tool} answered line ${n} that is not JSON`, 'bad-peer');
    }
    const problem = recordProblem(rec);
    if (problem) throw new HoardError(`${where(url)}: hoard ${tool} answered an invalid record on line ${n}: ${problem}`, 'bad-peer');
    yield rec as AnyRecord;
  }
  await feeding;
  const result = await child;
  // Exit 1 means "some items failed": they came back as error records, already passed on.
  if (result.exitCode !== 0 && result.exitCode !== 1) {
    const last = String(result.stderr ?? '').trim().split('\n').pop() || `exit ${result.exitCode}`;
    throw new HoardError(`${where(url)}: hoard ${tool}: ${last}`, result.exitCode === 255 ? 'ssh' : 'peer');
  }
}

async function feed(child: ResultPromise, input: AsyncIterable<string> | Iterable<string>): Promise<void> {
  const stdin = child.stdin!;
  stdin.on('error', () => {}); // the peer may stop reading early; its exit status tells why
  try {
    for await (const chunk of input) {
      if (!stdin.write(chunk)) await new Promise((r) => stdin.once('drain', r));
    }
  } finally {
    stdin.end();
  }
}

export function where(url: PeerUrl): string {
  return url.kind === 'path' ? url.path : `${url.user ? `${url.user}@` : ''}${url.host}`;
}

/**
 * Copy files from `fromDir` to `toDir`, one side possibly across ssh (rsync over the user's
 * ssh: ~/.ssh/config applies): those named in `list` (written to `listFile` for
 * --files-from), or, with no list, everything under `fromDir`. Names are content ids, never
 * user paths, so nothing hostile travels on a command line. Calls `onDone` for each name sent.
 * `removeSent`: the sender removes each file once it is there whole (staged copies only).
 */
export async function rsyncFiles(
  from: { peer?: PeerUrl; dir: string },
  to: { peer?: PeerUrl; dir: string },
  list: { names: string[]; listFile: string } | undefined,
  onDone: (name: string) => void,
  options: { removeSent?: boolean } = {},
): Promise<void> {
  if (list) fs.writeFileSync(list.listFile, list.names.map((k) => `${k}\n`).join(''));
  const spec = (side: { peer?: PeerUrl; dir: string }) => {
    const dir = side.dir.endsWith('/') ? side.dir : `${side.dir}/`;
    if (side.peer?.kind !== 'ssh') return dir;
    return `${side.peer.user ? `${side.peer.user}@` : ''}${side.peer.host}:${dir}`;
  };
  const ssh = from.peer?.kind === 'ssh' ? from.peer : to.peer?.kind === 'ssh' ? to.peer : undefined;
  const rsh = [...sshProgram(), ...(ssh?.port ? ['-p', String(ssh.port)] : [])].map(shellQuote).join(' ');
  const args = ['-a', '--no-o', '--no-g', '--protect-args', '--partial-dir=.rsync-partial', '--mkpath', ...(list ? [`--files-from=${list.listFile}`] : []), ...(options.removeSent ? ['--remove-source-files'] : []), '--out-format=%n', '-e', rsh, '--', spec(from), spec(to)];
  const child = execa('rsync', args, { reject: false, stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true } });
  const lines = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity });
  for await (const line of lines) if (line && !line.endsWith('/')) onDone(line);
  const result = await child;
  if (result.exitCode !== 0 && result.exitCode !== 23 && result.exitCode !== 24) {
    throw new HoardError(`rsync failed: ${String(result.stderr).trim().split('\n').pop() ?? `exit ${result.exitCode}`}`, 'rsync');
  }
}
