import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (pure rules and single files; no server to start) and `integration` (contract
 * suites on real backends, the real server on loopback, the browser). Only the second starts the
 * throw-away PostgreSQL and S3 servers. `npx vitest run --project unit` runs the fast half alone.
 */
export default defineConfig({
  test: {
    // Integration tests start real servers with worker threads; two files at a time suit a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/{contract,integration,e2e}/**/*.test.ts'],
          // A real PostgreSQL server (Debian's package) and a real S3-compatible server (MinIO, built
          // from the Go module proxy) for the whole run, loopback only.
          globalSetup: ['tests/helpers/postgres-global.ts', 'tests/helpers/s3-global.ts'],
        },
      },
    ],
  },
});
