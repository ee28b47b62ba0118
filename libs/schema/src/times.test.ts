import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { utimesSeconds } from './times.js';

describe('utimesSeconds', () => {
  it("puts a file's time in the very millisecond asked through Node's utimes, whole milliseconds included", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-times-')), 'f');
    fs.writeFileSync(file, 'x');
    // `ms / 1000` brings many of these back a millisecond early (libuv truncates to the microsecond).
    const times = Array.from({ length: 600 }, (_, i) => 1_796_096_893_000 + i * 7 + [0, 0.0001, 0.9996][i % 3]!);
    const off = times.flatMap((ms) => {
      fs.utimesSync(file, utimesSeconds(ms), utimesSeconds(ms));
      const st = fs.statSync(file);
      return Math.floor(st.mtimeMs) === Math.floor(ms) && Math.floor(st.atimeMs) === Math.floor(ms) && Math.abs(st.mtimeMs - ms) < 0.0015 ? [] : [[ms, st.mtimeMs]];
    });
    expect(off).toEqual([]);
  });
});
