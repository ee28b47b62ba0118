import { HoardError, UsageError } from '@hoard/schema';
import type { Location, Repository } from '@hoard/state';
import { backendOfSpec, formatRemoteUrl, mirrorAreas, parseRemoteUrl, rclone, runPeerTool, remoteJoin } from '@hoard/remote';

/**
 * Register a remote after checking it can be reached: a repository answers `hoard ls`
 * (created first with --init), an rclone remote is listed and gets its `.hoard/` folder.
 */
export async function addRemote(repo: Repository, name: string, url: string, options: { layout: string; hoard?: string; init: boolean }): Promise<Location> {
  const parsed = parseRemoteUrl(url);
  if (options.layout !== 'tree' && options.layout !== 'blobs') throw new UsageError('--layout is tree or blobs');
  const settings: Record<string, string> = {};
  if (options.hoard) settings.hoard = options.hoard;
  let layout = options.layout;
  if (parsed.kind === 'path' || parsed.kind === 'ssh') {
    if (layout !== 'tree') throw new UsageError('another repository keeps its files as a tree; --layout blobs is for rclone remotes');
    if (parsed.kind === 'path' && parsed.path === repo.root) throw new UsageError('a repository cannot be its own remote');
    if (options.init) {
      if (parsed.kind === 'path') (await import('node:fs')).mkdirSync(parsed.path, { recursive: true });
      for await (const _ of runPeerTool(parsed, 'init', ['--exists-ok'], undefined, { hoard: options.hoard, mkdir: true })) void _;
    }
    try {
      for await (const _ of runPeerTool(parsed, 'ls', [], undefined, { hoard: options.hoard })) void _;
    } catch (err) {
      throw new HoardError(`cannot reach a hoard repository at ${url}: ${(err as Error).message}${options.init ? '' : ' (--init creates one)'}`, 'unreachable');
    }
  } else if (parsed.kind === 'rclone') {
    const listed = await rclone(['listremotes', '--long']).catch(() => '');
    const configured: Record<string, string> = {};
    for (const line of listed.split('\n')) {
      const m = /^(.+?):\s+(\S+)/.exec(line);
      if (m) configured[m[1]!] = m[2]!;
    }
    settings.backend = backendOfSpec(parsed.remote, configured);
    if (layout === 'tree') mirrorAreas(parsed.remote); // a mirror needs room beside it: says so now, not at the first push
    await rclone(['mkdir', remoteJoin(parsed.remote, '.hoard')]);
  } else layout = 'tree';
  return repo.addLocation(name, parsed.kind === 'path' || parsed.kind === 'ssh' ? 'repo' : parsed.kind, formatRemoteUrl(parsed), layout, settings);
}
