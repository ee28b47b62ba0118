import fs from 'node:fs';
import { cac } from 'cac';
import {
  ExitCode,
  HoardError,
  OutputClosed,
  UsageError,
  errorMessage,
  type ErrorRecord,
  type ExitCodeValue,
  type NoteRecord,
} from '@hoard/schema';
import { JsonlWriter, readLineBatches, type InputLine, type OutputItem } from '@hoard/jsonl';
import { Progress } from './progress.js';
import { HOARD_VERSION } from './version.js';

export interface OptionDef {
  /** cac flags, e.g. `--algo <algo>` or `--no-cache`. */
  flags: string;
  description: string;
  default?: unknown;
}

/** What a tool says about one item; the edge adds `type` and `tool`. */
export interface ItemReport {
  code: string;
  message: string;
  path?: string;
  root?: string;
}

/** Options several repository tools share. */
export const REPO_OPTION: OptionDef = { flags: '--repo <dir>', description: 'the repository (default: the one containing the current folder)' };
export const WAIT_OPTION: OptionDef = { flags: '--wait <seconds>', description: 'how long to wait for another writer before failing', default: 30 };

/** An option's value that must be a whole number above 0 (a count), or undefined when not given. */
export function countOption(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isInteger(n) && n > 0)) throw new UsageError(`${flag} takes a whole number above 0`);
  return n;
}

export interface ToolContext {
  /** Positional arguments. */
  args: string[];
  options: Record<string, unknown>;
  /** Input lines from stdin, in batches. */
  input(): AsyncGenerator<InputLine[]>;
  /** Write one output record or pre-serialized line (buffered). */
  emit(item: OutputItem): void;
  /** Hand buffered output to the reader now; tools call it after each batch. */
  flush(): void;
  /** Report an item-level failure: in-band record + stderr line; the tool goes on and exits 1. */
  fail(error: ItemReport): void;
  /** Report a malformed input line: in-band record + stderr line; exit 2 at the end. */
  badInput(line: InputLine): void;
  note(note: ItemReport): void;
  progress: Progress;
  /** Set once SIGINT/SIGTERM arrived; long loops should stop at the next item. */
  readonly interrupted: boolean;
}

export interface ToolDefinition {
  /** The verb: `hash` runs as `hoard hash` and `hoard-hash`. */
  name: string;
  summary: string;
  /** Positional part of the usage line, e.g. `[DIR...]`. */
  args?: string;
  options?: OptionDef[];
  examples?: string[];
  run(ctx: ToolContext): Promise<void>;
}

/**
 * The edge of every tool: parse arguments, wire stdin/stdout, turn errors into the
 * one exit-code table, stop cleanly on EPIPE and SIGINT. Never prints a stack trace
 * unless HOARD_DEBUG is set.
 */
export async function runTool(def: ToolDefinition, argv: string[], programName = `hoard ${def.name}`): Promise<never> {
  // Answered before anything else loads: scripts call --version to probe for hoard.
  // (Unless the tool has a --version option of its own, like restore's --version N.)
  const ownVersion = def.options?.some((o) => o.flags.startsWith('--version ')) ?? false;
  if (!ownVersion && (argv.includes('--version') || argv.includes('-v'))) {
    fs.writeSync(1, `${HOARD_VERSION}\n`);
    process.exit(ExitCode.ok);
  }
  const writer = new JsonlWriter(1);
  const progress = new Progress(def.name);
  let failures = 0;
  let badLines = 0;
  let interrupted = false;

  const stderrLine = (text: string) => {
    progress.clear();
    try {
      fs.writeSync(2, `${programName}: ${text}\n`);
    } catch {
      /* stderr gone: nothing more we can say */
    }
  };

  const finish = (code: ExitCodeValue): never => {
    progress.stop();
    try {
      writer.flush();
    } catch (err) {
      if (!(err instanceof OutputClosed)) stderrLine(errorMessage(err));
    }
    process.exit(code);
  };

  const onSignal = () => {
    interrupted = true;
    stderrLine('interrupted');
    finish(ExitCode.interrupted);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const ctx: ToolContext = {
    args: [],
    options: {},
    input() {
      if (process.stdin.isTTY) {
        throw new UsageError(`reads JSONL records on stdin; pipe some in, e.g. hoard scan DIR | ${programName}`);
      }
      return readLineBatches(process.stdin);
    },
    emit(item) {
      if (typeof item !== 'string' && !Buffer.isBuffer(item) && item.type === 'error' && item.tool === def.name) {
        // Our own failures: counted for the exit code and told on stderr too.
        if (item.code === 'bad-input') badLines++;
        else failures++;
        const where = item.line !== undefined ? `stdin:${String(item.line)}: ` : item.path !== undefined ? `${String(item.path)}: ` : '';
        stderrLine(`${where}${String(item.message)}`);
      } else if (typeof item !== 'string' && !Buffer.isBuffer(item) && item.type === 'result' && item.ok === false && item.tool === def.name) {
        // A failed item of ours: its result record says so in-band; count it and tell stderr.
        failures++;
        stderrLine(`${item.path !== undefined ? `${String(item.path)}: ` : item.hash !== undefined ? `${String(item.hash)}: ` : ''}${String(item.message ?? item.code ?? 'failed')}`);
      }
      writer.write(item);
    },
    flush() {
      writer.flush();
    },
    fail(error) {
      ctx.emit({ type: 'error', tool: def.name, ...error } satisfies ErrorRecord);
    },
    badInput(line) {
      ctx.emit({ type: 'error', tool: def.name, code: 'bad-input', line: line.lineNo, message: line.problem ?? 'bad input' } satisfies ErrorRecord);
    },
    note(note) {
      ctx.emit({ type: 'note', tool: def.name, ...note } satisfies NoteRecord);
    },
    progress,
    get interrupted() {
      return interrupted;
    },
  };

  try {
    parseArguments(def, argv, programName, ctx);
    await def.run(ctx);
  } catch (err) {
    if (err instanceof OutputClosed) finish(ExitCode.ok);
    if (err instanceof HoardError) {
      stderrLine(err.message);
      finish(err.exitCode);
    }
    if (isCacError(err)) {
      stderrLine(`${errorMessage(err)} (see ${programName} --help)`);
      finish(ExitCode.usage);
    }
    stderrLine(process.env.HOARD_DEBUG ? String((err as Error)?.stack ?? err) : `internal error: ${errorMessage(err)}`);
    finish(ExitCode.failed);
  }
  return finish(badLines ? ExitCode.usage : failures ? ExitCode.failed : ExitCode.ok);
}

function isCacError(err: unknown): boolean {
  return err instanceof Error && err.name === 'CACError';
}

function parseArguments(def: ToolDefinition, argv: string[], programName: string, ctx: ToolContext): void {
  const cli = cac(programName);
  const command = cli.command(def.args ? `${def.args}` : '', def.summary);
  for (const opt of def.options ?? []) {
    command.option(opt.flags, opt.description, opt.default === undefined ? undefined : { default: opt.default });
  }
  for (const example of def.examples ?? []) command.example(example);
  cli.help();
  const parsed = cli.parse(['node', programName, ...argv], { run: false });
  if (parsed.options.help) process.exit(ExitCode.ok);
  if (!cli.matchedCommand && parsed.args.length && !def.args) {
    throw new UsageError(`unexpected argument: ${parsed.args[0]}`);
  }
  const { '--': _rest, help: _h, ...options } = parsed.options;
  ctx.args = parsed.args.map(String);
  ctx.options = options;
  command.checkUnknownOptions?.();
  command.checkRequiredArgs?.();
  command.checkOptionValue?.();
}

