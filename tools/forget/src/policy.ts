/** A retention policy over one file's versions (restic's keep-* rules, per file). */
export interface Policy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

const BUCKETS: Array<[keyof Policy, (d: Date) => string]> = [
  ['hourly', (d) => d.toISOString().slice(0, 13)],
  ['daily', (d) => d.toISOString().slice(0, 10)],
  ['weekly', (d) => isoWeek(d)],
  ['monthly', (d) => d.toISOString().slice(0, 7)],
  ['yearly', (d) => d.toISOString().slice(0, 4)],
];

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/**
 * Which versions to keep, given their times newest first: the newest always (it is the
 * file's current state); the `last` newest; and for each period rule, the newest version
 * of each of the N most recent periods that have one.
 */
export function keepers(times: string[], policy: Policy): Set<number> {
  const keep = new Set<number>([0]);
  for (let i = 0; i < Math.min(policy.last ?? 0, times.length); i++) keep.add(i);
  for (const [rule, bucketOf] of BUCKETS) {
    const n = policy[rule] ?? 0;
    const seen = new Set<string>();
    for (let i = 0; i < times.length && seen.size < n; i++) {
      const b = bucketOf(new Date(times[i]!));
      if (seen.has(b)) continue;
      seen.add(b);
      keep.add(i);
    }
  }
  return keep;
}
