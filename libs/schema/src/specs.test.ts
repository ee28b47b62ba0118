import { describe, expect, it } from 'vitest';
import { jsonSchema, recordProblem, recordTypes } from './specs.js';

const file = { type: 'file', root: '/r', path: 'a.txt', size: 1, mtimeMs: 1.5, mode: 33188, ino: 2, dev: 3, nlink: 1, uid: 0, gid: 0 };

describe('recordProblem', () => {
  it('accepts a valid file record, with unknown fields kept', () => {
    expect(recordProblem({ ...file, extra: { any: 1 } })).toBeNull();
    expect(recordProblem({ ...file, hash: `sha256:${'a'.repeat(64)}` })).toBeNull();
  });
  it('accepts records of types it does not know (they are passed through)', () => {
    expect(recordProblem({ type: 'future-thing', whatever: [1] })).toBeNull();
  });
  it.each([
    [[1, 2], /array/],
    ['str', /string/],
    [null, /null/],
    [{ no: 'type' }, /type/],
    [{ ...file, path: '../x' }, /file\.path escapes/],
    [{ ...file, path: '/etc/passwd' }, /file\.path is absolute/],
    [{ ...file, root: 'relative' }, /root must be an absolute path/],
    [{ ...file, size: 'big' }, /size must be an integer/],
    [{ ...file, size: undefined }, /missing "size"/],
    [{ ...file, hash: 'md5:abc' }, /content id/],
    [{ ...file, pathBytes: Buffer.from('../../etc/passwd').toString('base64') }, /^file\.pathBytes escapes its root/],
    [{ ...file, pathBytes: Buffer.from('/etc/passwd').toString('base64') }, /^file\.pathBytes is absolute/],
    [{ ...file, pathBytes: 'not base64!' }, /must be base64/],
    [{ type: 'change', op: 'explode', path: 'a', location: 'x' }, /op must be one of/],
  ])('refuses %j', (value, why) => {
    expect(recordProblem(value)).toMatch(why);
  });
});

describe('jsonSchema', () => {
  it('publishes one schema per record type, derived from the same specs', () => {
    for (const type of recordTypes) {
      const schema = jsonSchema(type) as { properties: Record<string, unknown>; required: string[] };
      expect(schema.properties.type).toEqual({ const: type });
      expect(schema.required).toContain('type');
    }
    const fileSchema = jsonSchema('file') as { required: string[] };
    expect(fileSchema.required).toEqual(expect.arrayContaining(['root', 'path', 'size', 'mtimeMs', 'mode', 'ino', 'dev', 'nlink', 'uid', 'gid']));
    expect(jsonSchema('nope')).toBeUndefined();
  });
});
