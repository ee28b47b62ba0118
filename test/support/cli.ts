import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

/** The repository root and its installed binaries (`npm install` links them here). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'node_modules', '.bin');

/** Environment for running hoard: its binaries first on PATH, no progress bars, a private cache. */
export function hoardEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${BIN}:${process.env.PATH}`, HOARD_NO_PROGRESS: '1', ...extra };
  // Otherwise a top-level bash whose stdin is a socket thinks sshd started it and reads ~/.bashrc.
  for (const v of ['SSH_CLIENT', 'SSH2_CLIENT', 'SSH_CONNECTION']) delete env[v];
  env.SHLVL = String(Math.max(1, Number(process.env.SHLVL) || 0));
  return env;
}

/**
 * Run a bash pipeline with `set -o pipefail`. Paths go in through environment
 * variables, never spliced into the script, so hostile names cannot change it.
 */
export function sh(script: string, env: Record<string, string> = {}, options: Options = {}) {
  return execa('bash', ['-c', `set -o pipefail\n${script}`], { env: hoardEnv(env), reject: false, ...options });
}

/** Parse JSONL output, failing the test on any line that is not JSON. */
export function jsonl(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`output line ${i + 1} is not JSON: ${l}`);
      }
    });
}
