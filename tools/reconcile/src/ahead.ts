import type { ActionRecord } from '@hoard/schema';

/**
 * Which checkouts may be applied before the input ends, and when: a checkout of a new path
 * (no version there to replace, not a conflict copy, which keeps its place before what it
 * copies is overwritten, and no move or trash of this plan touching the path) is ready once
 * its content arrived. `keyOf` names what arrives for a checkout: its content id in a
 * repository, its path in a mirror (undefined: it never goes ahead).
 */
export class AheadGate {
  private waiting = new Map<string, ActionRecord[]>();
  private arrived = new Set<string>();
  private touched = new Set<string>();
  /** Paths of the checkouts taken. */
  private taken = new Set<string>();
  private ready: ActionRecord[] = [];

  constructor(private readonly keyOf: (a: ActionRecord) => string | undefined) {}

  /**
   * Note an action of the plan: true for a checkout taken to go ahead. A move or trash
   * touching the path of one taken and not handed out yet gives it back (`back`).
   */
  note(a: ActionRecord, back?: (a: ActionRecord) => void): boolean {
    if (a.op !== 'checkout') {
      for (const p of [a.path, a.from]) if (typeof p === 'string') this.touch(p, back);
      return false;
    }
    const key = this.keyOf(a);
    if (a.prevHash !== undefined || a.reason !== undefined || typeof a.path !== 'string' || key === undefined || this.touched.has(a.path)) return false;
    this.taken.add(a.path);
    if (this.arrived.has(key)) this.ready.push(a);
    else {
      const list = this.waiting.get(key);
      if (list) list.push(a);
      else this.waiting.set(key, [a]);
    }
    return true;
  }

  /** The content named `key` arrived: its checkouts are ready. */
  arrive(key: string): void {
    this.arrived.add(key);
    const list = this.waiting.get(key);
    if (list) {
      this.waiting.delete(key);
      this.ready.push(...list);
    }
  }

  /** The ready checkouts, when there are at least `min`; else none. */
  takeReady(min: number): ActionRecord[] {
    return this.ready.length >= Math.max(min, 1) ? this.ready.splice(0) : [];
  }

  /** Checkouts taken whose content never arrived. */
  stillWaiting(): ActionRecord[] {
    return [...this.waiting.values()].flat();
  }

  private touch(p: string, back?: (a: ActionRecord) => void): void {
    this.touched.add(p);
    if (!this.taken.has(p)) return;
    const keep = (list: ActionRecord[]) => list.filter((a) => (a.path === p ? (back?.(a), false) : true));
    this.ready = keep(this.ready);
    for (const [key, list] of this.waiting) this.waiting.set(key, keep(list));
  }
}
