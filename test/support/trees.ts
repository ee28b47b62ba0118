import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temporary folder for one test. */
export function tempDir(prefix = 'hoard-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Names that break naive tools: shell metacharacters, newlines, both Unicode normal forms, long names. */
export const HOSTILE_NAMES = [
  'with space.txt',
  `quote"d'.txt`,
  'new\nline.txt',
  '$(touch pwned).txt',
  '`touch pwned2`.txt',
  '-leading-dash',
  'tab\there',
  'back\\slash',
  'caf\u00e9.txt', // NFC
  'cafe\u0301.txt', // NFD: a different name on Linux, must stay different
  '\u{1F600} emoji',
  'x'.repeat(251) + '.txt', // 255 bytes
];

/** Raw name bytes that are not valid UTF-8. */
export const NON_UTF8_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);

/**
 * Write a tree of hostile names under `root`; returns the relative paths (as text) of
 * the regular files written, and their contents.
 */
export function writeHostileTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const put = (rel: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
    files.set(rel, content);
  };
  HOSTILE_NAMES.forEach((name, i) => put(name, `content ${i} of ${name}\n`));
  HOSTILE_NAMES.slice(0, 4).forEach((name, i) => put(`dir ${name}/inner ${i}`, `inner ${i}\n`));
  put(Array.from({ length: 30 }, (_, i) => `d${i}`).join('/') + '/deep.txt', 'deep\n');
  put('empty', '');
  return files;
}

/** Create a file whose name is not valid UTF-8 inside `dir`; returns its full path bytes. */
export function writeNonUtf8File(dir: string, content: string): Buffer {
  const full = Buffer.concat([Buffer.from(`${dir}/`), NON_UTF8_NAME]);
  fs.writeFileSync(full, content);
  return full;
}
