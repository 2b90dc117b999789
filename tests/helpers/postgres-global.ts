import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

const SCRIPT = join(import.meta.dirname, '../../scripts/postgres.sh');

/**
 * One real PostgreSQL server for the whole test run, installed from Debian's packages and started on
 * loopback by scripts/postgres.sh; tests isolate themselves with a database each (tests/helpers/postgres.ts).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync('bash', [SCRIPT, 'install'], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'slipway-postgres-'));
  const url = execFileSync('bash', [SCRIPT, 'start', dir, String(await freePort())], {
    encoding: 'utf8',
  }).trim();
  project.provide('postgresUrl', url);
  return () => {
    execFileSync('bash', [SCRIPT, 'stop', dir], { stdio: 'inherit' });
  };
}
