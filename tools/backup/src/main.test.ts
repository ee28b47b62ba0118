import { describe, expect, it } from 'vitest';
import { describeBackup, phaseText } from './main.js';

describe('backup for people', () => {
  it('says what was scanned, new, sent and deleted, with counts and sizes as people read them', () => {
    const summary = { type: 'summary', command: 'backup', backup: 3, files: 99_550, bytes: 791_828_138, newFiles: 1_992, newBytes: 14_745_751, sentFiles: 1_992, sentBytes: 14_745_751, deleted: 996, errors: 0 } as const;
    expect(describeBackup(summary, 3.7)).toBe('backup 3: 99,550 files (791.8 MB) scanned, 1,992 new (14.7 MB), 1,992 sent (14.7 MB), 996 deleted, 0 errors in 0:04');
  });

  it('names each step after the scan', () => {
    expect(['packing', 'sending', 'recording', 'uploading'].map((p) => phaseText(p as 'packing', 12_345))).toEqual([
      'packing 12,345 files',
      'sending 12,345 big files',
      'recording 12,345 changes',
      "uploading this host's metadata",
    ]);
    expect(phaseText('recording', 1)).toBe('recording 1 change');
    expect(phaseText('sending', 3, { done: 1.5e9, of: 4.2e9 })).toBe('sending 3 big files, 1.5 GB of 4.2 GB');
  });
});
