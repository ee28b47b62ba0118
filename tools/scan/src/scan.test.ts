import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { recordProblem, type AnyRecord, type FileRecord } from '@hoard/schema';
import { itemLines } from '@hoard/jsonl';
import { scanTree, type ScanOptions } from './scan.js';
import { NON_UTF8_NAME, tempDir, writeHostileTree, writeNonUtf8File } from '../../../test/support/trees.js';

function scan(dir: string, options?: ScanOptions): AnyRecord[] {
  const out: AnyRecord[] = [];
  for (const batch of scanTree(dir, options)) for (const item of batch.flatMap(itemLines)) out.push(typeof item === 'string' ? JSON.parse(item) : item);
  return out;
}
const files = (records: AnyRecord[]) => records.filter((r): r is FileRecord => r.type === 'file');
const paths = (records: AnyRecord[]) => files(records).map((r) => r.path);

describe('scanTree', () => {
  it('lists every file of a hostile tree exactly once, names unaltered, records valid', () => {
    const root = tempDir();
    const written = writeHostileTree(root);
    const records = scan(root);
    expect(new Set(paths(records))).toEqual(new Set(written.keys()));
    expect(paths(records)).toHaveLength(written.size);
    for (const r of records) expect(recordProblem(r)).toBeNull();
    for (const f of files(records)) {
      const st = fs.lstatSync(path.join(root, f.path));
      expect([f.size, f.mtimeMs, f.ino, f.mode]).toEqual([st.size, st.mtimeMs, st.ino, st.mode]);
    }
    // Both Unicode normal forms survive as distinct names.
    expect(paths(records)).toContain('caf\u00e9.txt');
    expect(paths(records)).toContain('cafe\u0301.txt');
    expect(fs.existsSync(path.join(root, 'pwned'))).toBe(false);
  });

  it('emits paths in code-point order of the full path, a folder sorting as name/', () => {
    const root = tempDir();
    for (const rel of ['a.txt', 'a/b', 'a-b', 'B', 'a/c/d', 'ab']) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), rel);
    }
    const got = paths(scan(root));
    expect(got).toEqual([...got].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(got).toEqual(['B', 'a-b', 'a.txt', 'a/b', 'a/c/d', 'ab']);
  });

  it('carries a non-UTF-8 name reversibly in pathBytes', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'sub'));
    writeNonUtf8File(path.join(root, 'sub'), 'raw name');
    const [rec] = files(scan(root));
    expect(rec!.path).toBe(`sub/${NON_UTF8_NAME.toString('utf8')}`);
    const bytes = Buffer.from(rec!.pathBytes!, 'base64');
    expect(bytes).toEqual(Buffer.concat([Buffer.from('sub/'), NON_UTF8_NAME]));
    expect(fs.readFileSync(Buffer.concat([Buffer.from(`${root}/`), bytes]), 'utf8')).toBe('raw name');
  });

  it('records symlinks with their target and never follows them', () => {
    const root = tempDir();
    const outside = tempDir();
    fs.writeFileSync(path.join(outside, 'secret'), 'x');
    fs.symlinkSync(outside, path.join(root, 'link-to-dir'));
    fs.symlinkSync('../../nowhere', path.join(root, 'dangling'));
    const records = files(scan(root));
    expect(records.map((r) => [r.path, r.kind, r.target])).toEqual([
      ['dangling', 'symlink', '../../nowhere'],
      ['link-to-dir', 'symlink', outside],
    ]);
  });

  it('skips FIFOs with a note and keeps going', () => {
    const root = tempDir();
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    fs.writeFileSync(path.join(root, 'z.txt'), 'z');
    const records = scan(root);
    expect(records.find((r) => r.type === 'note')).toMatchObject({ code: 'special-file', path: 'pipe' });
    expect(paths(records)).toEqual(['z.txt']);
    expect(records.at(-1)).toMatchObject({ type: 'scan', complete: true, files: 1, errors: 0 });
  });

  it('applies nested .hoardignore files with gitignore semantics and --exclude', () => {
    const root = tempDir();
    const put = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), rel);
    };
    ['keep.txt', 'x.log', 'important.log', 'build/out.bin', 'src/a.ts', 'src/gen/b.ts', 'src/c.tmp', 'src/sub/d.log', 'cache/c'].forEach(put);
    fs.writeFileSync(path.join(root, '.hoardignore'), '*.log\n!important.log\nbuild/\n');
    fs.writeFileSync(path.join(root, 'src', '.hoardignore'), 'gen/\n!sub/*.log\n');
    const got = paths(scan(root, { exclude: ['*.tmp', 'cache/'] }));
    expect(got).toEqual(['.hoardignore', 'important.log', 'keep.txt', 'src/.hoardignore', 'src/a.ts', 'src/sub/d.log']);
  });

  it('never enters .hoard metadata folders', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, '.hoard'));
    fs.writeFileSync(path.join(root, '.hoard', 'state.db'), 'x');
    fs.writeFileSync(path.join(root, 'f'), 'f');
    expect(paths(scan(root))).toEqual(['f']);
  });

  it('reports paths relative to --root for a partial scan, and says so', () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(root, 'sub', 'deeper', 'f'), 'f');
    fs.writeFileSync(path.join(root, 'other'), 'o');
    const records = scan(path.join(root, 'sub'), { root });
    expect(paths(records)).toEqual(['sub/deeper/f']);
    expect(records.at(-1)).toMatchObject({ type: 'scan', root, under: 'sub', complete: true });
    expect(() => scan(root, { root: path.join(root, 'sub') })).toThrow(/not inside/);
  });

  it('turns a missing root into an error record and an incomplete scan', () => {
    const records = scan('/nonexistent/hoard/root');
    expect(records[0]).toMatchObject({ type: 'error', code: 'ENOENT' });
    expect(records.at(-1)).toMatchObject({ type: 'scan', complete: false, errors: 1 });
  });

  it('restores the working directory it borrowed', () => {
    const before = process.cwd();
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'a'));
    fs.writeFileSync(path.join(root, 'a', 'f'), 'f');
    scan(root);
    expect(process.cwd()).toBe(before);
  });
});

