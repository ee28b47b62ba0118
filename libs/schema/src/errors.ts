import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/**
 * Errors that end a whole command. Per-item failures are not thrown: they flow
 * downstream as `error` records and only decide the exit code at the edge.
 */
export class HoardError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly code: string;
  constructor(message: string, code = 'failed', exitCode: ExitCodeValue = ExitCode.failed) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad arguments or options. */
export class UsageError extends HoardError {
  constructor(message: string) {
    super(message, 'usage', ExitCode.usage);
  }
}

/** A malformed input line; `where` is e.g. `stdin:12`. */
export class InputError extends HoardError {
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`, 'bad-input', ExitCode.usage);
    this.where = where;
  }
}

export class NoRepositoryError extends HoardError {
  constructor(from: string) {
    super(`not a hoard repository (or any parent up to /): ${from}`, 'no-repository', ExitCode.noRepository);
  }
}

export class LockedError extends HoardError {
  constructor(message: string) {
    super(message, 'locked', ExitCode.locked);
  }
}

/** Thrown when the reader of our output went away (EPIPE): stop quietly, exit 0. */
export class OutputClosed extends Error {
  constructor() {
    super('output closed');
    this.name = 'OutputClosed';
  }
}

/** The short code for a Node system error (`ENOENT`, `EACCES`...) or a generic one. */
export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return 'failed';
}

/** A one-line message for any thrown value, without a stack trace. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
