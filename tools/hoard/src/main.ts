import fs from 'node:fs';
import { HOARD_VERSION } from '@hoard/cli';
import { ExitCode } from '@hoard/schema';

/** A command: loaded only when run, so `hoard X` pays for X alone. */
interface Command {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<never> }>;
}

/** A workflow: a zx script in scripts/ chaining the plumbing tools. */
function workflow(name: string): Promise<{ main: (argv: string[]) => Promise<never> }> {
  return import(new URL(`../../../scripts/${name}.mjs`, import.meta.url).href) as Promise<{ main: (argv: string[]) => Promise<never> }>;
}

/** Every command, each also installed as `hoard-<name>`. */
const commands: Record<string, Command> = {
  init: { summary: 'make a folder a hoard repository', load: () => import('@hoard/tool-init') },
  add: { summary: 'record the current state of the repository (scan, hash, diff-state, record)', load: () => import('@hoard/tool-add') },
  status: { summary: 'what changed since the last record', load: () => import('@hoard/tool-status') },
  missing: { summary: 'recorded files whose content is present nowhere hoard can see', load: () => import('@hoard/tool-missing') },
  events: { summary: 'the append-only event log', load: () => import('@hoard/tool-events') },
  state: { summary: 'state rebuild: recompute current state from the event log', load: () => import('@hoard/tool-state') },
  fsck: { summary: 'check the repository (--state), re-hash its content (--content) or a remote (--remote R)', load: () => import('@hoard/tool-fsck') },
  backup: { summary: 'back up tracked folders into the vault (sends only what the vault lacks)', load: () => import('@hoard/tool-backup') },
  restore: { summary: 'bring back a file, a folder as of a time, or everything from the vault', load: () => import('@hoard/tool-restore') },
  log: { summary: "a backed-up file's versions", load: () => import('@hoard/tool-log') },
  dir: { summary: 'track folders for backup (init) and see what is backed up (status)', load: () => import('@hoard/tool-dir') },
  config: { summary: "this host's id and vaults (init, list, vault init)", load: () => import('@hoard/tool-config') },
  forget: { summary: 'drop old versions by a retention policy', load: () => import('@hoard/tool-forget') },
  prune: { summary: 'delete vault blobs no host refers to', load: () => import('@hoard/tool-prune') },
  push: { summary: 'send the changes made here to a remote', load: () => workflow('push') },
  pull: { summary: 'bring the changes made at a remote here', load: () => workflow('pull') },
  sync: { summary: 'both ways, with conflict copies when both sides edited a file', load: () => workflow('sync') },
  remote: { summary: 'add, list, remove and fetch remotes (other repositories, ssh, rclone, offline)', load: () => import('@hoard/tool-remote') },
  ls: { summary: "a location's recorded files as JSONL", load: () => import('@hoard/tool-ls') },
  whereis: { summary: 'which locations hold a file or content id, verified when', load: () => import('@hoard/tool-whereis') },
  trash: { summary: 'list and restore what sync moved aside', load: () => import('@hoard/tool-trash') },
  scan: { summary: 'plumbing: list files under folders as JSONL file records', load: () => import('@hoard/tool-scan') },
  hash: { summary: 'plumbing: add content ids to file records (parallel, cached)', load: () => import('@hoard/tool-hash') },
  'diff-state': { summary: "plumbing: compare file records with a location's recorded state", load: () => import('@hoard/tool-diff-state') },
  record: { summary: 'plumbing: commit change records to the event log and state', load: () => import('@hoard/tool-record') },
  plan: { summary: 'plumbing: the actions bringing this repository and a remote in step (three-way)', load: () => import('@hoard/tool-plan') },
  stage: { summary: 'plumbing: hardlink content to send into .hoard/staging', load: () => import('@hoard/tool-stage') },
  transfer: { summary: 'plumbing: send staged content (rclone, rsync over ssh, local copies)', load: () => import('@hoard/tool-transfer') },
  integrate: { summary: 'plumbing: verify received content and store it', load: () => import('@hoard/tool-integrate') },
  reconcile: { summary: 'plumbing: make a tree match the plan (checkout, move, trash)', load: () => import('@hoard/tool-reconcile') },
  validate: { summary: 'plumbing: check a record stream against the schema, pass it on', load: () => import('@hoard/tool-validate') },
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