describe('native folder reader', () => {
  it('gives exactly the records of the JavaScript path, on a hostile tree with symlinks and a FIFO', async () => {
    const { readFolders } = await import('@hoard/native');
    if (!readFolders) return expect(process.platform).not.toBe('linux'); // built by npm install on Linux
    const root = tempDir();
    writeHostileTree(root);
    writeNonUtf8File(root, 'raw'); // this folder falls back to JavaScript, its subfolders do not
    fs.mkdirSync(path.join(root, 'plain', 'deeper'), { recursive: true });
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, 'plain', 'deeper', `f${i}`), `${i}`);
    fs.symlinkSync('f1', path.join(root, 'plain', 'deeper', 'link'));
    execFileSync('mkfifo', [path.join(root, 'plain', 'fifo')]);
    // Reading a symlink's target updates its atime: compare everything else.
    const strip = (rs: AnyRecord[]) => rs.map((r) => (r.type === 'scan' ? { ...r, startedAt: '', finishedAt: '' } : { ...r, atimeMs: 0 }));
    expect(strip(scan(root))).toEqual(strip(scan(root, { noNative: true })));
    expect(strip(scan(path.join(root, 'plain')))).toEqual(strip(scan(path.join(root, 'plain'), { noNative: true })));
  });

  it('yields runs of lines in batches of about 32 KB, not 512 runs at once', async () => {
    const { readFolders } = await import('@hoard/native');
    if (!readFolders) return expect(process.platform).not.toBe('linux');
    // 300 folders of 10 files: ~3,000 lines of ~330 bytes, ~1 MB in 300 runs (one batch before).
    const root = tempDir();
    for (let d = 0; d < 300; d++) {
      fs.mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(root, `d${d}`, `f${f}`), `${d}.${f}`);
    }
    const batches = [...scanTree(root, { runs: true })];
    const lineBytes = (batch: unknown[]) => batch.reduce<number>((n, item) => n + (item instanceof Object && 'lines' in item ? (item.lines as Buffer).length : 0), 0);
    const runs = batches.flat().filter((item) => item instanceof Object && 'lines' in item);
    expect(runs).toHaveLength(300);
    const sizes = batches.map(lineBytes).filter((n) => n > 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(600_000);
    // Each batch stops at the run that takes it past 32 KB.
    for (const size of sizes) expect(size).toBeLessThan(32 * 1024 + 4096);
    expect(sizes.length).toBeGreaterThan(15);
  });
});
