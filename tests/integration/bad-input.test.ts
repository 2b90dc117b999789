import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLE,
  FIXTURES,
  penguinManifest,
  startServer,
  type TestServer,
  uploadForm,
} from '../helpers/server.js';

/**
 * Every client mistake gets a 4xx JSON error with a stable code, a message that names the field, and
 * the request id; and the server keeps answering. One row per mistake, across V1, V2 and the control API.
 */
let server: TestServer;
const row = () => ({ ...penguinManifest().sample[0]! });
const v2Body = () => ({
  inputs: [
    { name: 'island', shape: [1, 1], datatype: 'BYTES', data: ['Biscoe'] },
    { name: 'sex', shape: [1, 1], datatype: 'BYTES', data: ['female'] },
    { name: 'bill_length_mm', shape: [1, 1], datatype: 'FP32', data: [39.1] },
    { name: 'bill_depth_mm', shape: [1, 1], datatype: 'FP32', data: [18.7] },
    { name: 'flipper_length_mm', shape: [1, 1], datatype: 'FP32', data: [181] },
    { name: 'body_mass_g', shape: [1, 1], datatype: 'FP32', data: [3750] },
  ],
});
const withInput = (name: string, change: Record<string, unknown>) => {
  const body = v2Body();
  body.inputs = body.inputs.map((input) =>
    input.name === name ? { ...input, ...change } : input,
  ) as typeof body.inputs;
  return body;
};
const typedBody = (change: Record<string, unknown> = {}) => ({
  inputs: [
    { name: 'a', shape: [1, 1], datatype: 'FP32', data: [1.5] },
    { name: 'b', shape: [1, 1], datatype: 'INT64', data: [2] },
    { name: 'c', shape: [1, 1], datatype: 'BYTES', data: ['x'] },
    { name: 'd', shape: [1, 1], datatype: 'BOOL', data: [true] },
    { name: 'e', shape: [1, 1], datatype: 'FP64', data: [0.25] },
  ].map((input) => (input.name === change.name ? { ...input, ...change } : input)),
});

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** The field the error must name, when there is one. */
  field?: string;
}

const V1 = '/v1/models/penguin-species:predict';
const V2 = '/v2/models/penguin-species/infer';
const TYPED = '/v2/models/typed/infer';

