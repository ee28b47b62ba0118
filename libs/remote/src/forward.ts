import type { AnyRecord } from '@hoard/schema';
import { runPeerTool, type PeerUrl } from './peer.js';

/** What the far repository calls the two ends: itself `local`, us `peer`. */
const FAR_SELF = 'local';
const FAR_US = 'peer';

function rename(rec: AnyRecord, map: Record<string, string>): AnyRecord {
  const out = { ...rec };
  for (const field of ['target', 'source', 'location']) {
    const v = out[field];
    if (typeof v === 'string' && Object.hasOwn(map, v)) out[field] = map[v];
  }
  return out;
}

/**
 * Run one of hoard's tools in a peer repository over a stream of records: location names
 * are translated both ways (the peer is `local` to itself; we are `peer` to it).
 */
export async function* forwardToPeer(
  url: PeerUrl,
  remoteName: string,
  tool: string,
  args: string[],
  records: AsyncIterable<AnyRecord> | Iterable<AnyRecord>,
  options: { hoard?: string } = {},
): AsyncGenerator<AnyRecord> {
  const out = { [remoteName]: FAR_SELF, local: FAR_US };
  const back = { [FAR_SELF]: remoteName, [FAR_US]: 'local' };
  async function* lines() {
    for await (const rec of records) yield `${JSON.stringify(rename(rec, out))}\n`;
  }
  for await (const rec of runPeerTool(url, tool, args, lines(), options)) yield rename(rec, back);
}

/** Records handed to a peer session and not yet read by it, above which `send` waits. */
const SESSION_BACKLOG = 20_000;

/**
 * A peer tool kept running while records are handed to it a batch at a time, its answers
 * collected as they come: the far side works on the first records while the rest are still
 * arriving (a repository's integrate hashes what was copied while the copying goes on).
 */
export class PeerSession {
  private queue: AnyRecord[] = [];
  private closed = false;
  private wake: (() => void) | undefined;
  private drained: (() => void) | undefined;
  private answered: AnyRecord[] = [];
  private running: Promise<void>;
  /** Why the peer stopped short, once it has. */
  failure: Error | undefined;

  constructor(url: PeerUrl, remoteName: string, tool: string, args: string[], options: { hoard?: string } = {}) {
    this.running = (async () => {
      try {
        for await (const rec of forwardToPeer(url, remoteName, tool, args, this.records(), options)) this.answered.push(rec);
      } catch (err) {
        this.failure = err as Error;
      } finally {
        // Nothing more is read: whoever waits to send is let go.
        this.closed = true;
        this.drained?.();
      }
    })();
  }

  private async *records(): AsyncGenerator<AnyRecord> {
    for (;;) {
      if (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        this.drained?.();
        yield* batch;
      } else if (this.closed) return;
      else await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Hand records to the peer; waits while it is far behind. */
  async send(records: AnyRecord[]): Promise<void> {
    if (this.closed) return;
    this.queue.push(...records);
    this.wake?.();
    while (this.queue.length > SESSION_BACKLOG && !this.closed) await new Promise<void>((r) => (this.drained = r));
  }

  /** What the peer answered since the last look. */
  take(): AnyRecord[] {
    return this.answered.splice(0);
  }

  /** No more records: wait for the peer to finish, and take the rest of its answers. */
  async end(): Promise<AnyRecord[]> {
    this.closed = true;
    this.wake?.();
    await this.running;
    return this.take();
  }
}
