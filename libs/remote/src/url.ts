import path from 'node:path';
import { UsageError } from '@hoard/schema';

/** Where a location lives, parsed from the URL given to `hoard remote add`. */
export type RemoteUrl =
  | { kind: 'path'; path: string }
  | { kind: 'ssh'; host: string; user?: string; port?: number; path: string }
  | { kind: 'rclone'; remote: string }
  | { kind: 'offline' };

/**
 * Parse a location URL: `/abs/path` or `./rel` (another repository here), `ssh://[user@]host[:port]/path`,
 * `rclone:REMOTE:path` (any rclone remote, `rclone::local:/x` style connection strings included), `offline:`.
 */
export function parseRemoteUrl(url: string, cwd = process.cwd()): RemoteUrl {
  if (url.includes('\0') || /[\n\r]/.test(url)) throw new UsageError('a location URL cannot contain NUL or line breaks');
  if (url === 'offline:' || url === 'offline') return { kind: 'offline' };
  if (url.startsWith('rclone:')) {
    const remote = url.slice('rclone:'.length);
    if (!remote.includes(':') && !remote.startsWith('/')) throw new UsageError(`rclone URL "${url}" must name a remote: rclone:REMOTE:path (or rclone:/local/path)`);
    // A folder on this machine is kept in its plain absolute form (so two spellings name one place).
    return { kind: 'rclone', remote: remote.startsWith('/') ? path.resolve(remote) : remote };
  }
  if (url.startsWith('ssh://')) {
    const m = /^ssh:\/\/(?:([^@/:]+)@)?(\[[^\]]+\]|[^/:@]+)(?::(\d+))?(\/.*)$/.exec(url);
    if (!m) throw new UsageError(`ssh URL "${url}" must look like ssh://[user@]host[:port]/path`);
    const [, user, host, port, p] = m;
    if (host!.startsWith('-') || user?.startsWith('-')) throw new UsageError(`ssh URL "${url}": host and user cannot start with "-"`);
    return { kind: 'ssh', host: host!, user, port: port ? Number(port) : undefined, path: path.posix.normalize(p!) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new UsageError(`unknown location URL scheme in "${url}" (use a path, ssh://, rclone: or offline:)`);
  return { kind: 'path', path: path.resolve(cwd, url) };
}

/** The URL form stored in the state database (absolute paths). */
export function formatRemoteUrl(u: RemoteUrl): string {
  switch (u.kind) {
    case 'path':
      return u.path;
    case 'ssh':
      return `ssh://${u.user ? `${u.user}@` : ''}${u.host}${u.port ? `:${u.port}` : ''}${u.path}`;
    case 'rclone':
      return `rclone:${u.remote}`;
    case 'offline':
      return 'offline:';
  }
}
