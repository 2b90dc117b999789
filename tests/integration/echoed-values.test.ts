import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_LIMIT, echo } from '../../src/errors/index.js';
import { captureLog } from '../helpers/log.js';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * A client's value repeated in an error message or a log line is cut to ECHO_LIMIT characters: a
 * long name is neither reflected back in full nor written to the log in full.
 */
const LONG = `${'z'.repeat(5000)}-tail`;
/** Long, but within the schemas' own limits (input names, query strings), so the echo is what answers. */
const MEDIUM = `${'z'.repeat(150)}-tail`;
const { logger, text: logText } = captureLog('info');
let server: TestServer;

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly code: string;
  /** False where the refusal names the limit without repeating any of the value. */
  readonly echoes?: boolean;
}

const row = () => ({ ...penguinManifest().sample[0]! });
const typed = (change: Record<string, unknown>) => ({
  inputs: [
    { name: 'a', shape: [1, 1], datatype: 'FP32', data: [1.5] },
    { name: 'b', shape: [1, 1], datatype: 'INT64', data: [2] },
    { name: 'c', shape: [1, 1], datatype: 'BYTES', data: ['x'] },
    { name: 'd', shape: [1, 1], datatype: 'BOOL', data: [true] },
    { name: 'e', shape: [1, 1], datatype: 'FP64', data: [0.25] },
    change,
  ],
});

const cases: Case[] = [
  {
    name: 'V2 unknown input name',
    method: 'POST',
    path: '/v2/models/typed/infer',
    body: typed({ name: MEDIUM, shape: [1, 1], datatype: 'FP32', data: [1] }),
    code: 'UNKNOWN_INPUT',
  },
  {
    name: 'V1 unknown column',
    method: 'POST',
    path: '/v1/models/penguin-species:predict',
    body: { instances: [{ ...row(), [LONG]: 1 }] },
    code: 'UNKNOWN_INPUT',
  },
  {
    name: 'V1 string for a number',
    method: 'POST',
    path: '/v1/models/penguin-species:predict',
    body: { instances: [{ ...row(), bill_length_mm: LONG }] },
    code: 'INVALID_DATATYPE',
  },
  {
    name: 'binary header length',
    method: 'POST',
    path: '/v2/models/typed/infer',
    body: JSON.stringify(typed({})),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': LONG },
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'promotion status filter',
    method: 'GET',
    path: `/api/v1/promotions?status=${MEDIUM}`,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'malformed percent-encoding in the path',
    method: 'GET',
    path: `/api/v1/models/${MEDIUM}%E0%A4%A`,
    code: 'INVALID_ARGUMENT',
    echoes: false,
  },
  {
    name: "path segment past the router's limit",
    method: 'GET',
    path: `/api/v1/models/${LONG}`,
    code: 'INVALID_ARGUMENT',
    echoes: false,
  },
  {
    name: 'unknown route',
    method: 'GET',
    path: `/api/v1/${LONG}`,
    code: 'ROUTE_NOT_FOUND',
  },
  {
    name: 'alias name',
    method: 'PUT',
    path: `/api/v1/models/penguin-species/aliases/${MEDIUM}`,
    body: { version: 1 },
    code: 'INVALID_ARGUMENT',
    echoes: false,
  },
  {
    name: 'version number',
    method: 'GET',
    path: `/api/v1/models/penguin-species/versions/${MEDIUM}`,
    code: 'INVALID_ARGUMENT',
    echoes: false,
  },
  {
    name: 'job model reference',
    method: 'POST',
    path: '/api/v1/jobs',
    body: {
      name: 'echo-job',
      model: `penguin-species/${MEDIUM}`,
      source: { query: 'SELECT 1 AS x' },
      sink: { table: 'scores' },
    },
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'MLflow search filter',
    method: 'POST',
    path: '/api/2.0/mlflow/runs/search',
    body: { experiment_ids: ['0'], filter: `metrics.x ${MEDIUM} 1` },
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'unknown MLflow endpoint',
    method: 'GET',
    path: `/api/2.0/mlflow/${MEDIUM}`,
    code: 'ROUTE_NOT_FOUND',
  },
];

beforeAll(async () => {
  server = await startServer({ SLIPWAY_LOG_LEVEL: 'info' }, { logger });
  expect((await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status).toBe(
    201,
  );
  expect((await server.push('typed', join(FIXTURES, 'typed-inputs.onnx'))).status).toBe(201);
});
afterAll(() => server.stop());

describe('client values echoed in errors and logs', () => {
  it('cuts strings to the limit, quoted, with an ellipsis', () => {
    expect(echo('short')).toBe('"short"');
    expect(echo('a'.repeat(ECHO_LIMIT))).toBe(`"${'a'.repeat(ECHO_LIMIT)}"`);
    expect(echo('a'.repeat(ECHO_LIMIT + 1))).toBe(`"${'a'.repeat(ECHO_LIMIT)}…"`);
    expect(echo('line\nforged: yes')).toBe('"line\\nforged: yes"');
    expect(echo(Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(echo({ deep: 'x'.repeat(200) }).length).toBe(ECHO_LIMIT + 1);
  });

  it.each(cases)(
    '$name: $code, the value cut short',
    async ({ method, path, body, headers, code, echoes }) => {
      const response = await server.request(method, path, body, headers);
      expect(response.body.code, response.text.slice(0, 300)).toBe(code);
      expect(response.text).not.toContain('z'.repeat(ECHO_LIMIT + 1));
      expect(response.text).not.toContain('-tail');
      // Slipway's answers carry the message in `error`, MLflow's in `message`.
      if (echoes !== false) expect(response.body.error ?? response.body.message).toContain('…');
    },
  );

  it('upload with an unknown form field: the field name cut short', async () => {
    const form = new FormData();
    form.set(LONG, 'x');
    const response = await server.request('POST', '/api/v1/models/typed/versions', form);
    expect(response.body.code).toBe('INVALID_ARGUMENT');
    expect(response.body.error).not.toContain('z'.repeat(ECHO_LIMIT + 1));
    expect(response.body.error).toContain('…');
  });

  it('writes no long value into the log', () => {
    const log = logText.join('');
    expect(log).toContain('request refused');
    // The request line's path is the one place the whole URL path is logged, as Fastify received it.
    const refused = logText.filter((line) => line.includes('request refused'));
    // Unknown routes answer 404 without a refusal line.
    expect(refused.length).toBeGreaterThanOrEqual(cases.filter((c) => c.code !== 'ROUTE_NOT_FOUND').length);
    for (const line of refused) expect(line).not.toContain('z'.repeat(ECHO_LIMIT + 1));
  });
});
