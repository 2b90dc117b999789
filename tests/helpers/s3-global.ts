import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  }
}

const SCRIPT = join(import.meta.dirname, '../../scripts/s3.sh');
const CREDENTIALS = { accessKeyId: 'slipway-tests', secretAccessKey: 'slipway-tests-secret' };

/**
 * One real S3-compatible server (MinIO, built from the Go module proxy by scripts/s3.sh) for the whole
 * test run, on loopback; tests isolate themselves with a bucket each (tests/helpers/s3.ts).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync('bash', [SCRIPT, 'install'], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'slipway-s3-'));
  const endpoint = execFileSync('bash', [SCRIPT, 'start', dir, String(await freePort())], {
    encoding: 'utf8',
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
  }).trim();
  project.provide('s3', { endpoint, region: 'us-east-1', ...CREDENTIALS });
  return () => {
    execFileSync('bash', [SCRIPT, 'stop', dir], { stdio: 'inherit' });
  };
}
