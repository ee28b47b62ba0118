import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['libs/*/src/**/*.test.ts', 'tools/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real processes and servers; two files at a time suits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
    globalSetup: ['test/support/temp-root.ts'],
  },
});
