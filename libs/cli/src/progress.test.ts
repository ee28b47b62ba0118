import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatBytes, formatCount, formatDuration, Progress } from './progress.js';

/** A progress line as a terminal would get it: every write kept. */
function onTerminal(label: string) {
  const lines: string[] = [];
  return { lines, p: new Progress(label, true, (text) => lines.push(text)) };
}

describe('Progress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('counts on one line, then names the step under way and how long it has taken', () => {
    const { lines, p } = onTerminal('backup');
    p.start();
    p.add(99_550, 791_828_138);
    vi.advanceTimersByTime(1000);
    expect(lines.at(-1)).toMatch(/^\r\x1b\[Kbackup: 99,550 files, 791\.8 MB, \d+\.\d MB\/s$/);
    p.phase('recording 99,550 changes');
    expect(lines.at(-1)).toBe('\r\x1b[Kbackup: 99,550 files, 791.8 MB; recording 99,550 changes (0:00)');
    vi.advanceTimersByTime(2000);
    expect(lines.at(-1)).toBe('\r\x1b[Kbackup: 99,550 files, 791.8 MB; recording 99,550 changes (0:02)');
    let sent = 0;
    p.phase(() => `sending 2 big files, ${formatBytes(sent)} of 9 GB`);
    sent = 4.5e9;
    vi.advanceTimersByTime(1000);
    expect(lines.at(-1)).toBe('\r\x1b[Kbackup: 99,550 files, 791.8 MB; sending 2 big files, 4.5 GB of 9 GB (0:01)');
    p.phase(undefined);
    expect(lines.at(-1)).toMatch(/^\r\x1b\[Kbackup: 99,550 files, 791\.8 MB, \d+\.\d MB\/s$/);
    p.stop();
    expect(lines.at(-1)).toBe('\r\x1b[K');
  });

  it('gives an ETA once the bytes to come are known', () => {
    const { lines, p } = onTerminal('restore');
    p.start();
    p.expect(1_000_000_000);
    p.add(10, 250_000_000);
    vi.advanceTimersByTime(1050);
    // 250 MB in 1.05 s: 750 MB to go at ~238 MB/s.
    expect(lines.at(-1)).toBe('\r\x1b[Krestore: 10 files, 250.0 MB, 238.1 MB/s, ETA 0:03');
    expect(p.active).toBe(true);
    expect(new Progress('restore', false).active).toBe(false);
    p.stop();
  });

  it('shows only the step when nothing is counted', () => {
    const { lines, p } = onTerminal('prune');
    p.start();
    p.phase('reading the metadata of host h2 (2 of 3)');
    p.stop();
    expect(lines).toEqual(['\r\x1b[Kprune: reading the metadata of host h2 (2 of 3) (0:00)', '\r\x1b[K']);
  });

  it('writes nothing when not on a terminal', () => {
    const lines: string[] = [];
    const p = new Progress('backup', false, (text) => lines.push(text));
    p.start();
    p.add(1, 1);
    p.phase('recording 1 change');
    p.stop();
    expect(lines).toEqual([]);
  });
});

describe('formats', () => {
  it('reads as people write them', () => {
    expect([formatCount(0), formatCount(1234567), formatCount(1, 'file'), formatCount(2, 'file'), formatCount(0, 'change')]).toEqual(['0', '1,234,567', '1 file', '2 files', '0 changes']);
    expect([formatBytes(999), formatBytes(15_580_056), formatBytes(2.5e12)]).toEqual(['999 B', '15.6 MB', '2.5 TB']);
    expect([formatDuration(0.4), formatDuration(61), formatDuration(3600)]).toEqual(['0:00', '1:01', '60:00']);
  });
});
