import { joinRecordPath, type AnyRecord, type ErrorRecord, type FileRecord } from '@hoard/schema';
import type { InputLine, OutputItem } from '@hoard/jsonl';
import type { Algo, FileState, HashOutcome, HashPool } from '@hoard/hashing';
import { cacheFolder, type CacheItem, type HashCache } from '@hoard/state';

export interface HashOptions {
  algo: Algo;
  /** Threads to hash with; created on the first cache miss, so a fully cached run starts none. */
  pool: () => HashPool;
  /** The cache for files under `root`, or undefined to hash everything afresh. */
  cacheFor?: (root: string) => HashCache;
  /** Told about each file hashed or found in the cache. */
  onFile?: (size: number) => void;
  /** Told about each file's size as it arrives, for an ETA. */
  onExpect?: (size: number) => void;
  /**
   * Emit hashed files as record objects instead of text. For a consumer in the same
   * process: it saves serializing a line that the next tool would parse again.
   */
  asObjects?: boolean;
  /**
   * Hand the bytes of each file up to `maxBytes` to `take` as they are hashed (the very
   * bytes the hash is of): a backup packs them without reading the file again.
   */
  keep?: { maxBytes: number; take: (rec: FileRecord, hash: string, data: Buffer) => Promise<void> | undefined | void };
}

const TOOL = 'hash';
/** Files sent to a thread in one message, and the bytes above which a file travels alone. */
const FILES_PER_JOB = 64;
const BYTES_PER_JOB = 4 << 20;
/** Records waiting for hashes before we stop reading input: bounds memory on endless streams. */
const MAX_WAITING = 4096;
/**
 * With `keep`, the bytes of the jobs out at once (a job's kept bytes are held until the
 * taker has them): this bounds the bytes read ahead of a slow taker. Counted in bytes, not
 * jobs: a backup after a small change sends many jobs of a few files each, and while the
 * threads start, a bound of a few jobs would stop the scan behind them with its bytes unread.
 */
const MAX_KEEP_BYTES = 4 * BYTES_PER_JOB;

/** One input line's place in the output: filled now (cache hit, pass-through) or when its job returns. */
interface Slot {
  out: OutputItem | OutputItem[] | undefined;
  done: Promise<void> | undefined;
}

interface Job {
  slots: Slot[];
  lines: InputLine[];
  paths: Array<string | Buffer>;
  bytes: number;
}

/**
 * Add `hash` to every regular `file` record, in input order. Other records pass through
 * as they came (exact text), bad lines become `error` records. Cache hits cost a lookup;
 * misses go to the thread pool in batches while input keeps being read.
 */
