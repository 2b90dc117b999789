import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * Dynamic batching on the real runtime: with one worker, concurrent requests queue and are merged,
 * and every caller still gets exactly its own answer; one caller's bad row fails only that caller.
 */
describe('dynamic batching', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_INFERENCE_WORKERS: 1 });
    expect((await server.push('marked', join(FIXTURES, 'fails-on-marked.onnx'))).status).toBe(201);
    expect(
      (await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status,
    ).toBe(201);
  });
  afterAll(() => server?.stop());

  it('answers each of many concurrent requests with its own rows, failing only the marked ones', async () => {
    const values = Array.from({ length: 300 }, (_, i) => (i % 37 === 5 ? 99 : i % 2));
    const responses = await Promise.all(
      values.map((x) =>
        server.request('POST', '/v1/models/marked:predict', { instances: [[x], [1 - (x % 2)]] }),
      ),
    );
    responses.forEach((response, i) => {
      const x = values[i] as number;
      if (x === 99) {
        expect(response.status).toBe(500);
        expect(response.body.code).toBe('INFERENCE_FAILED');
      } else {
        expect(response.status).toBe(200);
        expect(response.body.predictions).toEqual([{ y: x }, { y: 1 - x }]);
      }
    });
  });

  it('gives the same answers merged as alone, string inputs and probabilities included', async () => {
    const rows = penguinManifest().sample;
    const alone: { predictions: { label: string; probabilities: number[] }[] }[] = [];
    for (const row of rows) {
      alone.push(
        (await server.request('POST', '/v1/models/penguin-species:predict', { instances: [row] })).body,
      );
    }
    const merged = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        server.request('POST', '/v1/models/penguin-species:predict', { instances: [rows[i % rows.length]] }),
      ),
    );
    // Labels are identical; probabilities agree to float32 rounding (a batched kernel may sum in
    // another order than a single-row one).
    merged.forEach((response, i) => {
      expect(response.status).toBe(200);
      const [got] = response.body.predictions;
      const want = alone[i % rows.length]!.predictions[0]!;
      expect(got.label).toBe(want.label);
      for (const [k, p] of (got.probabilities as number[]).entries()) {
        expect(p).toBeCloseTo(want.probabilities[k]!, 6);
      }
    });
  });
});
