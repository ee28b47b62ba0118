import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, hoardEnv, jsonl, sh } from './support/cli.js';
import { tempDir, writeHostileTree, writeNonUtf8File } from './support/trees.js';

const sha256 = (data: Buffer | string) => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

describe('hoard scan | hoard hash', () => {
  it('hashes every file of a hostile tree like sha256sum would, and runs nothing', async () => {
    const root = tempDir();
    const written = writeHostileTree(root);
    const rawPath = writeNonUtf8File(root, 'bytes');
    const cwd = tempDir();
    const r = await sh('hoard scan "$DIR" | hoard hash', { DIR: root, XDG_CACHE_HOME: tempDir() }, { cwd });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const files = jsonl(r.stdout).filter((x) => x.type === 'file');
    expect(files).toHaveLength(written.size + 1);
    for (const f of files) {
      const onDisk = f.pathBytes ? Buffer.concat([Buffer.from(`${root}/`), Buffer.from(f.pathBytes as string, 'base64')]) : path.join(root, f.path as string);
      expect(f.hash).toBe(sha256(fs.readFileSync(onDisk)));
    }
    expect(files.some((f) => f.pathBytes && Buffer.concat([Buffer.from(`${root}/`), Buffer.from(f.pathBytes as string, 'base64')]).equals(rawPath))).toBe(true);
    expect(fs.readdirSync(cwd)).toEqual([]);
    expect(fs.existsSync(path.join(root, 'pwned'))).toBe(false);
  });

  it('gives the same answer from the cache on a second run', async () => {
    const root = tempDir();
    writeHostileTree(root);
    const env = { DIR: root, XDG_CACHE_HOME: tempDir() };
    const first = await sh('hoard scan "$DIR" | hoard hash | jq -c "select(.type==\\"file\\") | [.path, .hash]"', env);
    const second = await sh('hoard scan "$DIR" | hoard hash | jq -c "select(.type==\\"file\\") | [.path, .hash]"', env);
    expect(first.exitCode).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(fs.existsSync(path.join(env.XDG_CACHE_HOME, 'hoard', 'hash-cache.db'))).toBe(true);
  });

  it('stops quietly when the reader leaves early (| head)', async () => {
    const root = tempDir();
    for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(root, `f${i}`), `${i}`);
    const r = await sh('hoard scan "$DIR" | hoard hash | head -n 2; echo "status ${PIPESTATUS[*]}" >&2', { DIR: root, XDG_CACHE_HOME: tempDir() });
    expect(jsonl(r.stdout)).toHaveLength(2);
    expect(r.stderr.trim()).toBe('status 0 0 0');
  });

  it('reports an unreadable folder in-band and on stderr, and scans the rest', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'locked'));
    fs.writeFileSync(path.join(root, 'locked', 'hidden'), 'h');
    fs.writeFileSync(path.join(root, 'open.txt'), 'o');
    fs.chmodSync(path.join(root, 'locked'), 0o000);
    fs.chmodSync(root, 0o755);
    // root reads everything: drop to an unprivileged user to see the real behaviour.
    const asUser = process.getuid?.() === 0 ? `runuser -u nobody -- env PATH="$PATH" HOME=/tmp` : '';
    const r = await sh(`${asUser} hoard scan "$DIR"`, { DIR: root });
    fs.chmodSync(path.join(root, 'locked'), 0o755);
    expect(r.exitCode).toBe(1);
    const recs = jsonl(r.stdout);
    expect(recs.filter((x) => x.type === 'file').map((x) => x.path)).toEqual(['open.txt']);
    expect(recs.find((x) => x.type === 'error')).toMatchObject({ tool: 'scan', code: 'EACCES', path: 'locked' });
    expect(recs.at(-1)).toMatchObject({ type: 'scan', complete: false, errors: 1 });
    expect(r.stderr).toMatch(/^hoard scan: locked: cannot read folder/m);
  });
});

