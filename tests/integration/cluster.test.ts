import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, uploadForm } from '../helpers/server.js';

/**
 * `SLIPWAY_HTTP_PROCESSES=2`: two HTTP processes share one port. A change made through one (a push,
 * which deploys to dev) reaches the other at once through the primary (polling is slowed to ten
 * minutes here), and then every request succeeds whichever process takes it. Killing the primary
 * with SIGKILL takes the HTTP processes down with it.
 */
describe('several HTTP processes on one port', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-cluster-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves from both processes, which follow each other, and stop together', async () => {
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/cli/bin.ts'),
        '--json',
        'serve',
        '--port',
        '0',
        '--data-dir',
        dataDir,
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          SLIPWAY_LOG_LEVEL: 'silent',
          SLIPWAY_AUTH: 'off',
          SLIPWAY_ENV: 'dev',
          SLIPWAY_HTTP_PROCESSES: '2',
          SLIPWAY_INFERENCE_WORKERS: '2',
          SLIPWAY_FOLLOW_INTERVAL_MS: '600000',
          SLIPWAY_CONFIG_FILE: join(dataDir, 'slipway.yaml'),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const server = child;
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout!.on('data', (chunk) => {
        stdout += chunk;
        const match = /"url": "([^"]+)"/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      server.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const created = await fetch(`${url}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'm' }),
    });
    expect(created.status).toBe(201);
    const pushed = await fetch(`${url}/api/v1/models/m/versions`, {
      method: 'POST',
      headers: { 'x-slipway-client': 'slipway-tests' },
      body: uploadForm(join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] }),
    });
    expect(pushed.status).toBe(201);

    const predict = () =>
      fetch(`${url}/v1/models/m:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ instances: [[3]] }),
      });
    // Both processes route the new deployment within a second (fresh connections land on either).
    const deployed = Date.now();
    let streak = 0;
    while (streak < 20 && Date.now() - deployed < 1000) {
      streak = (await predict()).status === 200 ? streak + 1 : 0;
    }
    expect(streak).toBe(20);
    const responses = await Promise.all(Array.from({ length: 200 }, predict));
    expect(responses.map((r) => r.status).every((s) => s === 200)).toBe(true);

    // The HTTP processes, as their heartbeats name them (replica/pid/random).
    const view = (await (await fetch(`${url}/api/v1/replicas`)).json()) as { replicas: { holder: string }[] };
    const pids = view.replicas.map((r) => Number(r.holder.split('/')[1]));
    expect(pids).toHaveLength(2);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(pids.every(alive)).toBe(true);
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGKILL');
    await exited;
    child = undefined;
    const deadline = Date.now() + 15_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pids.filter(alive)).toEqual([]);
  }, 120_000);
});
