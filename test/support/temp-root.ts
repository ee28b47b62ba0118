import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Vitest's global setup: every temporary folder of a test run (the tests' own, and those
 * of the hoard processes they start, which inherit TMPDIR) goes under one folder, removed
 * when the run ends. Runs used to leave thousands of folders, gigabytes, in /tmp.
 */
export function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-tests-'));
  // As /tmp itself: tests that run hoard as another user (nobody) make and enter folders here.
  fs.chmodSync(root, 0o1777);
  const before = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    // A test may leave a folder it made read-only: make everything writable first.
    for (const entry of fs.readdirSync(root, { recursive: true }) as string[]) {
      try {
        const p = path.join(root, entry);
        if (fs.lstatSync(p).isDirectory()) fs.chmodSync(p, 0o700);
      } catch {
        /* gone meanwhile */
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
}
