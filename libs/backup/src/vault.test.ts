import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HoardError } from '@hoard/schema';
import { initVault } from './vault.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hoard-vault-test-'));

describe('initVault on a folder of this machine', () => {
  it('creates the layout, private to its owner, and leaves no probe behind', async () => {
    const vault = path.join(tempDir(), 'new', 'vault');
    await initVault(vault);
    expect(fs.statSync(path.join(vault, 'blobs')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(vault, 'blobs')).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.join(vault, '.hoard'))).toEqual([]);
    await initVault(vault); // again on an existing vault: fine
  });

  it('refuses a place it cannot write, naming it', async () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    const err = await initVault(path.join(file, 'vault')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HoardError);
    expect((err as Error).message).toBe(`vault ${path.join(file, 'vault')}: cannot write there (ENOTDIR)`);
  });
});
