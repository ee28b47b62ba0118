import fs from 'node:fs';
import { OutputClosed, type AnyRecord } from '@hoard/schema';

/**
 * What a tool emits: a record, a line already serialized (pass-through, fast paths), or
 * a Buffer of whole `\n`-terminated JSONL lines (bulk output from native code).
 */
export type OutputItem = AnyRecord | string | Buffer;

export function serialize(item: AnyRecord | string): string {
  return typeof item === 'string' ? item : JSON.stringify(item);
}

/** The records of an item, one JSON text each (splits a bulk Buffer). */
export function itemLines(item: OutputItem): Array<AnyRecord | string> {
  if (!Buffer.isBuffer(item)) return [item];
  const text = item.toString('utf8');
  const lines: string[] = [];
  for (let start = 0, nl = text.indexOf('\n'); nl !== -1; start = nl + 1, nl = text.indexOf('\n', start)) lines.push(text.slice(start, nl));
  return lines;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes JSONL to a file descriptor in large chunks with blocking writes: a full pipe
 * simply makes us wait (natural backpressure, flat memory). EPIPE (the reader left,
 * e.g. `| head`) becomes OutputClosed so the edge can exit 0 quietly.
 */
export class JsonlWriter {
  private buf = '';
  /** Bulk Buffers (and text before them) waiting, so that many small folders make one write. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  constructor(
    private readonly fd = 1,
    private readonly chunkChars = 1 << 16,
  ) {}

  write(item: OutputItem): void {
    if (Buffer.isBuffer(item)) {
      this.takeText();
      this.parts.push(item);
      this.partsBytes += item.length;
      if (this.partsBytes >= 4 * this.chunkChars) this.flush();
      return;
    }
    this.buf += serialize(item) + '\n';
    if (this.buf.length >= this.chunkChars) this.flush();
  }

  flush(): void {
    this.takeText();
    if (!this.parts.length) return;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    writeAll(this.fd, data);
  }

  private takeText(): void {
    if (!this.buf) return;
    const text = Buffer.from(this.buf, 'utf8');
    this.buf = '';
    this.parts.push(text);
    this.partsBytes += text.length;
  }
}

/** Write every byte, waiting out EAGAIN on non-blocking descriptors. */
export function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off, data.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, 2);
        continue;
      }
      if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') throw new OutputClosed();
      throw err;
    }
  }
}
