import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { formatRemoteUrl, parseRemoteUrl } from './url.js';
import { shellQuote } from './shell.js';

describe('parseRemoteUrl', () => {
  it('reads every kind', () => {
    expect(parseRemoteUrl('/srv/photos')).toEqual({ kind: 'path', path: '/srv/photos' });
    expect(parseRemoteUrl('nas', '/home/me')).toEqual({ kind: 'path', path: '/home/me/nas' });
    expect(parseRemoteUrl('ssh://me@nas:2222/srv/my photos')).toEqual({ kind: 'ssh', user: 'me', host: 'nas', port: 2222, path: '/srv/my photos' });
    expect(parseRemoteUrl('ssh://nas/x/../y')).toEqual({ kind: 'ssh', host: 'nas', path: '/y', user: undefined, port: undefined });
    expect(parseRemoteUrl('rclone:s3:bucket/photos')).toEqual({ kind: 'rclone', remote: 's3:bucket/photos' });
    expect(parseRemoteUrl('offline:')).toEqual({ kind: 'offline' });
  });
  it('round-trips through the stored form', () => {
    for (const url of ['/a/b', 'ssh://u@h:22/p', 'ssh://h/p', 'rclone:r:p', 'offline:']) expect(formatRemoteUrl(parseRemoteUrl(url))).toBe(url);
  });
  it('refuses what could become an ssh option or is malformed', () => {
    expect(() => parseRemoteUrl('ssh://-oProxyCommand=x/p')).toThrow(/cannot start with "-"|must look like/);
    expect(() => parseRemoteUrl('ssh://host')).toThrow(/must look like/);
    expect(() => parseRemoteUrl('ftp://x/y')).toThrow(/unknown location URL scheme/);
    expect(() => parseRemoteUrl('rclone:nothing')).toThrow(/must name a remote/);
    expect(() => parseRemoteUrl('/a\nb')).toThrow(/line breaks/);
  });
});

describe('shellQuote', () => {
  it('gives a shell exactly the string, whatever it holds', () => {
    for (const s of ['plain', "it's", '$(touch x)', '`id`', '-rf', 'a b\nc', '\'"\\', '']) {
      expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`]).toString()).toBe(s);
    }
  });
});
