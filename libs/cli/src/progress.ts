import fs from 'node:fs';

/**
 * A one-line progress display on stderr, only when stderr is a terminal; otherwise
 * every call is a no-op, so pipelines and logs stay clean.
 */
export class Progress {
  private readonly enabled: boolean;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = Date.now();
  private files = 0;
  private bytes = 0;
  private totalBytes = 0;
  private shown = false;
  private stage: { text: string | (() => string); since: number } | undefined;

  constructor(
    private readonly label: string,
    enabled = process.stderr.isTTY === true,
    private readonly write: (text: string) => void = (text) => void fs.writeSync(2, text),
  ) {
    this.enabled = enabled && !process.env.HOARD_NO_PROGRESS;
  }

  /**
   * Name a step that counts nothing (`recording 99,550 changes`): the line shows it and how
   * long it has taken, instead of a rate that only falls; a function is asked anew at each
   * redraw (a step saying how far it got); undefined goes back to counting.
   */
  phase(text: string | (() => string) | undefined): void {
    this.stage = text === undefined ? undefined : { text, since: Date.now() };
    if (this.timer) this.render();
  }

  /** Whether anything is drawn (a terminal): work done only to show progress can be skipped otherwise. */
  get active(): boolean {
    return this.enabled;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.render(), 150);
    this.timer.unref();
  }

  /** Count work done; `expectedBytes` grows the total used for the ETA. */
  add(files: number, bytes: number): void {
    this.files += files;
    this.bytes += bytes;
  }

  expect(bytes: number): void {
    this.totalBytes += bytes;
  }

  /** Remove the line before other stderr output (an error line), so they do not interleave. */
  clear(): void {
    if (this.shown) {
      this.write('\r\x1b[K');
      this.shown = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private render(): void {
    const secs = (Date.now() - this.startedAt) / 1000;
    const rate = secs > 0 ? this.bytes / secs : 0;
    let line = `${this.label}: ${formatCount(this.files, 'file')}, ${formatBytes(this.bytes)}`;
    if (this.stage) {
      const step = `${typeof this.stage.text === 'string' ? this.stage.text : this.stage.text()} (${formatDuration((Date.now() - this.stage.since) / 1000)})`;
      // A command that only goes through steps (prune) has nothing counted to show.
      line = this.files || this.bytes ? `${line}; ${step}` : `${this.label}: ${step}`;
    }
    else {
      if (secs >= 0.5) line += `, ${formatBytes(rate)}/s`;
      if (this.totalBytes > this.bytes && rate > 0) line += `, ETA ${formatDuration((this.totalBytes - this.bytes) / rate)}`;
    }
    this.write(`\r\x1b[K${line}`);
    this.shown = true;
  }
}

/** A count as people read it, 99,550; with a noun, 1 file or 99,550 files. */
export function formatCount(n: number, noun?: string): string {
  const count = n.toLocaleString('en-US');
  return noun === undefined ? count : `${count} ${n === 1 ? noun : `${noun}s`}`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}
