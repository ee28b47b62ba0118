import { createRequire } from 'node:module';

/** What the native reader returns for one folder (see src/scan_dir.c). */
export interface NativeFolder {
  /** JSONL of a run of file records, a subfolder to enter, or [kind, name] of a special file. */
  segments: Array<Buffer | string | [kind: string, name: string]>;
  files: number;
  bytes: number;
}

export type ReadFolder = (absPath: string, relPrefixJson: string, rootJson: string) => NativeFolder | null;

/**
 * The native folder reader when it was built (`npm install` builds it on Linux with
 * node-gyp) and not disabled with HOARD_NO_NATIVE=1; otherwise undefined and scan uses
 * its JavaScript path, which gives the same records.
 */
export const readFolder: ReadFolder | undefined = load();

function load(): ReadFolder | undefined {
  if (process.env.HOARD_NO_NATIVE) return undefined;
  try {
    const require = createRequire(import.meta.url);
    return (require('../build/Release/scan_dir.node') as { readFolder: ReadFolder }).readFolder;
  } catch {
    return undefined;
  }
}
