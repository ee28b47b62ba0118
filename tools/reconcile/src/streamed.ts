import type { OutputItem } from '@hoard/jsonl';
import { PeerSession, type OpenedLocation, type PeerUrl } from '@hoard/remote';
import type { ActionRecord, AnyRecord } from '@hoard/schema';
import { entryKey } from '@hoard/state';
import { AheadGate } from './ahead.js';

/** Checkouts handed to the far repository at once, at least (each is a transaction there). */
const SEND_AT = 2000;

/**
 * Checkouts another repository applies while the transfer still runs: a checkout that may go
 * ahead (AheadGate) is handed to the far `hoard reconcile --streaming` as soon as integrate
 * reported its content stored there;
 * placing a first push's 100,000 files after the last one arrived was 7 s. The far side
 * applies them exactly as it would at the end (never replacing what is there). Everything
 * else waits for the end, in plan order; so do checkouts the far side never answered (its
 * session stopped short), then given to the final run.
 */
export class StreamedCheckouts {
  private gate = new AheadGate((a) => a.hash);
  private sent = new Map<string, ActionRecord>();
  /** Taken, then found touched by a later move or trash. */
  private held: ActionRecord[] = [];
  private session: PeerSession | undefined;

  constructor(
    private readonly peer: PeerUrl,
    private readonly far: OpenedLocation,
    private readonly transferId: string,
    private readonly onItem?: () => void,
  ) {}

  /** Take an action to send ahead (true), or leave it for the end (false). */
  take(a: ActionRecord): boolean {
    return this.gate.note(a, (back) => this.held.push(back));
  }

  /** Integrate stored this content there: its checkouts may go. */
  storedThere(hash: string, _path?: string): void {
    this.gate.arrive(hash);
  }

  /** Hand over what is ready (when there is enough, or all at the end); the far side's answers so far. */
  async send(all = false): Promise<OutputItem[]> {
    const batch = this.gate.takeReady(all ? 1 : SEND_AT);
    if (batch.length) {
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
    const left = [...this.held, ...this.gate.stillWaiting(), ...this.sent.values()];
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
