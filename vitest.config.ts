import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // A real PostgreSQL server for the whole run (Debian's package, loopback only).
    globalSetup: ['tests/helpers/postgres-global.ts'],
    // Integration tests start real servers with worker threads; two files at a time suit a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
