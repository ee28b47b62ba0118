import { createRequire } from 'node:module';
import path from 'node:path';

/** What the native reader returns for one folder it read (see src/scan_dir.c). */
export interface NativeFolder {
  /** JSONL of a run of file records, a subfolder to enter, or [kind, name] of a special file. */
  segments: Array<Buffer | string | [kind: string, name: string]>;
  /** Per JSONL segment, in order: its first and last file name and its fingerprint (see scan_dir.c). */
  runs: Array<[first: string, last: string, fingerprint: string]>;
  files: number;
  bytes: number;
}

/** A folder that could not be read. */
export interface NativeFolderError {
  code: string;
  message: string;
}

/**
 * Read several folders at once (threads spread the kernel work over the cores). One result
 * per folder: its records, null when it needs the JavaScript path (a .hoardignore inside, a
 * name or link target that is not UTF-8), or an error.
 */
export type ReadFolders = (absPaths: string[], relPrefixesJson: string[], rootJson: string) => Array<NativeFolder | NativeFolderError | null>;

/**
 * The native folder reader when it was built (`npm install` builds it on Linux with
 * node-gyp) and not disabled with HOARD_NO_NATIVE=1; otherwise undefined and scan uses
 * its JavaScript path, which gives the same records.
 */
export const readFolders: ReadFolders | undefined = load();

function load(): ReadFolders | undefined {
  if (process.env.HOARD_NO_NATIVE) return undefined;
  try {
    // Found by package name: this module may be bundled into a tool that lives elsewhere.
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@hoard/native-scan/package.json'));
    return (require(path.join(dir, 'build', 'Release', 'scan_dir.node')) as { readFolders: ReadFolders }).readFolders;
  } catch {
    return undefined;
  }
}
