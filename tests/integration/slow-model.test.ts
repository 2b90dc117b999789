import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

const row = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

async function timed(server: TestServer, path: string) {
  const started = performance.now();
  const response = await server.request('GET', path);
  return { status: response.status, ms: performance.now() - started };
}

describe('inference runs off the HTTP thread', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_INFERENCE_WORKERS: 1 });
    const pushed = await server.push('slow', join(FIXTURES, 'slow.onnx'));
    expect(pushed.status, pushed.text).toBe(201);
  }, 60_000);
  afterAll(() => server.stop());

  it('answers /health within 50 ms while a model takes over a second per call', async () => {
    const started = performance.now();
    const inference = server.request('POST', '/v2/models/slow/infer', row);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const probes = [];
    for (let i = 0; i < 5; i += 1) {
      probes.push(await timed(server, '/health'));
      probes.push(await timed(server, '/v2/health/live'));
    }
    const response = await inference;
    const inferenceMs = performance.now() - started;
    expect(response.status).toBe(200);
    expect(response.body.outputs[0].data).toEqual([1, 2, 3, 4]);
    // The probes ran while the inference was still computing…
    expect(inferenceMs).toBeGreaterThan(1000);
    // …and none of them waited for it.
    for (const probe of probes) {
      expect(probe.status).toBe(200);
      expect(probe.ms).toBeLessThan(50);
    }
  });
});

describe('an inference that overruns its deadline', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_INFERENCE_WORKERS: 1, SLIPWAY_INFERENCE_TIMEOUT_MS: 400 });
    expect((await server.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
    // The warm-up prediction has a longer deadline than requests, so the upload itself succeeds.
    expect((await server.push('slow', join(FIXTURES, 'slow.onnx'))).status).toBe(201);
  }, 60_000);
  afterAll(() => server.stop());

  it('gets 504 DEADLINE_EXCEEDED, and the replaced worker serves the next request', async () => {
    const slow = await server.request('POST', '/v2/models/slow/infer', row);
    expect(slow.status).toBe(504);
    expect(slow.body.code).toBe('DEADLINE_EXCEEDED');
    const next = await server.request('POST', '/v2/models/identity/infer', row);
    expect(next.status, next.text).toBe(200);
    expect(next.body.outputs[0].data).toEqual([1, 2, 3, 4]);
    // Operators see the restart, and the answer the caller got.
    const metrics = (await server.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/^slipway_inference_worker_restarts_total\{reason="deadline"\} 1$/m);
    expect(metrics).toMatch(/^slipway_requests_total\{[^}]*model="slow"[^}]*code="504"\} 1$/m);
  });
});
