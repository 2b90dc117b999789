import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_GATING } from '../../src/deployments/promotion-recovery.js';
import { killed, serveProcess as serve } from '../helpers/serve-process.js';
import { EXAMPLE, FIXTURES, uploadForm } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('a server killed in the middle of an upload', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-crash-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts with no partial artifact, no version, and numbering intact', async () => {
    const first = await serve(dataDir);
    child = first.child;
    await fetch(`${first.url}/api/v1/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'penguin-species' }),
    });

    // Send the multipart head and the first megabyte of a 64 MB file, then stop sending.
    const boundary = 'slipway-crash-test';
    const upload = request(`${first.url}/api/v1/models/penguin-species/versions`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'x-slipway-client': 'slipway-tests',
        'content-length': String(64 * 1024 * 1024 + 200),
      },
    });
    upload.on('error', () => undefined);
    upload.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    upload.write(Buffer.alloc(1024 * 1024, 7));
    const staging = join(dataDir, 'artifacts', '.staging');
    const staged = () => (existsSync(staging) ? readdirSync(staging) : []);
    for (let i = 0; i < 100 && staged().length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(staged().length).toBe(1);
    await killed(first.child);

    const second = await serve(dataDir);
    child = second.child;
    expect(staged()).toEqual([]);
    const versions = (await (await fetch(`${second.url}/api/v1/models/penguin-species/versions`)).json()) as {
      versions: unknown[];
    };
    expect(versions.versions).toEqual([]);

    const pushed = await fetch(`${second.url}/api/v1/models/penguin-species/versions`, {
      method: 'POST',
      headers: { 'x-slipway-client': 'slipway-tests' },
      body: uploadForm(join(EXAMPLE, 'model.onnx')),
    });
    expect(pushed.status).toBe(201);
    expect(((await pushed.json()) as { version: number }).version).toBe(1);
  });
});

/**
 * A promotion whose server is killed while its gates run: the slow model (over a second per call)
 * behind a latency gate of ten calls keeps it GATING long enough to kill the process mid-gate.
 */
describe('a server killed while a promotion runs its gates', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-crash-gates-'));
  const env = {
    SLIPWAY_CONFIG_FILE: join(dataDir, 'slipway.yaml'),
    SLIPWAY_PROMOTION_LEASE_MS: '600',
    SLIPWAY_INFERENCE_WORKERS: '1',
  };
  writeFileSync(
    env.SLIPWAY_CONFIG_FILE,
    `environments:
  - name: dev
    auto_deploy: false
    gates: { smoke: false, schema: false, validation: null, latency: { p99_ms: 600000, requests: 10 } }
`,
  );
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child) await killed(child);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const call = async (url: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the test reads whatever JSON the server answered.
    return { status: response.status, body: (await response.json()) as any };
  };
  /** Starts a promotion without waiting for its gates; the answer may never come. */
  const startPromotion = (url: string, model: string) => {
    void call(url, 'POST', '/api/v1/environments/dev/promotions', { model, version: 1 }).catch(
      () => undefined,
    );
    return waitFor(`a GATING promotion of ${model}`, async () => {
      const listed = await call(url, 'GET', `/api/v1/promotions?model=${model}&status=GATING`);
      return listed.body.promotions[0] as { id: string } | undefined;
    });
  };

  it('restarts with the promotion FAILED and the reason, lets new promotions proceed, and aborts a live one', async () => {
    const first = await serve(dataDir, env);
    child = first.child;
    for (const [model, file, sample] of [
      ['slow', 'slow.onnx', { x: [1, 2, 3, 4] }],
      ['echo', 'echo.onnx', { x: 1 }],
    ] as const) {
      await call(first.url, 'POST', '/api/v1/models', { name: model });
      const pushed = await fetch(`${first.url}/api/v1/models/${model}/versions`, {
        method: 'POST',
        headers: { 'x-slipway-client': 'slipway-tests' },
        body: uploadForm(join(FIXTURES, file), { sample: [sample] }),
      });
      expect(pushed.status, await pushed.text()).toBe(201);
    }
    const interrupted = await startPromotion(first.url, 'slow');
    await killed(first.child);

    const second = await serve(dataDir, env);
    child = second.child;
    const failed = await waitFor('the interrupted promotion to end', async () => {
      const { body } = await call(second.url, 'GET', `/api/v1/promotions/${interrupted.id}`);
      return body.status === 'GATING' ? undefined : body;
    });
    expect(failed).toMatchObject({ status: 'FAILED', failure: INTERRUPTED_GATING });
    const audit = await call(second.url, 'GET', '/api/v1/audit?action=promotion.fail');
    expect(audit.body.events.map((e: { details: { promotion: string } }) => e.details.promotion)).toEqual([
      interrupted.id,
    ]);
    const notDeployed = await call(second.url, 'GET', '/api/v1/environments/dev/deployments/slow');
    expect(notDeployed.body.code).toBe('NOT_DEPLOYED');

    // A new promotion goes through its gates as usual.
    const promoted = await call(second.url, 'POST', '/api/v1/environments/dev/promotions', {
      model: 'echo',
      version: 1,
    });
    expect(promoted.status).toBe(201);
    expect(promoted.body.status).toBe('SUCCEEDED');

    // A promotion whose gates are running can be aborted; it then changes nothing.
    const live = await startPromotion(second.url, 'slow');
    const aborted = await call(second.url, 'POST', `/api/v1/promotions/${live.id}/abort`, { reason: 'no' });
    expect(aborted.status).toBe(200);
    expect(aborted.body.status).toBe('ABORTED');
    const again = await call(second.url, 'POST', `/api/v1/promotions/${live.id}/abort`, {});
    expect(again.status).toBe(409);
    expect((await call(second.url, 'GET', '/api/v1/environments/dev/deployments/slow')).body.code).toBe(
      'NOT_DEPLOYED',
    );
  }, 120_000);
});
