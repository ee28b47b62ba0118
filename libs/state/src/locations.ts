import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Db } from './database.js';
import { cacheMigrations, stateMigrations } from './migrations.js';

/** The folder inside a repository that holds hoard's own files. */
export const HOARD_DIR = '.hoard';
export const STATE_FILE = 'state.db';

/** The repository containing `dir` (walking up, as git does), or undefined. */
export function findRepository(dir: string): string | undefined {
  let current = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(path.join(current, HOARD_DIR, STATE_FILE))) return current;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** Where hoard keeps caches that belong to no repository: $XDG_CACHE_HOME/hoard or ~/.cache/hoard. */
export function userCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'hoard');
}

/** Open the database that caches hashes of files under `root`. */
export function openHashCacheDatabase(root: string): { db: Db; file: string } {
  const repo = findRepository(root);
  const file = repo ? path.join(repo, HOARD_DIR, STATE_FILE) : path.join(userCacheDir(), 'hash-cache.db');
  return { db: openDatabase(file, repo ? stateMigrations : cacheMigrations), file };
}
