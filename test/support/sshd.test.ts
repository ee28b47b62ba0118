import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshServer } from './sshd.mjs';
import { tempDir } from './trees.js';

/** Quote one word for a POSIX shell. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('the real-OpenSSH test fixture', () => {
  let server: SshServer | undefined;
  let scratch: string;
  let binDir: string;

  beforeAll(async () => {
    scratch = tempDir('hoard-sshd-test-');
    binDir = path.join(scratch, 'fake bin'); // a space, to prove PATH survives sshd_config quoting
    fs.mkdirSync(binDir);
    fs.writeFileSync(path.join(binDir, 'hoard-probe'), '#!/bin/sh\necho probe-ok\n', { mode: 0o755 });
    server = await startSshd({ path: [binDir], env: { HOARD_PROBE_VAR: 'a "quoted" value\\ with spaces' } });
  });

  afterAll(async () => {
    await server?.stop();
    if (server) expect(fs.existsSync(server.dir)).toBe(false);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const remote = (command: string, env: Record<string, string> = {}) =>
    execa('bash', ['-c', `${server!.sshCommand} ${server!.alias} ${command}`], { reject: false, stdin: 'ignore', env });

  it('describes itself', () => {
    const s = server!;
    expect(s.host).toBe('127.0.0.1');
    expect(s.port).toBeGreaterThan(0);
    expect(s.alias).toBe('hoard-test-remote');
    expect(s.sshCommand).toBe(`ssh -F ${s.configFile}`);
    expect(fs.statSync(s.dir).mode & 0o777).toBe(0o700);
    const known = fs.readFileSync(path.join(s.dir, 'known_hosts'), 'utf8');
    expect(known.startsWith(`[127.0.0.1]:${s.port} ssh-ed25519 `)).toBe(true);
  });

  it('runs a command found on the PATH given to remote sessions, with the given environment', async () => {
    const r = await remote('hoard-probe');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('probe-ok');

    const v = await remote(q('printf %s "$HOARD_PROBE_VAR"'));
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stdout).toBe('a "quoted" value\\ with spaces');
  });

  it('passes a properly quoted hostile argument through literally', async () => {
    const pwned = path.join(scratch, 'pwned');
    const hostile = `$(touch ${pwned}) ; echo x \`touch ${pwned}\` 'it''s' "$HOME"`;
    // Quoted twice: once for the local bash, once for the remote shell.
    const r = await remote(`printf %s ${q(q(hostile))}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(hostile);
    expect(fs.existsSync(pwned)).toBe(false);
  });

  it('refuses a key it does not know', async () => {
    const wrongKey = path.join(scratch, 'wrong_ed25519');
    await execa('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', wrongKey]);
    const s = server!;
    // Not through configFile: its IdentityFile would be offered alongside -i.
    const r = await execa(
      'ssh',
      [
        '-F', '/dev/null',
        '-i', wrongKey,
        '-o', 'IdentitiesOnly=yes',
        '-o', 'IdentityAgent=none',
        '-o', 'BatchMode=yes',
        '-o', 'StrictHostKeyChecking=yes',
        '-o', `UserKnownHostsFile=${path.join(s.dir, 'known_hosts')}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-p', String(s.port),
        `${s.user}@${s.host}`,
        'echo', 'should-not-run',
      ],
      { reject: false, stdin: 'ignore' },
    );
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toContain('should-not-run');
    expect(r.stderr).toMatch(/Permission denied/);
  });
});
