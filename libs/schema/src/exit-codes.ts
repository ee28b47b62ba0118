/**
 * The one exit-code table every hoard command uses (restic's is the model).
 * Scripts must treat any code not listed here as failure.
 */
export const ExitCode = {
  /** Everything asked for was done. */
  ok: 0,
  /** The command failed, or some items failed (each one reported as an `error` record). */
  failed: 1,
  /** Wrong arguments, or input that is not valid JSONL records. */
  usage: 2,
  /** No hoard repository here or above. */
  noRepository: 10,
  /** Another hoard command holds the repository's lock. */
  locked: 11,
  /** Stopped by SIGINT/SIGTERM; output written so far is complete lines. */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
