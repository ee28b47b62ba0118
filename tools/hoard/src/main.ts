import fs from 'node:fs';
import { HOARD_VERSION } from '@hoard/cli';
import { ExitCode } from '@hoard/schema';

/** A command: loaded only when run, so `hoard X` pays for X alone. */
interface Command {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<never> }>;
}

/** Plumbing tools, each also installed as `hoard-<name>`. */
const commands: Record<string, Command> = {
  scan: { summary: 'list files under folders as JSONL file records', load: () => import('@hoard/tool-scan') },
  hash: { summary: 'add content ids to file records (parallel, cached)', load: () => import('@hoard/tool-hash') },
  validate: { summary: 'check a record stream against the schema, pass it on', load: () => import('@hoard/tool-validate') },
  schema: { summary: 'print the JSON Schema of a record type', load: () => import('@hoard/tool-schema') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    `hoard ${HOARD_VERSION}: keep your files in step everywhere they live, with full history.`,
    '',
    'Usage: hoard <command> [options]     (hoard <command> --help for its options)',
    '',
    'Commands:',
    ...lines,
    '',
    'Example:',
    '  hoard scan ~/Photos | hoard hash | jq -r .hash',
    '',
  ].join('\n');
}

/** `hoard <command> ...`: run the command's own main in this same process (no second start-up). */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    fs.writeSync(name === undefined ? 2 : 1, usage());
    process.exit(name === undefined ? ExitCode.usage : ExitCode.ok);
  }
  if (name === '--version' || name === '-v') {
    fs.writeSync(1, `${HOARD_VERSION}\n`);
    process.exit(ExitCode.ok);
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    fs.writeSync(2, `hoard: unknown command "${name}" (see hoard --help)\n`);
    process.exit(ExitCode.usage);
  }
  const tool = await command.load();
  await tool.main(rest);
}
