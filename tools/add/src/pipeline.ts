import path from 'node:path';
import { asInputLines, type OutputItem } from '@hoard/jsonl';
import { HashPool } from '@hoard/hashing';
import { LOCAL, type Location, type Repository, type ScanMarks } from '@hoard/state';
import { scanTree } from '@hoard/tool-scan/scan';
import { hashRecords, type HashOptions } from '@hoard/tool-hash/hash';
import { openHashCaches } from '@hoard/tool-hash/cache';
import { diffState } from '@hoard/tool-diff-state/diff-state';
import { skipUnchanged, type RunMarks, type Skipped } from './skip-unchanged.js';

export interface RepositoryDiff {
  /** The folder compared, relative to the repository root ('' = all of it). */
  under: string;
  /** scan | hash | diff-state output, in process: change records plus what passes through. */
  items: AsyncGenerator<OutputItem[]>;
  /** Files proved unchanged by their stat fields alone (never parsed or hashed). */
  skipped: Skipped;
  /** Stop the hashing threads and write the hash cache. */
  close(): Promise<void>;
  /**
   * The run marks this look made (once its items are read): handed to the commit that
   * records its changes, they stay valid past them (ChangeSession.commit).
   */
  marks(): ScanMarks | undefined;
  /**
   * The caller recorded modifications this look found before its end, moving the
   * location's last event from `from` to `to`. No mark covers a changed file (its run was
   * not proved unchanged), so the marks stay valid past them and follow; if something
   * else had been recorded first (`from` is not theirs), they stay void.
   */
  followed(from: number, to: number): void;
}

export interface DiffProgress {
  onFound?: (count: number, size: number) => void;
  /** Files (and bytes) hashed or proved unchanged. */
  onHashed?: (files: number, size: number) => void;
  /** Also emit `unchanged` change records. */
  unchanged?: boolean;
  /** The bytes of small files as they are hashed (see hashRecords' `keep`). */
  keep?: HashOptions['keep'];
}

/**
 * `hoard scan | hoard hash | hoard diff-state` for a repository (or a folder of it), run
 * inside one process. `reader` is a second connection to the repository: its entries are
 * read while the caller may write through another.
 */
export function diffRepository(reader: Repository, target: string, progress: DiffProgress = {}): RepositoryDiff {
  const under = reader.relative(target);
  return diffTree(reader, reader.location(LOCAL), reader.root, under, progress);
}

/**
 * `scan | hash | diff-state` of any tree against the recorded entries of a location
 * (a repository's own tree, or a folder a host backs up), in process.
 */
export function diffTree(reader: Repository, location: Location, root: string, under: string, progress: DiffProgress = {}): RepositoryDiff {
  const abs = under ? path.join(root, under) : root;
  let pool: HashPool | undefined;
  const caches = openHashCaches('sha256');
  // `unchanged` records need every file's full record: no fast path then.
  let seq = reader.lastSeq(location.id);
  const marks = progress.unchanged ? undefined : runMarks(reader.runMarks(location.id, seq));
  const recorded = reader.entries(location.id, under);
  const fast = marks ? skipUnchanged(scanTree(abs, { root, onFiles: progress.onFound, runs: true }), recorded, root, caches.cacheFor(root), progress.onHashed, marks) : undefined;
  const hashed = hashRecords(asInputLines(fast?.items ?? scanTree(abs, { root, onFiles: progress.onFound }), { trusted: true }), { algo: 'sha256', pool: () => (pool ??= new HashPool()), cacheFor: caches.cacheFor, onFile: (size) => progress.onHashed?.(1, size), asObjects: true, keep: progress.keep });
  const items = diffState(asInputLines(hashed), { entries: fast?.entries ?? recorded, location: location.name, under, unchanged: progress.unchanged });
  return {
    under,
    items,
    skipped: fast?.skipped ?? { files: 0, bytes: 0, runs: 0 },
    async close() {
      caches.close();
      await pool?.close();
      if (marks?.changed) reader.saveRunMarks(location.id, seq, marks.all);
    },
    marks: () => marks && { seq, marks: marks.all },
    followed(from, to) {
      if (seq === from) seq = to;
    },
  };
}

/** Run marks over a map, noting whether anything changed (then they are saved). */
function runMarks(all: Map<string, [string, string]>): RunMarks & { all: Map<string, [string, string]>; changed: boolean } {
  return {
    all,
    changed: false,
    get(first) {
      const m = all.get(first);
      return m && { last: m[0], fingerprint: m[1] };
    },
    set(first, last, fingerprint) {
      const m = all.get(first);
      if (m && m[0] === last && m[1] === fingerprint) return;
      all.set(first, [last, fingerprint]);
      this.changed = true;
    },
    drop(first) {
      if (all.delete(first)) this.changed = true;
    },
  };
}
