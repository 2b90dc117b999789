import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { EXAMPLE, ROOT } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The package users install: `npm pack` of this checkout (which builds dist/) installs into an empty
 * folder from the tarball alone, and its `slipway` command prints its version and serves a model.
 */
describe('the npm package', () => {
  const work = mkdtempSync(join(tmpdir(), 'slipway-package-'));
  let server: ChildProcess | undefined;
  afterAll(() => {
    server?.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  });

  it('packs with dist/, installs in an empty folder, and runs --version, version and serve', async () => {
    const out = join(work, 'out');
    const app = join(work, 'app');
    mkdirSync(out);
    mkdirSync(app);
    await run(NPM, ['pack', '--pack-destination', out], { cwd: ROOT, maxBuffer: 1 << 26 });
    const [tarball] = readdirSync(out);
    expect(tarball).toMatch(/^slipway-\d+\.\d+\.\d+\.tgz$/);
    const listing = await run('tar', ['-tzf', join(out, tarball as string)], { maxBuffer: 1 << 26 });
    const files = listing.stdout.split('\n');
    for (const file of [
      'package/dist/cli/bin.js',
      'package/dist/build-info.json',
      'package/dist/console/index.html',
      'package/bin/slipway.js',
      'package/LICENSE',
    ]) {
      expect(files, file).toContain(file);
    }
    expect(files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/tests/'))).toEqual([]);

    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'try-slipway', private: true }));
    // CPU inference only: onnxruntime-node's installer would otherwise fetch its CUDA provider.
    await run(NPM, ['install', '--no-audit', '--no-fund', join(out, tarball as string)], {
      cwd: app,
      env: { ...process.env, npm_config_onnxruntime_node_install: 'skip' },
      maxBuffer: 1 << 26,
    });
    const slipway = join(app, 'node_modules/.bin/slipway');
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    expect((await run(slipway, ['--version'])).stdout.trim()).toBe(version);
    const info = JSON.parse((await run(slipway, ['--json', 'version'])).stdout);
    expect(info).toMatchObject({ version, node: process.versions.node });
    expect(info.revision).toMatch(/^[0-9a-f]{40}(-dirty)?$/);
    expect(Date.parse(info.built_at)).not.toBeNaN();

    const port = await freePort();
    server = spawn(slipway, ['serve', '--port', String(port), '--data-dir', join(work, 'data')], {
      cwd: app,
      env: { ...process.env, SLIPWAY_AUTH: 'off', SLIPWAY_LOG_LEVEL: 'warn', SLIPWAY_INFERENCE_WORKERS: '1' },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      'the installed server to be live',
      async () => (await fetch(`${url}/v2/health/live`).catch(() => null))?.ok || undefined,
      60_000,
    );
    const manifest = JSON.parse(readFileSync(join(EXAMPLE, 'manifest.json'), 'utf8'));
    const form = new FormData();
    form.set('manifest', JSON.stringify(manifest));
    form.set('model', new Blob([readFileSync(join(EXAMPLE, 'model.onnx'))]), 'model.onnx');
    await fetch(`${url}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'penguins' }),
    });
    const pushed = await fetch(`${url}/api/v1/models/penguins/versions`, {
      method: 'POST',
      body: form,
      headers: { 'x-slipway-client': 'package-test' },
    });
    expect(pushed.status, await pushed.clone().text()).toBe(201);
    const answer = await waitFor('a prediction from the installed server', async () => {
      const response = await fetch(`${url}/envs/dev/v1/models/penguins:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: manifest.sample.slice(0, 1) }),
      });
      return response.ok ? ((await response.json()) as { predictions: unknown[] }) : undefined;
    });
    expect(answer.predictions).toHaveLength(1);
    // The console is in the package and served by the installed server.
    const page = await fetch(`${url}/`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
  }, 600_000);
});
