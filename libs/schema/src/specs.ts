/**
 * One description of each record type, from which both the runtime validator and
 * the published JSON Schema are derived, so the two can never disagree.
 */
import { relativeBytesProblem, relativePathProblem } from './paths.js';

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'relpath' | 'abspath' | 'contentId' | 'base64' | 'relpathBytes';

interface FieldSpec {
  kind: Kind;
  required?: boolean;
  enum?: readonly string[];
  description: string;
}

interface RecordSpec {
  description: string;
  fields: Record<string, FieldSpec>;
}

const req = (kind: Kind, description: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ kind, required: true, description, ...extra });
const opt = (kind: Kind, description: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ kind, description, ...extra });

const CONTENT_ID = /^(sha256|blake3):[0-9a-f]{64}$|^(xxh3|xxh64):[0-9a-f]{16}$/;

export const recordSpecs: Record<string, RecordSpec> = {
  file: {
    description: 'One entry seen by scan: a regular file, or a symlink (kind "symlink", never followed).',
    fields: {
      root: req('abspath', 'Absolute path of the scanned folder.'),
      path: req('relpath', 'Path relative to root, "/"-separated; readable form when the name is not UTF-8.'),
      pathBytes: opt('relpathBytes', 'Base64 of the exact path bytes; present only when they are not valid UTF-8. Same rules as path.'),
      size: req('integer', 'Size in bytes.'),
      mtimeMs: req('number', 'Modification time, ms since the epoch (fractional part = sub-ms precision).'),
      mode: req('integer', 'st_mode: file type and permission bits.'),
      ino: req('integer', 'Inode number.'),
      dev: req('integer', 'Device number.'),
      nlink: req('integer', 'Hard link count.'),
      uid: req('integer', 'Owner user id.'),
      gid: req('integer', 'Owner group id.'),
      atimeMs: opt('number', 'Access time, ms since the epoch.'),
      ctimeMs: opt('number', 'Status change time, ms since the epoch.'),
      birthtimeMs: opt('number', 'Birth time, ms since the epoch (0 where the system has none).'),
      kind: opt('string', 'Absent for regular files.', { enum: ['symlink'] }),
      target: opt('string', 'Symlink target as stored, never resolved.'),
      hash: opt('contentId', 'Content id "<algo>:<hex>", added by hash.'),
    },
  },
  error: {
    description: 'An item-level failure: written in-band on stdout and as one line on stderr.',
    fields: {
      tool: req('string', 'The tool that reported it.'),
      code: req('string', 'Short machine code: ENOENT, EACCES, bad-input, changed-while-reading...'),
      message: req('string', 'One readable line.'),
      path: opt('string', 'The path concerned, when there is one.'),
      root: opt('string', 'The root of that path.'),
      line: opt('integer', 'Input line number, for bad input.'),
    },
  },
  note: {
    description: 'Something skipped or worth knowing that is not a failure.',
    fields: {
      tool: req('string', 'The tool that wrote it.'),
      code: req('string', 'Short machine code, e.g. special-file.'),
      message: req('string', 'One readable line.'),
      path: opt('string', 'The path concerned.'),
      root: opt('string', 'The root of that path.'),
    },
  },
  scan: {
    description: 'Written by scan after each root; complete=false or a missing scan record means deletions must not be inferred.',
    fields: {
      root: req('abspath', 'Absolute path of the scanned folder.'),
      under: opt('relpath', 'Set when only this part of the root was scanned.'),
      files: req('integer', 'file records written.'),
      bytes: req('integer', 'Sum of their sizes.'),
      errors: req('integer', 'error records written.'),
      complete: req('boolean', 'True when every folder under the root was read.'),
      startedAt: req('string', 'ISO time.'),
      finishedAt: req('string', 'ISO time.'),
    },
  },
  change: {
    description: 'Written by diff-state: one difference between a location and its recorded state.',
    fields: {
      op: req('string', 'What changed.', { enum: ['add', 'modify', 'delete', 'move', 'unchanged'] }),
      path: req('relpath', 'Path relative to the location root.'),
      from: opt('relpath', 'Previous path, for move.'),
      hash: opt('contentId', 'Content id now.'),
      prevHash: opt('contentId', 'Content id before.'),
      location: req('string', 'Location name.'),
    },
  },
  event: {
    description: 'One entry of a repository\'s append-only event log (hoard events).',
    fields: {
      seq: req('integer', 'Position in the log, increasing.'),
      time: req('string', 'ISO time it was recorded.'),
      location: req('string', 'Location name.'),
      op: req('string', 'What happened.', { enum: ['add', 'modify', 'delete', 'move'] }),
      path: req('relpath', 'Path relative to the location root.'),
      pathBytes: opt('relpathBytes', 'Exact path bytes when not UTF-8.'),
      from: opt('relpath', 'Previous path, for move.'),
      hash: opt('contentId', 'Content id after.'),
      prevHash: opt('contentId', 'Content id before.'),
      origin: req('string', 'Who changed the file: a person (user) or hoard itself (sync).', { enum: ['user', 'sync'] }),
      scan: opt('integer', 'The scan that observed it.'),
    },
  },
  action: {
    description: 'Written by plan: one step for stage, transfer, integrate or reconcile. Applying the same action twice is harmless.',
    fields: {
      op: req('string', 'copy: send a blob to target; checkout: write path from a blob; move: rename from -> path on the target; trash: move path to the target\'s trash; skip: nothing (see reason).', {
        enum: ['copy', 'checkout', 'move', 'trash', 'skip'],
      }),
      hash: opt('contentId', 'The blob concerned.'),
      size: opt('integer', 'Its size in bytes.'),
      path: opt('relpath', 'Path in the target tree (copy: a path holding the content at the source).'),
      pathBytes: opt('relpathBytes', 'Exact bytes of path when not UTF-8.'),
      from: opt('relpath', 'Previous path, for move.'),
      fromBytes: opt('relpathBytes', 'Exact bytes of from when not UTF-8.'),
      prevHash: opt('contentId', 'What the target holds at path now, expected by checkout, move and trash; anything else there is kept (conflict).'),
      mode: opt('integer', 'checkout: file mode to set.'),
      mtimeMs: opt('number', 'checkout: modification time to set.'),
      source: opt('string', 'Where the content comes from (location name).'),
      target: req('string', 'Where the step happens (location name).'),
      reason: opt('string', 'Why: conflict, unchanged...'),
    },
  },
  entry: {
    description: "One file of a location's recorded state (hoard ls).",
    fields: {
      location: req('string', 'Location name.'),
      path: req('relpath', 'Path relative to the location root.'),
      pathBytes: opt('relpathBytes', 'Exact path bytes when not UTF-8.'),
      hash: req('contentId', 'Content id.'),
      size: req('integer', 'Size in bytes.'),
      mode: req('integer', 'st_mode.'),
      mtimeMs: req('number', 'Modification time, ms since the epoch.'),
    },
  },
  blob: {
    description: 'A blob a location holds in its store (outside its tree).',
    fields: {
      location: req('string', 'Location name.'),
      hash: req('contentId', 'Content id.'),
      size: req('integer', 'Size in bytes.'),
    },
  },
  result: {
    description: 'One per item from stage, transfer, integrate and reconcile.',
    fields: {
      tool: req('string', 'The tool that did it.'),
      op: req('string', 'What it did.'),
      ok: req('boolean', 'Whether it succeeded.'),
      path: opt('string', 'Path concerned.'),
      hash: opt('contentId', 'Blob concerned.'),
      key: opt('string', 'Staging key of the blob (sha256/ab/cd/<hex>).'),
      bytes: opt('integer', 'Bytes moved.'),
      target: opt('string', 'Location concerned.'),
      code: opt('string', 'Why it failed, when ok is false.'),
      message: opt('string', 'One readable line, when ok is false.'),
    },
  },
  summary: {
    description: 'The last record of a workflow under --json.',
    fields: {
      command: req('string', 'The workflow.'),
      errors: req('integer', 'How many errors occurred.'),
    },
  },
};

