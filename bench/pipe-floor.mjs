#!/usr/bin/env node
// The floor under M4b (`hoard scan DIR | hoard hash`, warm cache, <= 1.2x `hoard scan DIR`):
// what any second process in the pipe costs on this machine, whatever it does.
//
//   node bench/pipe-floor.mjs [DIR] [--runs N]
//
// Times, interleaved round by round (median of N): the scan alone; the scan into `cat`;
// into a Node process that only copies stdin to stdout; into a 15-line Node consumer
// that only splices a constant hash into each line, on Buffers (no parsing, no
// validation, no cache: less than hoard hash must do); the real
// `scan | hash` with a warm cache; and the scan with its reader limited to one thread
// (HOARD_SCAN_THREADS=1), to show what leaving a core free for the consumer costs the
// scan itself. DIR defaults to the bench corpus's small tree.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt === -1 ? 9 : Number(args[runsAt + 1]);
const dir = path.resolve(args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? path.join(REPO, 'bench', '.work', 'corpus', 'small'));
if (!fs.existsSync(dir)) {
  console.error(`pipe-floor: ${dir} does not exist (run npm run bench once, or name a folder)`);
  process.exit(2);
}
const hoard = path.join(REPO, 'node_modules', '.bin', 'hoard');
const consumer = path.join(REPO, 'bench', '.work', 'splice-consumer.mjs');
fs.mkdirSync(path.dirname(consumer), { recursive: true });
fs.writeFileSync(
  consumer,
  `const hash = Buffer.from(',"hash":"sha256:${'0'.repeat(64)}"}\\n');
let carry = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
  const parts = [];
  let start = 0;
  for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
    parts.push(buf.subarray(start, nl - 1), hash);
    start = nl + 1;
  }
  carry = buf.subarray(start);
  process.stdout.write(Buffer.concat(parts));
});
`,
);
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const variants = {
  'scan alone': `${q(hoard)} scan ${q(dir)} > /dev/null`,
  'scan | cat': `${q(hoard)} scan ${q(dir)} | cat > /dev/null`,
  'scan | node copying stdin to stdout': `${q(hoard)} scan ${q(dir)} | node -e 'process.stdin.pipe(process.stdout)' > /dev/null`,
  'scan | splice (15 lines of Node)': `${q(hoard)} scan ${q(dir)} | node ${q(consumer)} > /dev/null`,
  'scan | hash (warm cache)': `${q(hoard)} scan ${q(dir)} | ${q(hoard)} hash > /dev/null`,
  'scan alone, one reader thread': `HOARD_SCAN_THREADS=1 ${q(hoard)} scan ${q(dir)} > /dev/null`,
};
// Warm the page cache and the hash cache.
execFileSync('bash', ['-c', variants['scan | hash (warm cache)']]);
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < runs; r++) {
  for (const [name, cmd] of Object.entries(variants)) {
    const t = process.hrtime.bigint();
    const res = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (res.status !== 0) throw new Error(`${name} failed (${res.status})`);
    times[name].push(Number(process.hrtime.bigint() - t) / 1e9);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times['scan alone']);
console.log(`${dir}: median of ${runs} runs, ${(await import('node:os')).availableParallelism()} cores, node ${process.version}`);
for (const [name, xs] of Object.entries(times)) console.log(`${name.padEnd(38)} ${median(xs).toFixed(3)} s  ${(median(xs) / base).toFixed(2)}x scan alone`);