const cases: Case[] = [
  // KServe V1
  {
    name: 'V1 missing feature',
    method: 'POST',
    path: V1,
    body: { instances: [(({ island, ...rest }) => rest)(row())] },
    status: 400,
    code: 'MISSING_INPUT',
    field: 'instances[0].island',
  },
  {
    name: 'V1 extra feature',
    method: 'POST',
    path: V1,
    body: { instances: [{ ...row(), beak_colour: 'red' }] },
    status: 400,
    code: 'UNKNOWN_INPUT',
    field: 'instances[0].beak_colour',
  },
  {
    name: 'V1 number where a string is expected',
    method: 'POST',
    path: V1,
    body: { instances: [{ ...row(), island: 3 }] },
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'instances[0].island',
  },
  {
    name: 'V1 string where a number is expected',
    method: 'POST',
    path: V1,
    body: { instances: [{ ...row(), body_mass_g: '3750' }] },
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'instances[0].body_mass_g',
  },
  {
    name: 'V1 null in a non-nullable input',
    method: 'POST',
    path: V1,
    body: { instances: [{ ...row(), island: null }] },
    status: 400,
    code: 'INVALID_VALUE',
    field: 'instances[0].island',
  },
  {
    name: 'V1 list where one value is expected',
    method: 'POST',
    path: V1,
    body: { instances: [{ ...row(), bill_length_mm: [1, 2] }] },
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'instances[0].bill_length_mm',
  },
  {
    name: 'V1 array row of the wrong length',
    method: 'POST',
    path: V1,
    body: { instances: [['Biscoe', 'male', 39.1]] },
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'instances[0]',
  },
  {
    name: 'V1 row that is neither object nor array',
    method: 'POST',
    path: V1,
    body: { instances: [42] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'instances[0]',
  },
  {
    name: 'V1 empty instances',
    method: 'POST',
    path: V1,
    body: { instances: [] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'instances',
  },
  {
    name: 'V1 missing instances',
    method: 'POST',
    path: V1,
    body: { rows: [] },
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'V1 columnar inputs format',
    method: 'POST',
    path: V1,
    body: { inputs: { island: ['Biscoe'] } },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'instances',
  },
  {
    name: 'V1 unknown model',
    method: 'POST',
    path: '/v1/models/no-such-model:predict',
    body: { instances: [row()] },
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'V1 invalid model name',
    method: 'POST',
    path: '/v1/models/Bad%20Name:predict',
    body: { instances: [row()] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'model',
  },
  {
    name: 'V1 unknown verb',
    method: 'POST',
    path: '/v1/models/penguin-species:explode',
    body: { instances: [row()] },
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  },
  {
    name: 'V1 malformed JSON',
    method: 'POST',
    path: V1,
    body: '{"instances": [',
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'V1 wrong content type',
    method: 'POST',
    path: V1,
    body: 'island=Biscoe',
    headers: { 'content-type': 'text/plain' },
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
  {
    name: 'V1 form content type',
    method: 'POST',
    path: V1,
    body: 'island=Biscoe',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
  {
    name: 'V1 XML content type',
    method: 'POST',
    path: V1,
    body: '<instances/>',
    headers: { 'content-type': 'application/xml' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'V1 body too large',
    method: 'POST',
    path: V1,
    body: JSON.stringify({ instances: Array.from({ length: 60_000 }, row) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'V1 empty body',
    method: 'POST',
    path: V1,
    body: '',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'INVALID_JSON',
  },
  // Open Inference Protocol (V2)
  {
    name: 'V2 missing input',
    method: 'POST',
    path: V2,
    body: { inputs: v2Body().inputs.slice(1) },
    status: 400,
    code: 'MISSING_INPUT',
    field: 'inputs',
  },
  {
    name: 'V2 unknown input',
    method: 'POST',
    path: V2,
    body: { inputs: [...v2Body().inputs, { name: 'beak', shape: [1, 1], datatype: 'FP32', data: [1] }] },
    status: 400,
    code: 'UNKNOWN_INPUT',
    field: 'inputs[6].name',
  },
  {
    name: 'V2 wrong datatype',
    method: 'POST',
    path: V2,
    body: withInput('bill_length_mm', { datatype: 'FP64' }),
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'inputs[2].datatype',
  },
  {
    name: 'V2 wrong rank',
    method: 'POST',
    path: V2,
    body: withInput('bill_length_mm', { shape: [1] }),
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'inputs[2].shape',
  },
  {
    name: 'V2 wrong fixed dimension',
    method: 'POST',
    path: V2,
    body: withInput('bill_length_mm', { shape: [1, 2], data: [1, 2] }),
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'inputs[2].shape',
  },
  {
    name: 'V2 data count differs from shape',
    method: 'POST',
    path: V2,
    body: withInput('bill_length_mm', { shape: [2, 1] }),
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'inputs[2].data',
  },
  {
    name: 'V2 inputs disagree on batch size',
    method: 'POST',
    path: V2,
    body: withInput('body_mass_g', { shape: [2, 1], data: [1, 2] }),
    status: 400,
    code: 'INVALID_SHAPE',
    field: 'inputs[5].shape',
  },
  {
    name: 'V2 string in a float tensor',
    method: 'POST',
    path: V2,
    body: withInput('bill_length_mm', { data: ['NaN'] }),
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'inputs[2].data[0]',
  },
  {
    name: 'V2 null in a float tensor',
    method: 'POST',
    path: V2,
    body: withInput('island', { data: [null] }),
    status: 400,
    code: 'INVALID_VALUE',
    field: 'inputs[0].data[0]',
  },
  {
    name: 'V2 negative dimension',
    method: 'POST',
    path: V2,
    body: withInput('island', { shape: [-1, 1] }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'inputs.0.shape.0',
  },
  {
    name: 'V2 data that is not an array',
    method: 'POST',
    path: V2,
    body: withInput('island', { data: 'Biscoe' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'inputs.0.data',
  },
  {
    name: 'V2 unknown requested output',
    method: 'POST',
    path: V2,
    body: { ...v2Body(), outputs: [{ name: 'logits' }] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'outputs[0].name',
  },
  {
    name: 'V2 missing inputs field',
    method: 'POST',
    path: V2,
    body: { id: 'x' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'inputs',
  },
  {
    name: 'V2 unknown top-level field',
    method: 'POST',
    path: V2,
    body: { ...v2Body(), input: [] },
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'V2 float where INT64 is expected',
    method: 'POST',
    path: TYPED,
    body: typedBody({ name: 'b', data: [2.5] }),
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'inputs[1].data[0]',
  },
  {
    name: 'V2 INT64 beyond the exact range',
    method: 'POST',
    path: TYPED,
    body: typedBody({ name: 'b', data: [2 ** 60] }),
    status: 400,
    code: 'INVALID_VALUE',
    field: 'inputs[1].data[0]',
  },
  {
    name: 'V2 number where BOOL is expected',
    method: 'POST',
    path: TYPED,
    body: typedBody({ name: 'd', data: [1] }),
    status: 400,
    code: 'INVALID_DATATYPE',
    field: 'inputs[3].data[0]',
  },
  {
    name: 'V2 unknown model',
    method: 'POST',
    path: '/v2/models/ghost/infer',
    body: v2Body(),
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'V2 unknown version',
    method: 'POST',
    path: '/v2/models/penguin-species/versions/99/infer',
    body: v2Body(),
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'V2 version that is neither a number nor a tag',
    method: 'POST',
    path: '/v2/models/penguin-species/versions/1.0/infer',
    body: v2Body(),
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'version',
  },
  {
    name: 'V2 tag the revision does not have',
    method: 'POST',
    path: '/v2/models/penguin-species/versions/latest/infer',
    body: v2Body(),
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'V2 environment that does not exist',
    method: 'POST',
    path: '/envs/qa/v2/models/penguin-species/infer',
    body: v2Body(),
    status: 404,
    code: 'ENVIRONMENT_NOT_FOUND',
  },
  {
    name: 'V2 metadata of an unknown model',
    method: 'GET',
    path: '/v2/models/ghost',
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'V2 malformed JSON',
    method: 'POST',
    path: V2,
    body: '{"inputs": [}',
    status: 400,
    code: 'INVALID_JSON',
  },
  // Control API
  {
    name: 'create model with an invalid name',
    method: 'POST',
    path: '/api/v1/models',
    body: { name: '../etc' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'name',
  },
  {
    name: 'create model with an upper-case name',
    method: 'POST',
    path: '/api/v1/models',
    body: { name: 'Penguins' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'name',
  },
  {
    name: 'create model without a name',
    method: 'POST',
    path: '/api/v1/models',
    body: { description: 'x' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'name',
  },
  {
    name: 'create model with an unknown field',
    method: 'POST',
    path: '/api/v1/models',
    body: { name: 'ok', owner: 'me' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'owner',
  },
  {
    name: 'create model that exists',
    method: 'POST',
    path: '/api/v1/models',
    body: { name: 'penguin-species' },
    status: 409,
    code: 'ALREADY_EXISTS',
  },
  {
    name: 'create model with a text/plain body',
    method: 'POST',
    path: '/api/v1/models',
    body: '{"name":"csrf"}',
    headers: { 'content-type': 'text/plain' },
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
  {
    name: 'get unknown model',
    method: 'GET',
    path: '/api/v1/models/ghost',
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'get unknown version',
    method: 'GET',
    path: '/api/v1/models/penguin-species/versions/7',
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'get version 0',
    method: 'GET',
    path: '/api/v1/models/penguin-species/versions/0',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'version',
  },
  {
    name: 'list with a limit out of range',
    method: 'GET',
    path: '/api/v1/models/penguin-species/versions?limit=5000',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'limit',
  },
  {
    name: 'list with a forged page token',
    method: 'GET',
    path: '/api/v1/models?page_token=not-a-token',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'page_token',
  },
  {
    name: 'list with an unknown status',
    method: 'GET',
    path: '/api/v1/versions?status=LIVE',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'querystring.status',
  },
  {
    name: 'alias to a version that does not exist',
    method: 'PUT',
    path: '/api/v1/models/penguin-species/aliases/champion',
    body: { version: 42 },
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'alias with a version given as a string',
    method: 'PUT',
    path: '/api/v1/models/penguin-species/aliases/champion',
    body: { version: '1' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'version',
  },
  {
    name: 'alias with an invalid name',
    method: 'PUT',
    path: '/api/v1/models/penguin-species/aliases/7',
    body: { version: 1 },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'alias',
  },
  {
    name: 'delete an alias that does not exist',
    method: 'DELETE',
    path: '/api/v1/models/penguin-species/aliases/nope',
    status: 404,
    code: 'ALIAS_NOT_FOUND',
  },
  {
    name: 'traffic that does not sum to 100',
    method: 'PUT',
    path: '/api/v1/environments/dev/deployments/penguin-species/traffic',
    body: { traffic: [{ version: 1, percent: 90 }] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'traffic',
  },
  {
    name: 'traffic with a fractional percent',
    method: 'PUT',
    path: '/api/v1/environments/dev/deployments/penguin-species/traffic',
    body: { traffic: [{ version: 1, percent: 50.5 }] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'traffic.0.percent',
  },
  {
    name: 'traffic to a version that does not exist',
    method: 'PUT',
    path: '/api/v1/environments/dev/deployments/penguin-species/traffic',
    body: { traffic: [{ version: 42, percent: 100 }] },
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'promotion to an environment that does not exist',
    method: 'POST',
    path: '/api/v1/environments/qa/promotions',
    body: { model: 'penguin-species', version: 1 },
    status: 404,
    code: 'ENVIRONMENT_NOT_FOUND',
  },
  {
    name: 'promotion with the version as a string',
    method: 'POST',
    path: '/api/v1/environments/staging/promotions',
    body: { model: 'penguin-species', version: '1' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'version',
  },
  {
    name: 'promotion to prod without the typed confirmation',
    method: 'POST',
    path: '/api/v1/environments/prod/promotions',
    body: { model: 'penguin-species', version: 1 },
    status: 400,
    code: 'CONFIRMATION_REQUIRED',
  },
  {
    name: 'promotion of a version not serving in the environment before',
    method: 'POST',
    path: '/api/v1/environments/prod/promotions',
    body: { model: 'penguin-species', version: 1, confirm: 'prod' },
    status: 409,
    code: 'FAILED_PRECONDITION',
  },
  {
    name: 'rollback where nothing is deployed',
    method: 'POST',
    path: '/api/v1/environments/staging/deployments/penguin-species/rollback',
    body: {},
    status: 404,
    code: 'NOT_DEPLOYED',
  },
  {
    name: 'approve a promotion that does not exist',
    method: 'POST',
    path: '/api/v1/promotions/prm_nope/approve',
    body: {},
    status: 404,
    code: 'NOT_FOUND',
  },
  {
    name: 'dataset rows without the label column',
    method: 'PUT',
    path: '/api/v1/models/penguin-species/datasets/validation',
    body: { label: 'species', rows: [{ island: 'Dream' }] },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'rows[0]',
  },
  {
    name: 'token with an unknown role',
    method: 'POST',
    path: '/api/v1/tokens',
    body: { name: 'ci', role: 'owner' },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'role',
  },
  {
    name: 'audit with a forged page token',
    method: 'GET',
    path: '/api/v1/audit?page_token=zzz',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'page_token',
  },
  {
    name: 'upload as JSON instead of multipart',
    method: 'POST',
    path: '/api/v1/models/penguin-species/versions',
    body: { file: 'x' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'unknown route',
    method: 'GET',
    path: '/api/v1/nothing-here',
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  },
];

describe('bad input gets a clear 4xx answer', () => {
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_MAX_BODY_BYTES: 1024 * 1024 });
    expect(
      (await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status,
    ).toBe(201);
    expect((await server.push('typed', join(FIXTURES, 'typed-inputs.onnx'))).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('has a table of at least 25 cases across V1, V2 and the control API', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    expect(cases.filter((c) => c.path.startsWith('/v1')).length).toBeGreaterThanOrEqual(8);
    expect(cases.filter((c) => c.path.startsWith('/v2')).length).toBeGreaterThanOrEqual(8);
    expect(cases.filter((c) => c.path.startsWith('/api')).length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases)('$name -> $status $code', async ({ method, path, body, headers, status, code, field }) => {
    const response = await server.request(method, path, body, {
      'x-request-id': 'case-42',
      ...(headers ?? {}),
    });
    expect(response.status, response.text).toBe(status);
    expect(response.body).toMatchObject({ code, request_id: 'case-42' });
    expect(typeof response.body.error).toBe('string');
    expect(response.body.error.length).toBeGreaterThan(10);
    if (field !== undefined) expect(response.body.details?.field, response.text).toBe(field);
    expect(response.headers.get('x-request-id')).toBe('case-42');
  });

  it('is still serving correct predictions after all of them', async () => {
    const response = await server.request('POST', V1, { instances: [row()] });
    expect(response.status).toBe(200);
    expect(response.body.predictions[0].label).toBe('Adelie');
  });

  it('refuses an upload larger than the limit with 413 and keeps nothing', async () => {
    const small = await startServer({ SLIPWAY_MAX_UPLOAD_BYTES: 1000 });
    try {
      await small.request('POST', '/api/v1/models', { name: 'big' });
      const response = await small.request(
        'POST',
        '/api/v1/models/big/versions',
        uploadForm(join(FIXTURES, 'lightgbm-penguins.onnx')),
      );
      expect(response.status).toBe(413);
      expect(response.body.code).toBe('PAYLOAD_TOO_LARGE');
      expect((await small.request('GET', '/api/v1/models/big/versions')).body.versions).toEqual([]);
    } finally {
      await small.stop();
    }
  });
});