export async function* hashRecords(input: AsyncIterable<InputLine[]>, options: HashOptions): AsyncGenerator<OutputItem[]> {
  const { algo, pool, cacheFor, onFile, onExpect } = options;
  const queue: Slot[] = [];
  let head = 0;
  let job: Job = newJob();
  /** Jobs out (counted only with `keep`) and the bytes they keep, and the taker's wait when it asked the reading to pause. */
  const jobsOut = new Set<Promise<void>>();
  let keptOut = 0;
  let takerBehind: Promise<void> | undefined;

  const dispatch = () => {
    if (!job.slots.length) return;
    const sent = job;
    job = newJob();
    const keep = options.keep ? sent.lines.map((l) => ((l.record as FileRecord).size <= options.keep!.maxBytes ? (l.record as FileRecord).size : -1)) : undefined;
    const done = pool().hash(algo, sent.paths, sent.bytes, keep).then(async (outcomes) => {
      const taking: Array<Promise<void>> = [];
      const outs = outcomes.map((outcome, i) => {
        if (outcome.ok && outcome.data) {
          const wait = options.keep?.take(sent.lines[i]!.record as FileRecord, outcome.hash, outcome.data);
          if (wait) taking.push(wait);
        }
        onFile?.((sent.lines[i]!.record as FileRecord).size);
        return resolveOutcome(sent.lines[i]!, outcome, algo, cacheFor, options.asObjects);
      });
      // A taker that is behind (writing to a slow disk) holds this job's records back, and
      // no new job goes out, until it caught up: the bytes read ahead stay bounded.
      if (taking.length) {
        const caughtUp = Promise.all(taking).then(() => {
          if (takerBehind === caughtUp) takerBehind = undefined;
        });
        takerBehind = caughtUp;
        await caughtUp;
      }
      outs.forEach((o, i) => (sent.slots[i]!.out = o));
    });
    for (const slot of sent.slots) slot.done = done;
    if (keep) {
      const bytes = keep.reduce((n, size) => n + Math.max(0, size), 0);
      keptOut += bytes;
      const release = () => {
        jobsOut.delete(settled);
        keptOut -= bytes;
      };
      const settled = done.then(release, release);
      jobsOut.add(settled);
    }
  };

  /** With `keep`: wait while the taker is behind or enough bytes are out. */
  const behind = () => options.keep !== undefined && (takerBehind !== undefined || keptOut >= MAX_KEEP_BYTES);
  const throttle = async () => {
    while (behind()) await (takerBehind ?? Promise.race(jobsOut));
  };

  /**
   * What is ready at the head of the queue, in order, up to the end of the first job in it:
   * jobs that finished together still go out one batch each, as they would have come one
   * by one, so a consumer that records as it goes (a backup) does not see them as one.
   */
  /** The slot at the head of the queue has its output. */
  const headReady = () => head < queue.length && queue[head]!.out !== undefined;
  const drain = (): OutputItem[] => {
    const out: OutputItem[] = [];
    let job: Promise<void> | undefined;
    while (headReady()) {
      const done = queue[head]!.done;
      if (done && job && done !== job) break;
      job ??= done;
      const o = queue[head]!.out!;
      if (Array.isArray(o)) out.push(...o);
      else out.push(o);
      queue[head++] = undefined as unknown as Slot;
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    return out;
  };

  // Read input while hashes complete: whichever comes first is handled first, so a
  // slow or interactive producer still sees each result as soon as it is ready.
  const lines$ = input[Symbol.asyncIterator]();
  let nextLines = lines$.next();
  for (;;) {
    if (headReady() && queue[head]!.done) {
      // The next job's results are ready already (drain stopped at the end of the one before).
      yield drain();
      continue;
    }
    const pendingHead = head < queue.length && queue[head]!.out === undefined ? queue[head]!.done : undefined;
    const waited = pendingHead && queue.length - head <= MAX_WAITING ? await Promise.race([nextLines, pendingHead.then(() => HASHED)]) : undefined;
    if (waited === HASHED) {
      const ready = drain();
      if (ready.length) yield ready;
      continue;
    }
    if (pendingHead && queue.length - head > MAX_WAITING) {
      // Bound memory: too many records wait for hashes; stop reading until the oldest is done.
      await pendingHead;
      const ready = drain();
      if (ready.length) yield ready;
      continue;
    }
    const next = (waited as IteratorResult<InputLine[]> | undefined) ?? (await nextLines);
    if (next.done) break;
    if (behind()) await throttle();
    nextLines = lines$.next();
    const lines = next.value;
    // A file whose bytes are kept is read whatever the cache says (below): not looked up.
    const cached = cacheFor ? lookupBatch(lines, cacheFor, options.keep?.maxBytes) : undefined;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const slot: Slot = { out: undefined, done: undefined };
      queue.push(slot);
      const rec = line.record;
      if (!rec) {
        slot.out = { type: 'error', tool: TOOL, code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' } satisfies ErrorRecord;
        continue;
      }
      if (!isRegularFile(rec)) {
        slot.out = line.text;
        continue;
      }
      onExpect?.(rec.size);
      // With `keep`, a small file is read even when its hash is cached: the taker (a backup)
      // wants its bytes, and would otherwise read it again later, alone, off the threads.
      const hit = options.keep && rec.size <= options.keep.maxBytes ? undefined : cached?.get(i);
      if (hit !== undefined) {
        slot.out = options.asObjects ? { ...rec, hash: hit } : withHash(line, rec, hit);
        onFile?.(rec.size);
        continue;
      }
      job.slots.push(slot);
      job.lines.push(line);
      job.paths.push(joinRecordPath(rec.root, rec.path, rec.pathBytes));
      job.bytes += rec.size;
      if (job.slots.length >= FILES_PER_JOB || job.bytes >= BYTES_PER_JOB) {
        dispatch();
        if (behind()) await throttle();
      }
    }
    dispatch();
    const ready = drain();
    if (ready.length) yield ready;
  }
  dispatch();
  while (head < queue.length) {
    if (queue[head]!.out === undefined) await queue[head]!.done;
    const ready = drain();
    if (ready.length) yield ready;
  }
}

const HASHED = Symbol('hashed');

/** Cache hits for the regular files in one input batch, by index in the batch (one query per root). */
function lookupBatch(lines: InputLine[], cacheFor: (root: string) => HashCache, keptUpTo = -1): Map<number, string> {
  const byRoot = new Map<string, number[]>();
  lines.forEach((line, i) => {
    const rec = line.record;
    if (rec && isRegularFile(rec) && rec.size > keptUpTo) {
      const list = byRoot.get(rec.root);
      if (list) list.push(i);
      else byRoot.set(rec.root, [i]);
    }
  });
  const hits = new Map<number, string>();
  for (const [root, indexes] of byRoot) {
    const found = cacheFor(root).lookupMany(indexes.map((i) => cacheItem(lines[i]!.record as FileRecord)));
    found.forEach((hash, k) => {
      if (hash !== undefined) hits.set(indexes[k]!, hash);
    });
  }
  return hits;
}

/** Where the cache files a record: its folder's absolute path, and its stat fields. */
function cacheItem(rec: FileRecord): CacheItem {
  return { dir: cacheFolder(rec.root, rec.path), key: rec };
}

function newJob(): Job {
  return { slots: [], lines: [], paths: [], bytes: 0 };
}

function isRegularFile(rec: AnyRecord): rec is FileRecord {
  return rec.type === 'file' && rec.kind === undefined;
}

function resolveOutcome(line: InputLine, outcome: HashOutcome, algo: Algo, cacheFor: HashOptions['cacheFor'], asObjects = false): OutputItem {
  const rec = line.record as FileRecord;
  if (!outcome.ok) {
    return { type: 'error', tool: TOOL, code: outcome.code, root: rec.root, path: rec.path, message: outcome.message } satisfies ErrorRecord;
  }
  const { hash, state, startedAtMs } = outcome;
  cacheFor?.(rec.root).store(cacheFolder(rec.root, rec.path), state, hash, startedAtMs);
  if (sameState(rec, state)) {
    if (!asObjects) return withHash(line, rec, hash);
    // A record parsed here is this pipeline's own: given its hash in place, not copied (a
    // copy per file was a first backup's largest allocation).
    if (line.handedOver) return { ...rec, hash };
    rec.hash = hash;
    return rec;
  }
  // The file changed since it was scanned: describe what was actually hashed.
  return asObjects ? { ...rec, ...state, hash } : JSON.stringify({ ...rec, ...state, hash });
}

function sameState(rec: FileRecord, s: FileState): boolean {
  return rec.size === s.size && rec.mtimeMs === s.mtimeMs && rec.ctimeMs === s.ctimeMs && rec.ino === s.ino && rec.dev === s.dev;
}

/** The input line with `hash` appended, keeping every other byte as it came. */
function withHash(line: InputLine, rec: FileRecord, hash: string): string {
  if (rec.hash !== undefined) return JSON.stringify({ ...rec, hash });
  const close = line.text.lastIndexOf('}');
  return `${line.text.slice(0, close)},"hash":"${hash}"}`;
}

export type { Algo };
