import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * Numbers that overflow to infinity (JSON `1e999`, binary ±Inf, an FP64 value past FP32's range) are
 * refused like NaN, with 400 INVALID_VALUE naming the field, on every protocol; never computed, never
 * answered as null.
 */
let server: TestServer;

const V1 = '/v1/models/penguin-species:predict';
const TYPED = '/v2/models/typed/infer';

/** The penguin row as JSON text with `bill_length_mm` written verbatim (JSON.stringify cannot write 1e999). */
const v1Row = (literal: string) => {
  const row = { ...penguinManifest().sample[0]!, bill_length_mm: '__VALUE__' };
  return JSON.stringify(row).replace('"__VALUE__"', literal);
};

/** A typed-inputs request whose input `name` (a FP32 or e FP64) is written verbatim. */
const typedJson = (name: 'a' | 'e', literal: string) =>
  JSON.stringify({
    inputs: [
      { name: 'a', shape: [1, 1], datatype: 'FP32', data: ['__a__'] },
      { name: 'b', shape: [1, 1], datatype: 'INT64', data: [2] },
      { name: 'c', shape: [1, 1], datatype: 'BYTES', data: ['x'] },
      { name: 'd', shape: [1, 1], datatype: 'BOOL', data: [true] },
      { name: 'e', shape: [1, 1], datatype: 'FP64', data: ['__e__'] },
    ],
  })
    .replace(`"__${name}__"`, literal)
    .replace(/"__[ae]__"/, '1.5');

/** The same request with input `name` sent as raw little-endian bytes (binary tensor data extension). */
const typedBinary = (name: 'a' | 'e', value: number): { body: Buffer; headerLength: number } => {
  const bytes = Buffer.alloc(name === 'a' ? 4 : 8);
  if (name === 'a') bytes.writeFloatLE(value);
  else bytes.writeDoubleLE(value);
  const header = JSON.parse(typedJson(name, '0')) as {
    inputs: { name: string; data?: unknown[]; parameters?: Record<string, number> }[];
  };
  const input = header.inputs.find((i) => i.name === name)!;
  delete input.data;
  input.parameters = { binary_data_size: bytes.length };
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, bytes]), headerLength: json.length };
};

interface Case {
  readonly name: string;
  readonly path: string;
  readonly body: string | Buffer;
  readonly headers: Record<string, string>;
  readonly field: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const cases: Case[] = [
  ...[
    '1e999',
    '-1e999',
    '1E400',
    '-179769313486231590000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  ].flatMap((literal) => [
    {
      name: `V1 instance ${literal.slice(0, 12)}`,
      path: V1,
      body: `{"instances": [${v1Row(literal)}]}`,
      headers: JSON_TYPE,
      field: 'instances[0].bill_length_mm',
    },
    {
      name: `V2 FP64 ${literal.slice(0, 12)}`,
      path: TYPED,
      body: typedJson('e', literal),
      headers: JSON_TYPE,
      field: 'inputs[4].data[0]',
    },
  ]),
  {
    name: 'V1 instance without a Content-Type',
    path: V1,
    body: `{"instances": [${v1Row('1e999')}]}`,
    headers: {},
    field: 'instances[0].bill_length_mm',
  },
  ...['1e999', '-1e999', '3.5e38', '-1e39'].map((literal) => ({
    name: `V2 FP32 ${literal}`,
    path: TYPED,
    body: typedJson('a', literal),
    headers: JSON_TYPE,
    field: 'inputs[0].data[0]',
  })),
  {
    name: 'V2 FP32 nested data',
    path: TYPED,
    body: typedJson('a', '[1e999]'),
    headers: JSON_TYPE,
    field: 'inputs[0].data[0]',
  },
  {
    name: 'V2 under /envs/dev',
    path: `/envs/dev${TYPED}`,
    body: typedJson('e', '-1e999'),
    headers: JSON_TYPE,
    field: 'inputs[4].data[0]',
  },
  ...(
    [
      ['a', Number.POSITIVE_INFINITY],
      ['a', Number.NEGATIVE_INFINITY],
      ['e', Number.POSITIVE_INFINITY],
      ['e', Number.NEGATIVE_INFINITY],
    ] as const
  ).flatMap(([name, value]): Case[] => {
    const { body, headerLength } = typedBinary(name, value);
    const field = name === 'a' ? 'inputs[0].data[0]' : 'inputs[4].data[0]';
    return [
      {
        name: `binary ${name === 'a' ? 'FP32' : 'FP64'} ${value}`,
        path: TYPED,
        body,
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(headerLength),
        },
        field,
      },
      {
        name: `binary ${name === 'a' ? 'FP32' : 'FP64'} ${value} without a Content-Type (tritonclient)`,
        path: TYPED,
        body,
        headers: { 'inference-header-content-length': String(headerLength) },
        field,
      },
    ];
  }),
];

beforeAll(async () => {
  server = await startServer();
  expect((await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest())).status).toBe(
    201,
  );
  expect((await server.push('typed', join(FIXTURES, 'typed-inputs.onnx'))).status).toBe(201);
});
afterAll(() => server.stop());

describe('numbers that overflow to infinity', () => {
  it('has a corpus across V1, V2 JSON and binary tensors', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases)('refuses $name with 400 INVALID_VALUE', async ({ path, body, headers, field }) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers,
      // A Blob without a type sends no Content-Type when the case has none.
      body: new Blob([body]),
    });
    const answer = (await response.json()) as { code: string; details?: { field?: string } };
    expect([response.status, answer.code, answer.details?.field], JSON.stringify(answer)).toEqual([
      400,
      'INVALID_VALUE',
      field,
    ]);
  });

  it('still computes the largest finite values', async () => {
    const fp32 = await server.request('POST', TYPED, JSON.parse(typedJson('a', '3.4e38')));
    expect(fp32.status, fp32.text).toBe(200);
    const fp64 = await server.request('POST', TYPED, JSON.parse(typedJson('e', '1e300')));
    expect(fp64.status, fp64.text).toBe(200);
    expect(fp64.body.outputs.find((o: { name: string }) => o.name === 'e_out').data[0]).toBe(2e300);
  });
});
