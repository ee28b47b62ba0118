import fs from 'node:fs';
import { OutputClosed, type AnyRecord } from '@hoard/schema';

/** What a tool emits: a record, or a line already serialized (pass-through, fast paths). */
export type OutputItem = AnyRecord | string;

export function serialize(item: OutputItem): string {
  return typeof item === 'string' ? item : JSON.stringify(item);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes JSONL to a file descriptor in large chunks with blocking writes: a full pipe
 * simply makes us wait (natural backpressure, flat memory). EPIPE (the reader left,
 * e.g. `| head`) becomes OutputClosed so the edge can exit 0 quietly.
 */
export class JsonlWriter {
  private buf = '';
  constructor(
    private readonly fd = 1,
    private readonly chunkChars = 1 << 16,
  ) {}

  write(item: OutputItem): void {
    this.buf += serialize(item) + '\n';
    if (this.buf.length >= this.chunkChars) this.flush();
  }

  flush(): void {
    if (!this.buf) return;
    const data = Buffer.from(this.buf, 'utf8');
    this.buf = '';
    writeAll(this.fd, data);
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
