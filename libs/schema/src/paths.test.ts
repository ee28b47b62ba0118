import { describe, expect, it } from 'vitest';
import { comparePaths, isUtf8, joinRecordPath, relativeBytesProblem, relativePathProblem } from './paths.js';

describe('relativePathProblem', () => {
  it.each(['a', 'a/b', '.hidden', 'a/..b', '...', 'with space/and "quotes"', 'new\nline', '$(touch x)', '-rf', 'ünï/ｃｏｄｅ'])('accepts %j', (p) => {
    expect(relativePathProblem(p)).toBeNull();
  });
  it.each([
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['../x', /escapes/],
    ['a/../../x', /escapes/],
    ['a/..', /escapes/],
    ['./a', /"\." segment/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['a\0b', /NUL/],
  ])('refuses %j', (p, why) => {
    expect(relativePathProblem(p)).toMatch(why);
  });
  it('refuses non-strings', () => {
    expect(relativePathProblem(42)).toMatch(/string/);
  });
});

describe('relativeBytesProblem', () => {
  it('applies the same rules to raw bytes', () => {
    expect(relativeBytesProblem(Buffer.from([0x61, 0xff, 0x2f, 0x62]))).toBeNull();
    expect(relativeBytesProblem(Buffer.from('../x'))).toMatch(/escapes/);
    expect(relativeBytesProblem(Buffer.from('/x'))).toMatch(/absolute/);
    expect(relativeBytesProblem(Buffer.from('a/./b'))).toMatch(/"\."/);
  });
});

describe('comparePaths', () => {
  it('orders by code point, like UTF-8 bytes and SQLite', () => {
    const names = ['b', 'a/b', 'a.txt', 'a', '\u{1F600}', '\uFFFD', 'é', 'e\u0301', 'Z', ''];
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...names].sort(comparePaths)).toEqual(byBytes);
  });
  it('puts an astral character after U+FFFD, unlike plain string comparison', () => {
    expect('\u{1F600}' < '\uFFFD').toBe(true);
    expect(comparePaths('\u{1F600}', '\uFFFD')).toBe(1);
  });
});

describe('isUtf8 and joinRecordPath', () => {
  it('tells valid from invalid UTF-8, even when the text holds U+FFFD itself', () => {
    expect(isUtf8(Buffer.from('plain'))).toBe(true);
    expect(isUtf8(Buffer.from('real \uFFFD char'))).toBe(true);
    expect(isUtf8(Buffer.from([0x61, 0xff]))).toBe(false);
  });
  it('joins with the exact bytes when given', () => {
    expect(joinRecordPath('/r', 'a/b')).toBe('/r/a/b');
    const raw = Buffer.from([0x78, 0xff]);
    expect(joinRecordPath('/r', 'x\uFFFD', raw.toString('base64'))).toEqual(Buffer.concat([Buffer.from('/r/'), raw]));
  });
});
