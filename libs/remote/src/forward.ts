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
