import type { OutputItem } from '@hoard/jsonl';
import { PeerSession, type OpenedLocation, type PeerUrl } from '@hoard/remote';
import type { ActionRecord, AnyRecord } from '@hoard/schema';
import { entryKey } from '@hoard/state';

/** Checkouts handed to the far repository at once, at least (each is a transaction there). */
const SEND_AT = 2000;

/**
 * Checkouts another repository applies while the transfer still runs: a checkout of a new
 * path (nothing there to replace, no move or trash of this plan touching it) is handed to the
 * far `hoard reconcile --streaming` as soon as integrate reported its content stored there;
 * placing a first push's 100,000 files after the last one arrived was 7 s. The far side
 * applies them exactly as it would at the end (never replacing what is there). Everything
 * else waits for the end, in plan order; so do checkouts the far side never answered (its
 * session stopped short), then given to the final run.
 */
export class StreamedCheckouts {
  private waiting = new Map<string, ActionRecord[]>();
  private stored = new Set<string>();
  private touched = new Set<string>();
  private ready: ActionRecord[] = [];
  private sent = new Map<string, ActionRecord>();
  /** Taken, then found touched by a later move or trash. */
  private held: ActionRecord[] = [];
  /** Paths of the checkouts taken. */
  private taken = new Set<string>();
  private session: PeerSession | undefined;

  constructor(
    private readonly peer: PeerUrl,
    private readonly far: OpenedLocation,
    private readonly transferId: string,
    private readonly onItem?: () => void,
  ) {}

  /** Take an action to send ahead (true), or leave it for the end (false). */
  take(a: ActionRecord): boolean {
    if (a.op !== 'checkout') {
      for (const p of [a.path, a.from]) if (typeof p === 'string') this.touch(p);
      return false;
    }
    // Conflict copies keep their place before what they copy is overwritten: at the end.
    if (a.prevHash !== undefined || a.reason !== undefined || typeof a.hash !== 'string' || typeof a.path !== 'string' || this.touched.has(a.path)) return false;
    this.taken.add(a.path);
    if (this.stored.has(a.hash)) this.ready.push(a);
    else this.waiting.set(a.hash, [...(this.waiting.get(a.hash) ?? []), a]);
    return true;
  }

  /** A move or trash of this plan touches the path: a checkout there not sent yet waits for the end. */
  private touch(p: string): void {
    this.touched.add(p);
    if (!this.taken.has(p)) return;
    const back = (list: ActionRecord[]) => list.filter((a) => (a.path === p ? (this.held.push(a), false) : true));
    this.ready = back(this.ready);
    for (const [hash, list] of this.waiting) this.waiting.set(hash, back(list));
  }

  /** Integrate stored this content there: its checkouts may go. */
  storedThere(hash: string, _path?: string): void {
    this.stored.add(hash);
    const list = this.waiting.get(hash);
    if (list) {
      this.waiting.delete(hash);
      this.ready.push(...list);
    }
  }

  /** Hand over what is ready (when there is enough, or all at the end); the far side's answers so far. */
  async send(all = false): Promise<OutputItem[]> {
    if (this.ready.length >= (all ? 1 : SEND_AT)) {
      const batch = this.ready.splice(0);
      this.session ??= new PeerSession(this.peer, this.far.location.name, 'reconcile', ['--transfer', this.transferId, '--streaming'], { hoard: this.far.location.options.hoard });
      for (const a of batch) this.sent.set(entryKey(a.path!, a.pathBytes), a);
      await this.session.send(batch as AnyRecord[]);
    }
    return this.answered(this.session?.take() ?? []);
  }

  /**
   * The far side's last answers, and the actions left for the final run: those still
   * waiting for their content, and those sent that were not answered.
   */
  async end(): Promise<{ answers: OutputItem[]; left: ActionRecord[] }> {
    const answers = [...(await this.send(true)), ...this.answered((await this.session?.end()) ?? [])];
    const left = [...this.held, ...[...this.waiting.values()].flat(), ...this.sent.values()];
    if (this.session?.failure && this.sent.size) process.stderr.write(`hoard reconcile: ${this.far.location.name}: checkouts during the transfer stopped (${this.session.failure.message}); ${this.sent.size} go with the rest\n`);
    return { answers, left };
  }

  private answered(records: AnyRecord[]): OutputItem[] {
    for (const r of records) {
      if (r.type !== 'result' || typeof r.path !== 'string') continue;
      const a = this.sent.get(entryKey(r.path, r.pathBytes as string | undefined));
      if (a && r.op === 'checkout') {
        this.sent.delete(entryKey(r.path, r.pathBytes as string | undefined));
        this.onItem?.();
      }
    }
    return records;
  }
}
