import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, FIXTURES, ROOT, startServer, type TestServer } from '../helpers/server.js';

const CLI = join(ROOT, 'src/cli/bin.ts');

/** Runs the real `slipway` command (from sources) and collects what it printed and its exit code. */
function slipway(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('the slipway CLI', () => {
  let server: TestServer;
  let remote: string[];
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
  beforeAll(async () => {
    server = await startServer();
    remote = ['--server', server.url];
  });
  afterAll(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('pushes a model with its manifest, creating the model, and reports the version as JSON', async () => {
    const result = await slipway([
      ...remote,
      '--json',
      'models',
      'push',
      join(EXAMPLE, 'model.onnx'),
      '--manifest',
      join(EXAMPLE, 'manifest.json'),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      model: 'penguin-species',
      version: 1,
      status: 'READY',
    });
  });

  it('lists and shows models as tables and as JSON', async () => {
    const table = await slipway([...remote, 'models', 'ls']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/MODEL\s+LATEST/);
    expect(table.stdout).toContain('penguin-species');
    const json = await slipway([...remote, '--json', 'models', 'show', 'penguin-species', '1']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      version: 1,
      signature: { labels: ['Adelie', 'Chinstrap', 'Gentoo'] },
    });
  });

  it('sets the champion alias', async () => {
    const result = await slipway([...remote, '--json', 'alias', 'set', 'penguin-species', 'champion', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      alias: 'champion',
      version: 1,
      previous_version: null,
    });
  });

  it('predicts rows from a CSV file, typing cells by the model signature and reading empty cells as missing', async () => {
    const csv = join(scratch, 'rows.csv');
    writeFileSync(
      csv,
      'island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\nTorgersen,male,39.1,18.7,181,3750\nBiscoe,,48.7,14.1,210,\n',
    );
    const result = await slipway([...remote, '--json', 'predict', 'penguin-species', csv]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).predictions.map((p: { label: string }) => p.label)).toEqual([
      'Adelie',
      'Gentoo',
    ]);
  });

  it('exits 4 for something that does not exist, 3 for a refused request, 2 for a usage error, 5 when unreachable', async () => {
    const missing = await slipway([...remote, 'models', 'show', 'ghost']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('MODEL_NOT_FOUND');
    const refused = await slipway([
      ...remote,
      'models',
      'push',
      join(FIXTURES, 'zipmap-classifier.onnx'),
      '--name',
      'zm',
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('zipmap');
    expect((await slipway([...remote, 'models', 'frobnicate'])).code).toBe(2);
    expect((await slipway([...remote, 'models', 'push', join(FIXTURES, 'identity.onnx')])).code).toBe(2);
    expect(
      (await slipway([...remote, 'models', 'push', join(scratch, 'missing.onnx'), '--name', 'm'])).code,
    ).toBe(2);
    expect(
      (await slipway([...remote, 'predict', 'penguin-species', join(scratch, 'missing.csv')])).code,
    ).toBe(2);
    expect((await slipway([...remote, 'models', 'show', 'm'])).code, 'a refused push changes nothing').toBe(
      4,
    );
    const port = new URL(server.url).port;
    const busy = await slipway(['serve', '--port', port, '--data-dir', join(scratch, 'busy')]);
    expect(busy.code, 'serve on a busy port exits').toBe(5);
    expect(busy.stderr).toContain('already in use');
    const unreachable = await slipway(['--server', 'http://127.0.0.1:9', '--json', 'models', 'ls']);
    expect(unreachable.code).toBe(5);
    expect(JSON.parse(unreachable.stdout).error).toContain('Cannot reach');
  });
});

describe('slipway demo', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('starts a server with the example model and prints a curl that returns a prediction', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'slipway-demo-'));
    child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, '--json', 'demo', '--port', '0', '--data-dir', dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent' },
      },
    );
    let stdout = '';
    const printed = await new Promise<{ url: string; docs: string; curl: string }>((resolve, reject) => {
      child!.stdout!.on('data', (chunk) => {
        stdout += chunk;
        try {
          resolve(JSON.parse(stdout));
        } catch {
          // Not the whole document yet.
        }
      });
      child!.on('exit', (code) => reject(new Error(`demo exited with ${code}`)));
    });
    expect((await fetch(printed.docs)).status).toBe(200);
    const body = /-d '(.*)'$/.exec(printed.curl)![1]!;
    const url = /(http:\/\/\S+:predict)/.exec(printed.curl)![1]!;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { predictions: unknown[] }).predictions).toHaveLength(2);
  });
});
