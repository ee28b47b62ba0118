import type { Location } from '@hoard/state';
import { parseRemoteUrl, type RemoteUrl } from './url.js';
import type { PeerUrl } from './peer.js';

/**
 * What a location can do, so the steps around it (staging, transfer, integrate,
 * reconcile) choose how rather than each kind re-implementing them.
 */
export interface LocationCaps {
  /** Another hoard repository: its own tools run there (integrate, reconcile, stage). */
  runsHoard: boolean;
  /** tree: files at their paths (a mirror); blobs: content-addressed keys plus a manifest (a vault). */
  layout: 'tree' | 'blobs';
  /** An upload appears whole or not at all (S3 and other object stores); otherwise it lands in staging first. */
  atomicUpload: boolean;
  /** Reachable now; an offline location answers from its last known state and its transfers wait. */
  online: boolean;
}

export interface OpenedLocation {
  location: Location;
  url: RemoteUrl;
  caps: LocationCaps;
}

/** Backends whose uploads are atomic (object stores); files on disk-like backends are written in place by rclone < 1.63. */
const ATOMIC_BACKENDS = new Set(['s3', 'gcs', 'google cloud storage', 'b2', 'azureblob', 'swift', 'qingstor', 'oos', 'storj']);

export function openLocation(location: Location): OpenedLocation {
  const url = parseRemoteUrl(location.url);
  const layout = location.layout === 'blobs' ? 'blobs' : 'tree';
  const backend = location.options.backend ?? '';
  return {
    location,
    url,
    caps: {
      runsHoard: url.kind === 'path' || url.kind === 'ssh',
      layout,
      atomicUpload: url.kind === 'rclone' && ATOMIC_BACKENDS.has(backend),
      online: url.kind !== 'offline',
    },
  };
}

export function peerUrl(opened: OpenedLocation): PeerUrl | undefined {
  return opened.url.kind === 'path' || opened.url.kind === 'ssh' ? opened.url : undefined;
}

/** The rclone backend type of a remote spec: `:s3,opt=x:bucket` -> s3, `/abs` -> local, `name:path` -> asked of rclone's config. */
export function backendOfSpec(spec: string, configured: Record<string, string>): string {
  if (spec.startsWith('/')) return 'local';
  const m = /^:([a-z0-9]+)[,:]/i.exec(spec);
  if (m) return m[1]!.toLowerCase();
  const name = spec.slice(0, spec.indexOf(':'));
  return configured[name] ?? 'unknown';
}

/** The root of an rclone location, as rclone names it. */
export function rcloneRoot(opened: OpenedLocation): string {
  if (opened.url.kind !== 'rclone') throw new Error('not an rclone location');
  return opened.url.remote;
}

/** A lookup of a repository's locations by name, each opened once per run (undefined: no such location). */
export function locator(repo: { location(name: string): Location }): (name: string) => OpenedLocation | undefined {
  const opened = new Map<string, OpenedLocation | undefined>();
  return (name) => {
    if (!opened.has(name)) {
      try {
        opened.set(name, openLocation(repo.location(name)));
      } catch {
        opened.set(name, undefined);
      }
    }
    return opened.get(name);
  };
}
