/**
 * ssh hands its command line to the far user's shell, so every argument that must travel
 * on it is single-quoted here; paths themselves travel in the JSONL, not on this line.
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_./=:@%+-]+$/.test(arg) && !arg.startsWith('-')) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The ssh program and its options: `HOARD_SSH_COMMAND` (like GIT_SSH_COMMAND: split on
 * blanks, no shell) or plain `ssh`, which reads the user's ~/.ssh/config (aliases, ports, keys).
 */
export function sshProgram(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env.HOARD_SSH_COMMAND?.trim();
  return custom ? custom.split(/\s+/) : ['ssh'];
}

/** `ssh [opts] [-p port] [-l user] host --`: the argv prefix reaching a host. */
export function sshArgv(target: { host: string; user?: string; port?: number }, env: NodeJS.ProcessEnv = process.env): string[] {
  const argv = [...sshProgram(env)];
  if (target.port) argv.push('-p', String(target.port));
  if (target.user) argv.push('-l', target.user);
  argv.push('--', target.host);
  return argv;
}
