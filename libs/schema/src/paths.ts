/**
 * Paths in records: relative to `root`, `/`-separated, never absolute, never `..`.
 * A name whose bytes are not valid UTF-8 travels reversibly: `path` holds a readable
 * form (invalid bytes shown as U+FFFD) and `pathBytes` the exact bytes in base64.
 */

/** Why `p` is not a safe relative record path, or null when it is. */
export function relativePathProblem(p: unknown): string | null {
  if (typeof p !== 'string') return 'path must be a string';
  if (p.length === 0) return 'path is empty';
  if (p.charCodeAt(0) === 47 /* / */) return `path is absolute: ${JSON.stringify(p)}`;
  if (p.includes('\0')) return 'path contains a NUL byte';
  // Fast path: no dot-only segment and no empty segment is possible without these.
  if (!p.includes('//') && !p.endsWith('/') && !/(^|\/)\.\.?(\/|$)/.test(p)) return null;
  for (const seg of p.split('/')) {
    if (seg === '') return `path has an empty segment: ${JSON.stringify(p)}`;
    if (seg === '..') return `path escapes its root: ${JSON.stringify(p)}`;
    if (seg === '.') return `path has a "." segment: ${JSON.stringify(p)}`;
  }
  return null;
}

/** Same rules for the raw bytes of a non-UTF-8 path. */
export function relativeBytesProblem(bytes: Buffer): string | null {
  if (bytes.length === 0) return 'pathBytes is empty';
  if (bytes[0] === 47) return 'pathBytes is absolute';
  if (bytes.includes(0)) return 'pathBytes contains a NUL byte';
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 47) {
      const len = i - start;
      if (len === 0) return 'pathBytes has an empty segment';
      if (len === 1 && bytes[start] === 46) return 'pathBytes has a "." segment';
      if (len === 2 && bytes[start] === 46 && bytes[start + 1] === 46) return 'pathBytes escapes its root';
      start = i + 1;
    }
  }
  return null;
}

/** Decode base64 `pathBytes`. */
export function decodePathBytes(b64: string): Buffer {
  return Buffer.from(b64, 'base64');
}

/** True when `bytes` is valid UTF-8 (decoding then encoding gives the same bytes). */
export function isUtf8(bytes: Buffer): boolean {
  const s = bytes.toString('utf8');
  if (!s.includes('\uFFFD')) return true;
  return Buffer.from(s, 'utf8').equals(bytes);
}

/**
 * Order of paths everywhere in hoard: by Unicode code point, which equals UTF-8 byte
 * order (and SQLite's BINARY collation). Plain JS `<` compares UTF-16 code units, which
 * differs only for astral characters against U+E000..U+FFFF; fix that case up.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) {
      // Surrogates (astral code points) sort after U+E000..U+FFFF in code point order.
      ca = ca <= 0xdfff ? ca + 0x2000 : ca - 0x800;
      cb = cb <= 0xdfff ? cb + 0x2000 : cb - 0x800;
    }
    return ca < cb ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/** Join a root and a record path for the file system, using the exact bytes when given. */
export function joinRecordPath(root: string, path: string, pathBytes?: string): string | Buffer {
  if (pathBytes === undefined) return root.endsWith('/') ? root + path : `${root}/${path}`;
  const prefix = Buffer.from(root.endsWith('/') ? root : `${root}/`, 'utf8');
  return Buffer.concat([prefix, decodePathBytes(pathBytes)]);
}