export const recordTypes = Object.keys(recordSpecs);

function kindProblem(kind: Kind, v: unknown): string | null {
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? null : 'must be a string';
    case 'integer':
      return Number.isInteger(v) ? null : 'must be an integer';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? null : 'must be a number';
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'relpath':
      return relativePathProblem(v);
    case 'abspath':
      return typeof v === 'string' && v.startsWith('/') && !v.includes('\0') ? null : 'must be an absolute path';
    case 'contentId':
      return typeof v === 'string' && CONTENT_ID.test(v) ? null : 'must be a content id like sha256:<64 hex>';
    case 'base64':
      return typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? null : 'must be base64';
    case 'relpathBytes':
      // The bytes are what tools open: they obey the same rules as a readable path.
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return 'must be base64';
      return relativeBytesProblem(Buffer.from(v, 'base64'));
  }
}

/**
 * Why `value` is not a valid record of a known type, or null. Records of unknown
 * types are valid here (tools pass them through); unknown fields are always kept.
 */
export function recordProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return Array.isArray(value) ? 'expected a JSON object, got an array' : `expected a JSON object, got ${value === null ? 'null' : typeof value}`;
  }
  const rec = value as Record<string, unknown>;
  if (typeof rec.type !== 'string') return 'record has no string "type"';
  const spec = recordSpecs[rec.type];
  if (!spec) return null;
  for (const name in spec.fields) {
    const field = spec.fields[name]!;
    const v = rec[name];
    if (v === undefined) {
      if (field.required) return `${rec.type} record is missing "${name}"`;
      continue;
    }
    const problem = kindProblem(field.kind, v);
    if (problem) return `${rec.type}.${name} ${problem.replace(/^path(Bytes)? /, '')}`;
    if (field.enum && !field.enum.includes(v as string)) return `${rec.type}.${name} must be one of ${field.enum.join(', ')}`;
  }
  return null;
}

const JSON_KIND: Record<Kind, object> = {
  string: { type: 'string' },
  integer: { type: 'integer' },
  number: { type: 'number' },
  boolean: { type: 'boolean' },
  relpath: { type: 'string', minLength: 1, not: { pattern: '(^/|(^|/)\\.\\.?(/|$)|//|/$)' } },
  abspath: { type: 'string', pattern: '^/' },
  contentId: { type: 'string', pattern: CONTENT_ID.source },
  base64: { type: 'string', contentEncoding: 'base64' },
  relpathBytes: { type: 'string', contentEncoding: 'base64', description: 'decoded: a relative path, no "..", not absolute' },
};

/** The JSON Schema (draft 2020-12) of one record type. */
export function jsonSchema(type: string): object | undefined {
  const spec = recordSpecs[type];
  if (!spec) return undefined;
  const properties: Record<string, object> = { type: { const: type } };
  const required = ['type'];
  for (const [name, field] of Object.entries(spec.fields)) {
    properties[name] = { ...JSON_KIND[field.kind], ...(field.enum ? { enum: field.enum } : {}), description: field.description };
    if (field.required) required.push(name);
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `hoard:record/${type}`,
    title: `hoard ${type} record`,
    description: spec.description,
    type: 'object',
    properties,
    required,
    additionalProperties: true,
  };
}
