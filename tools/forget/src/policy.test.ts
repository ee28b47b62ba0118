import { describe, expect, it } from 'vitest';
import { keepers } from './policy.js';

describe('retention policy', () => {
  const times = ['2026-11-22T12:00:00Z', '2026-11-22T09:00:00Z', '2026-11-21T18:00:00Z', '2026-11-20T08:00:00Z', '2026-10-01T08:00:00Z', '2025-06-01T08:00:00Z'];
  it('always keeps the newest version', () => expect([...keepers(times, {})]).toEqual([0]));
  it('keeps the last N', () => expect([...keepers(times, { last: 3 })].sort()).toEqual([0, 1, 2]));
  it('keeps the newest of each of the last N days', () => expect([...keepers(times, { daily: 3 })].sort()).toEqual([0, 2, 3]));
  it('keeps the newest of each month and year', () => {
    expect([...keepers(times, { monthly: 2 })].sort()).toEqual([0, 4]);
    expect([...keepers(times, { yearly: 5 })].sort()).toEqual([0, 5]);
  });
  it('combines rules', () => expect([...keepers(times, { last: 2, monthly: 3 })].sort()).toEqual([0, 1, 4, 5]));
});
