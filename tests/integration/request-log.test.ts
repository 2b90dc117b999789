import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog } from '../helpers/log.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * At the default level a successful request writes no line; refusals, failures, slow requests and a
 * configured sample of successes write one each, with the request id that the answer carries.
 */
describe('request log lines', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const infer = { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }] };
  const requestLines = (lines: Record<string, unknown>[]) => lines.filter((line) => 'res' in line);

  async function echoServer(overrides: Record<string, string | number>) {
    const log = captureLog('info');
    server = await startServer({ SLIPWAY_LOG_LEVEL: 'info', ...overrides }, { logger: log.logger });
    expect((await server.push('echo', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
    log.lines.length = 0;
    return log;
  }

  it('writes nothing for successful predictions, one line for each refusal, with its request id', async () => {
    const log = await echoServer({});
    for (let i = 0; i < 50; i++) {
      expect((await server!.request('POST', '/v2/models/echo/infer', infer)).status).toBe(200);
    }
    expect(requestLines(log.lines)).toEqual([]);
    const refused = await server!.request(
      'POST',
      '/v2/models/echo/infer',
      { inputs: [] },
      { 'x-request-id': 'req-refused-1' },
    );
    expect(refused.status).toBe(400);
    const missing = await server!.request('GET', '/v2/models/nothing-here', undefined, {
      'x-request-id': 'req-missing-1',
    });
    expect(missing.status).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = requestLines(log.lines);
    expect(
      lines.map((line) => [line.reqId, (line.res as { statusCode: number }).statusCode, line.msg]),
    ).toEqual([
      ['req-refused-1', 400, 'request completed'],
      ['req-missing-1', 404, 'request completed'],
    ]);
    expect((lines[0]!.req as { url: string; method: string }).url).toBe('/v2/models/echo/infer');
    expect(typeof lines[0]!.responseTime).toBe('number');
    // Every line a request writes carries its id.
    for (const line of log.lines.filter((l) => l.msg === 'request refused')) expect(line.reqId).toBeDefined();
  });

  it('logs a sampled share of successes and every slow request', async () => {
    const log = await echoServer({ SLIPWAY_LOG_SAMPLE_RATE: 1 });
    for (let i = 0; i < 5; i++) await server!.request('POST', '/v2/models/echo/infer', infer);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(requestLines(log.lines).filter((l) => l.msg === 'request completed')).toHaveLength(5);
    await server!.stop();

    // slow.onnx takes over a second a call: its prediction is slow by any measure, the echo's is not.
    const slow = await echoServer({ SLIPWAY_SLOW_REQUEST_MS: 500 });
    expect(
      (await server!.push('slow', join(FIXTURES, 'slow.onnx'), { sample: [{ x: [1, 2, 3, 4] }] })).status,
    ).toBe(201);
    slow.lines.length = 0;
    const slowInfer = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
    const answered = await server!.request('POST', '/v2/models/slow/infer', slowInfer, {
      'x-request-id': 'req-slow-1',
    });
    expect(answered.status).toBe(200);
    expect((await server!.request('POST', '/v2/models/echo/infer', infer)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = requestLines(slow.lines);
    expect(lines.map((l) => [l.reqId, l.msg, l.level])).toEqual([['req-slow-1', 'slow request', 40]]);
    expect(lines[0]!.responseTime as number).toBeGreaterThan(500);
  });

  it('refuses a sample rate outside 0 to 1 at start', async () => {
    await expect(startServer({ SLIPWAY_LOG_SAMPLE_RATE: 2 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