describe('bad input', () => {
  const good = (root: string) => JSON.stringify({ type: 'file', root, path: 'ok.txt', size: 2, mtimeMs: 1, mode: 33188, ino: 1, dev: 1, nlink: 1, uid: 0, gid: 0 });
  it.each([
    ['not JSON', 'not json', /stdin:2: not JSON/],
    ['a JSON array', '[1,2]', /stdin:2: expected a JSON object, got an array/],
    ['a path escaping the root', '{"type":"file","root":"/tmp","path":"../x","size":1,"mtimeMs":1,"mode":1,"ino":1,"dev":1,"nlink":1,"uid":0,"gid":0}', /stdin:2: file\.path escapes its root/],
    ['an absolute path', '{"type":"file","root":"/tmp","path":"/etc/passwd","size":1,"mtimeMs":1,"mode":1,"ino":1,"dev":1,"nlink":1,"uid":0,"gid":0}', /stdin:2: file\.path is absolute/],
    ['exact bytes escaping the root', `{"type":"file","root":"/tmp","path":"ok","pathBytes":"${Buffer.from('../etc/passwd').toString('base64')}","size":1,"mtimeMs":1,"mode":1,"ino":1,"dev":1,"nlink":1,"uid":0,"gid":0}`, /stdin:2: file\.pathBytes escapes its root/],
  ])('%s: one clear line naming the input line, exit 2, earlier lines done', async (_name, bad, message) => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'ok.txt'), 'ok');
    const r = await execa(path.join(BIN, 'hoard-hash'), [], { input: `${good(root)}\n${bad}\n`, env: hoardEnv({ XDG_CACHE_HOME: tempDir() }), reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const out = jsonl(r.stdout);
    expect(out[0]).toMatchObject({ path: 'ok.txt', hash: sha256('ok') });
    expect(out[1]).toMatchObject({ type: 'error', tool: 'hash', code: 'bad-input', line: 2 });
  });

  it('takes empty input as nothing to do', async () => {
    const r = await execa(path.join(BIN, 'hoard-hash'), [], { input: '', env: hoardEnv(), reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('signals and usage', () => {
  it('flushes whole lines and exits 130 on SIGINT', async () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'f'), 'f');
    const scan = await sh('hoard scan "$DIR"', { DIR: root });
    const child = execa(path.join(BIN, 'hoard-hash'), [], { env: hoardEnv({ XDG_CACHE_HOME: tempDir() }), reject: false });
    child.stdin!.write(scan.stdout.split('\n')[0] + '\n');
    // Interrupt once the line is hashed (its output seen), or after 10 s if the tool holds its
    // output until then: either way the line must come out whole. (A fixed 700 ms wait was
    // shorter than start-up plus hashing on a loaded machine.)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      child.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(jsonl(r.stdout)).toEqual([expect.objectContaining({ path: 'f', hash: sha256('f') })]);
    expect(r.stderr).toMatch(/interrupted/);
  });

  it('explains itself: --help with examples, --version, clear usage errors without stack traces', async () => {
    const help = await sh('hoard scan --help');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/Examples:[\s\S]*hoard scan/);
    const version = await sh('hoard-hash --version && hoard --version');
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n\d+\.\d+\.\d+$/);
    for (const bad of ['hoard hash --algo md5 </dev/null', 'hoard scan --bogus', 'hoard frobnicate']) {
      const r = await sh(bad);
      expect(r.exitCode, bad).toBe(2);
      expect(r.stderr, bad).not.toMatch(/^\s+at /m);
      expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
    }
  });

  it('prints a JSON Schema per record type, and validate passes records through unchanged', async () => {
    const schema = await sh('hoard schema file');
    expect(JSON.parse(schema.stdout)).toMatchObject({ title: 'hoard file record', required: expect.arrayContaining(['path', 'size']) });
    const lines = '{"type":"x","keep":  "spacing"}\n{"type":"scan","root":"/r","files":0,"bytes":0,"errors":0,"complete":true,"startedAt":"t","finishedAt":"t"}\n';
    const r = await execa(path.join(BIN, 'hoard-validate'), [], { input: lines, reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout + '\n').toBe(lines);
  });
});
