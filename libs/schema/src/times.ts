/**
 * The seconds to give Node's utimes/futimes so that a file's time lands in the millisecond
 * `ms` (a record's mtimeMs), to the microsecond. libuv keeps microseconds by truncating,
 * and `ms / 1000` as a double is up to ~120 ns off at today's times: a time at the very
 * start of a millisecond came back a millisecond early. Aimed half a microsecond in, the
 * truncation lands on the microsecond meant.
 */
export function utimesSeconds(ms: number): number {
  const whole = Math.floor(ms);
  const us = Math.min(999, Math.round((ms - whole) * 1000));
  return (whole * 1000 + us + 0.5) / 1e6;
}
