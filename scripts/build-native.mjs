#!/usr/bin/env node
// Builds the optional native parts (libs/native) with node-gyp. hoard works without
// them, so a machine without a C compiler gets a warning, not a failed install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (process.platform !== 'linux' || process.env.HOARD_NO_NATIVE) process.exit(0);
const dir = path.join(root, 'libs', 'native');
const built = ['scan_dir', 'file_ops'].map((t) => path.join(dir, 'build', 'Release', `${t}.node`));
const newest = Math.max(...['src/scan_dir.c', 'src/file_ops.c', 'binding.gyp'].map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
if (built.every((b) => fs.existsSync(b) && fs.statSync(b).mtimeMs > newest)) process.exit(0); // up to date
const gyp = path.join(root, 'node_modules', '.bin', 'node-gyp');
const args = ['rebuild', '--directory', dir];
// Build against the headers installed with this Node when there are some (no download).
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(gyp, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(`hoard: native parts not built (scan and local copies use their JavaScript paths): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}\n`);
}
