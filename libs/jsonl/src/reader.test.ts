import { describe, expect, it } from 'vitest';
import { asInputLines, readLineBatches, type InputLine } from './reader.js';

async function collect(chunks: Array<Buffer | string>, minLines = 1): Promise<InputLine[][]> {
  async function* source() {
    yield* chunks;
  }
  const batches: InputLine[][] = [];
  for await (const b of readLineBatches(source(), minLines)) batches.push(b);
  return batches;
}

describe('readLineBatches', () => {
  it('numbers lines across chunk boundaries, skipping blank ones, keeping exact text', async () => {
    const lines = (await collect(['{"type":"a","x":1}\n{"ty', 'pe":"b"}\n\n{"type":"c"}\r\n{"type":"d"}'])).flat();
    expect(lines.map((l) => [l.lineNo, l.record?.type])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [4, 'c'],
      [5, 'd'],
    ]);
    expect(lines[0]!.text).toBe('{"type":"a","x":1}');
  });

  it('decodes a multi-byte character split between chunks', async () => {
    const bytes = Buffer.from('{"type":"file-ish","name":"ü€😀"}\n');
    const lines = (await collect([bytes.subarray(0, 29), bytes.subarray(29, 31), bytes.subarray(31)])).flat();
    expect(lines[0]!.record).toEqual({ type: 'file-ish', name: 'ü€😀' });
  });

  it('reports bad lines as values, with their number, and goes on', async () => {
    const lines = (await collect(['{"type":"ok"}\nnot json\n[1,2]\n{"no":"type"}\n{"type":"ok"}\n'])).flat();
    expect(lines.map((l) => l.lineNo)).toEqual([1, 2, 3, 4, 5]);
    expect(lines[1]!.problem).toMatch(/^not JSON/);
    expect(lines[2]!.problem).toMatch(/array/);
    expect(lines[3]!.problem).toMatch(/no string "type"/);
    expect(lines[4]!.record).toEqual({ type: 'ok' });
  });

  it('groups lines into batches of at least minLines', async () => {
    const text = Array.from({ length: 10 }, (_, i) => `{"type":"n","i":${i}}\n`);
    const batches = await collect(text, 4);
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
  });
});


describe('asInputLines', () => {
  const lines = ['{"type":"file","root":"/r","path":"a","size":1,"mtimeMs":1,"mode":33188,"ino":5,"dev":1,"nlink":1,"uid":0,"gid":0}', '{"type":"file","path":"b"}', '{oops'];
  const run = async (options?: { trusted?: boolean }) => {
    const out: InputLine[] = [];
    for await (const b of asInputLines([lines, [{ type: 'scan', root: '/r', files: 1 }]], options)) out.push(...b);
    return out.map((l) => [l.lineNo, l.record?.type ?? null, l.problem ?? null]);
  };

  it('checks lines handed over in process as stdin would be, and takes records as they are', async () => {
    const out = await run();
    expect(out[0]).toEqual([1, 'file', null]);
    expect(out[1]!.slice(0, 2)).toEqual([2, null]); // a file record with no root is refused
    expect(out[1]![2]).toMatch(/missing "root"/);
    expect(out[2]!.slice(0, 2)).toEqual([3, null]);
    expect(out[2]![2]).toMatch(/^not JSON/);
    expect(out[3]).toEqual([4, 'scan', null]);
  });

  it('parses lines hoard made itself (trusted) without the schema check, and still reports one that is not JSON', async () => {
    const out = await run({ trusted: true });
    expect(out.map((l) => l.slice(0, 2))).toEqual([[1, 'file'], [2, 'file'], [3, null], [4, 'scan']]);
    expect(out[2]![2]).toMatch(/^not JSON/);
  });
});
