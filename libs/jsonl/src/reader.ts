import { StringDecoder } from 'node:string_decoder';
import { recordProblem, type AnyRecord } from '@hoard/schema';
import { itemLines, type OutputItem } from './writer.js';

/** One input line: the parsed record, or why it is not one. `text` is kept for exact pass-through. */
export interface InputLine {
  lineNo: number;
  text: string;
  record?: AnyRecord;
  problem?: string;
  /** The record is another tool's object, handed over in process: read it, never change it. */
  handedOver?: true;
}

/**
 * Split a byte stream into lines, yielding them in batches so that a million records
 * do not cost a million async steps and per-batch work (one cache query, one message to
 * a thread) is amortized. A batch is yielded once it holds `minLines`; short of that,
 * when the stream has nothing more buffered we wait up to `lingerMs` for more (a pipe
 * hands over a few KB at a time while its writer is busy), then yield what we have, so
 * a slow or interactive producer is never kept waiting long. Memory holds one batch plus
 * one partial line. Blank lines are skipped but still counted.
 */
export async function* readLineBatches(
  input: AsyncIterable<Buffer | string> & { readableLength?: number },
  minLines = 256,
  lingerMs = 2,
): AsyncGenerator<InputLine[]> {
  const decoder = new StringDecoder('utf8');
  const chunks = input[Symbol.asyncIterator]();
  let carry = '';
  let lineNo = 0;
  let batch: InputLine[] = [];
  let pending = chunks.next();
  for (;;) {
    let next: IteratorResult<Buffer | string> | typeof LINGERED;
    if (batch.length > 0 && !input.readableLength) {
      let timer: NodeJS.Timeout | undefined;
      next = await Promise.race([pending, new Promise<typeof LINGERED>((r) => (timer = setTimeout(r, lingerMs, LINGERED)))]);
      clearTimeout(timer);
      if (next === LINGERED) {
        yield batch;
        batch = [];
        continue;
      }
    } else {
      next = await pending;
    }
    if (next.done) break;
    pending = chunks.next();
    const chunk = next.value;
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      lineNo++;
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end > start) batch.push(parseLine(text.slice(start, end), lineNo));
      start = nl + 1;
    }
    carry = text.slice(start);
    if (batch.length >= minLines) {
      yield batch;
      batch = [];
    }
  }
  carry += decoder.end();
  if (carry.length) {
    lineNo++;
    if (carry.trim()) batch.push(parseLine(carry, lineNo));
  }
  if (batch.length) yield batch;
}

const LINGERED = Symbol('lingered');

/** Parse and validate one line; never throws. */
export function parseLine(text: string, lineNo: number): InputLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { lineNo, text, problem: `not JSON (${(err as Error).message}): ${preview(text)}` };
  }
  const problem = recordProblem(value);
  if (problem) return { lineNo, text, problem: `${problem}: ${preview(text)}` };
  return { lineNo, text, record: value as AnyRecord };
}

function preview(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}


/**
 * Feed one tool's output to another in the same process: pre-serialized lines are
 * parsed and validated like stdin would be, records are taken as they are. `trusted`:
 * the lines were made by hoard's own code in this process (a scan's native lines), so they
 * are parsed without the schema's check, as records handed over are (a first backup of
 * 100,000 files had spent ~0.1 s checking them).
 */
export async function* asInputLines(batches: AsyncIterable<OutputItem[]> | Iterable<OutputItem[]>, options: { trusted?: boolean } = {}): AsyncGenerator<InputLine[]> {
  const parse = options.trusted ? parseTrustedLine : parseLine;
  let lineNo = 0;
  for await (const batch of batches) {
    yield batch.flatMap(itemLines).map((item) => (typeof item === 'string' ? parse(item, ++lineNo) : recordLine(item, ++lineNo)));
  }
}

/** A line hoard's own code made: parsed, not checked (a line that is not JSON still says so). */
function parseTrustedLine(text: string, lineNo: number): InputLine {
  try {
    return { lineNo, text, record: JSON.parse(text) as AnyRecord };
  } catch {
    return parseLine(text, lineNo);
  }
}

/** An input line for a record handed over in process: its text is made only if asked for. */
function recordLine(record: AnyRecord, lineNo: number): InputLine {
  return new RecordLine(lineNo, record);
}

// A class, not an object literal with a getter: a literal made a closure and an accessor per line.
class RecordLine implements InputLine {
  readonly handedOver = true as const;
  private madeText: string | undefined;
  constructor(
    readonly lineNo: number,
    readonly record: AnyRecord,
  ) {}
  get text(): string {
    return (this.madeText ??= JSON.stringify(this.record));
  }
}
