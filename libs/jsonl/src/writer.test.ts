import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonlWriter } from './writer.js';

describe('JsonlWriter', () => {
  it('writes one JSON object per line, pre-serialized lines unchanged', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-writer-')), 'out.jsonl');
    const fd = fs.openSync(file, 'w');
    const w = new JsonlWriter(fd, 16);
    w.write({ type: 'a', text: 'line\nbreak' });
    w.write('{"type":"raw"}');
    w.flush();
    fs.closeSync(fd);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"type":"a","text":"line\\nbreak"}\n{"type":"raw"}\n');
  });
});
