import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_SIZE } from '../../src/serving/model-config.js';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * The binary tensor data and model configuration extensions of the Open Inference Protocol, as
 * tritonclient and perf_analyzer use them: a JSON header of `Inference-Header-Content-Length` bytes,
 * then raw little-endian tensors. Binary answers must equal the JSON ones, and every malformed body
 * is a 400 with a code.
 */

type Values = readonly (number | string | boolean | null)[];
interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: Values;
}

/** Encodes values the way the extension lays them out (little-endian; BYTES length-prefixed). */
function encode(datatype: string, values: Values): Buffer {
  if (datatype === 'BYTES') {
    return Buffer.concat(
      values.map((value) => {
        const bytes = Buffer.from(String(value), 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return Buffer.concat([length, bytes]);
      }),
    );
  }
  const numbers = values.map((v) => (v === null ? Number.NaN : Number(v)));
  switch (datatype) {
    case 'FP32':
      return Buffer.from(new Float32Array(numbers).buffer);
    case 'FP64':
      return Buffer.from(new Float64Array(numbers).buffer);
    case 'INT64':
      return Buffer.from(new BigInt64Array(numbers.map(BigInt)).buffer);
    case 'BOOL':
      return Buffer.from(numbers);
    default:
      throw new Error(`no encoder for ${datatype}`);
  }
}

/** Decodes one binary output back to the values the JSON path gives. */
function decode(datatype: string, bytes: Buffer): Values {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (size: number, get: (offset: number) => number | string | boolean) =>
    Array.from({ length: bytes.length / size }, (_, i) => get(i * size));
  switch (datatype) {
    case 'FP32':
      return read(4, (o) => view.getFloat32(o, true));
    case 'FP64':
      return read(8, (o) => view.getFloat64(o, true));
    case 'INT64':
      return read(8, (o) => Number(view.getBigInt64(o, true)));
    case 'BOOL':
      return read(1, (o) => view.getUint8(o) === 1);
    case 'BYTES': {
      const out: string[] = [];
      for (let o = 0; o < bytes.length; ) {
        const length = bytes.readUInt32LE(o);
        out.push(bytes.subarray(o + 4, o + 4 + length).toString('utf8'));
        o += 4 + length;
      }
      return out;
    }
    default:
      throw new Error(`no decoder for ${datatype}`);
  }
}

/** A request body with the named inputs sent as binary, the others as JSON. */
function binaryRequest(
  inputs: readonly Tensor[],
  binary: readonly string[] | 'all',
  rest: Record<string, unknown> = {},
): { body: Buffer; headerLength: number } {
  const chunks: Buffer[] = [];
  const header = {
    ...rest,
    inputs: inputs.map(({ name, datatype, shape, data }) => {
      if (binary !== 'all' && !binary.includes(name)) return { name, datatype, shape, data };
      const bytes = encode(datatype, data);
      chunks.push(bytes);
      return { name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }),
  };
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...chunks]), headerLength: json.length };
}

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
  body: any;
  /** Binary outputs decoded, keyed by name. */
  binary: Record<string, Values>;
}

describe('binary tensor data and model configuration', () => {
  let server: TestServer;

  /** POSTs raw bytes; `contentType` null sends no Content-Type at all, as tritonclient does. */
  const post = async (
    path: string,
    body: Buffer | string,
    headers: Record<string, string>,
    contentType: string | null = 'application/octet-stream',
  ): Promise<Answer> => {
    const all = { ...headers, ...(contentType ? { 'content-type': contentType } : {}) };
    // A Blob without a type makes fetch send no Content-Type header.
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: all,
      body: new Blob([body]),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const headerLength = response.headers.get('inference-header-content-length');
    const jsonLength = headerLength === null ? bytes.length : Number(headerLength);
    const parsed = JSON.parse(bytes.subarray(0, jsonLength).toString('utf8'));
    const binary: Record<string, Values> = {};
    let offset = jsonLength;
    for (const output of parsed.outputs ?? []) {
      const size = output.parameters?.binary_data_size;
      if (size === undefined) continue;
      binary[output.name] = decode(output.datatype, bytes.subarray(offset, offset + size));
      offset += size;
    }
    if (headerLength !== null) expect(offset, 'binary outputs fill the body exactly').toBe(bytes.length);
    return { status: response.status, headers: response.headers, body: parsed, binary };
  };
  const postBinary = (
    path: string,
    request: { body: Buffer; headerLength: number },
    contentType: string | null = 'application/octet-stream',
  ) =>
    post(
      path,
      request.body,
      { 'inference-header-content-length': String(request.headerLength) },
      contentType,
    );

  /** The JSON answer, with each binary output's data put back where JSON would have it. */
  const asJson = (answer: Answer) => ({
    ...answer.body,
    outputs: answer.body.outputs.map(
      // biome-ignore lint/suspicious/noExplicitAny: an output as the server answered it.
      ({ parameters, ...output }: any) =>
        parameters?.binary_data_size === undefined ? output : { ...output, data: answer.binary[output.name] },
    ),
  });

  const typedInputs = (): Tensor[] => [
    { name: 'a', datatype: 'FP32', shape: [3, 1], data: [1.5, -2.25, 1e6] },
    { name: 'b', datatype: 'INT64', shape: [3, 1], data: [2, -7, 2 ** 40] },
    { name: 'c', datatype: 'BYTES', shape: [3, 1], data: ['x', '', 'Zürich ✓'] },
    { name: 'd', datatype: 'BOOL', shape: [3, 1], data: [true, false, true] },
    { name: 'e', datatype: 'FP64', shape: [3, 1], data: [0.25, Math.PI, -1e-300] },
  ];
  const penguinInputs = (): Tensor[] => {
    const rows = penguinManifest().sample.slice(0, 3);
    return ['island', 'sex', 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'].map(
      (name) => ({
        name,
        datatype: name === 'island' || name === 'sex' ? 'BYTES' : 'FP32',
        shape: [rows.length, 1],
        data: rows.map((row) => row[name] as string | number),
      }),
    );
  };
  const allBinary = { parameters: { binary_data_output: true } };

  beforeAll(async () => {
    server = await startServer();
    const fixed = join(server.dataDir, 'fixed-shape.onnx');
    writeFileSync(fixed, fixedShapeIdentity());
    for (const [name, file] of [
      ['typed', join(FIXTURES, 'typed-inputs.onnx')],
      ['strings', join(FIXTURES, 'strings.onnx')],
      ['argmax', join(FIXTURES, 'int64-argmax.onnx')],
      ['fixed', fixed],
    ] as const) {
      const response = await server.push(name, file);
      expect(response.status, response.text).toBe(201);
    }
    const penguin = await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(penguin.status, penguin.text).toBe(201);
  });
  afterAll(() => server.stop());

  describe('model configuration', () => {
    it('describes a batchable model without its batch dimension, for every route form', async () => {
      const expected = {
        name: 'penguin-species',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        max_batch_size: MAX_BATCH_SIZE,
        input: [
          { name: 'island', data_type: 'TYPE_STRING', dims: [1] },
          { name: 'sex', data_type: 'TYPE_STRING', dims: [1] },
          ...['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'].map((name) => ({
            name,
            data_type: 'TYPE_FP32',
            dims: [1],
          })),
        ],
        output: [
          { name: 'label', data_type: 'TYPE_STRING', dims: [] },
          { name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] },
        ],
        // The defaults: merge what queues behind busy workers, up to 256 rows, waiting for nobody.
        dynamic_batching: { max_queue_delay_microseconds: 0, preferred_batch_size: [256] },
      };
      expect(MAX_BATCH_SIZE).toBe(1024);
      for (const path of [
        '/v2/models/penguin-species/config',
        '/v2/models/penguin-species/versions/1/config',
        '/envs/dev/v2/models/penguin-species/config',
        '/envs/dev/v2/models/penguin-species/versions/1/config',
      ]) {
        const response = await server.request('GET', path);
        expect(response.status, `${path}: ${response.text}`).toBe(200);
        expect(response.body, path).toEqual(expected);
      }
    });

    it('names every datatype as Triton does', async () => {
      const response = await server.request('GET', '/v2/models/typed/config');
      expect(response.body.input).toEqual([
        { name: 'a', data_type: 'TYPE_FP32', dims: [1] },
        { name: 'b', data_type: 'TYPE_INT64', dims: [1] },
        { name: 'c', data_type: 'TYPE_STRING', dims: [1] },
        { name: 'd', data_type: 'TYPE_BOOL', dims: [1] },
        { name: 'e', data_type: 'TYPE_FP64', dims: [1] },
      ]);
      expect(response.body.output.map((o: { data_type: string }) => o.data_type)).toEqual([
        'TYPE_FP32',
        'TYPE_STRING',
        'TYPE_BOOL',
        'TYPE_FP64',
      ]);
      const argmax = await server.request('GET', '/v2/models/argmax/config');
      expect(argmax.body.output).toEqual([
        { name: 'index', data_type: 'TYPE_INT64', dims: [] },
        { name: 'max', data_type: 'TYPE_FP32', dims: [] },
      ]);
    });

    it('gives a model without a dynamic first dimension max_batch_size 0 and its full shapes', async () => {
      const response = await server.request('GET', '/v2/models/fixed/config');
      expect(response.status, response.text).toBe(200);
      expect(response.body).toEqual({
        name: 'fixed',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        max_batch_size: 0,
        input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2, 3] }],
        output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2, 3] }],
      });
    });

    it('answers 404 for an unknown model or version', async () => {
      const model = await server.request('GET', '/v2/models/ghost/config');
      expect([model.status, model.body.code]).toEqual([404, 'MODEL_NOT_FOUND']);
      const version = await server.request('GET', '/v2/models/typed/versions/9/config');
      expect(version.status).toBe(404);
    });

    it('lists both extensions in the server metadata', async () => {
      for (const path of ['/v2', '/envs/dev/v2']) {
        const response = await server.request('GET', path);
        expect(response.body.extensions, path).toEqual(['binary_tensor_data', 'model_configuration']);
      }
    });
  });

  describe('binary tensors', () => {
    const cases: { model: string; inputs: () => Tensor[] }[] = [
      { model: 'typed', inputs: typedInputs },
      { model: 'penguin-species', inputs: penguinInputs },
      {
        model: 'argmax',
        inputs: () => [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 5, 2, 9, 0, 3] }],
      },
      {
        model: 'strings',
        inputs: () => [{ name: 'text', datatype: 'BYTES', shape: [3], data: ['abc', 'Zürich', ''] }],
      },
      {
        model: 'fixed',
        inputs: () => [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }],
      },
    ];

    it.each(cases)(
      '$model: binary in and binary out equal JSON in and JSON out',
      async ({ model, inputs }) => {
        const path = `/v2/models/${model}/infer`;
        const json = await server.request('POST', path, { id: 'same', inputs: inputs() });
        expect(json.status, json.text).toBe(200);
        expect(json.headers.get('inference-header-content-length')).toBeNull();

        // With application/octet-stream (perf_analyzer) and with no Content-Type at all (tritonclient).
        for (const contentType of ['application/octet-stream', null]) {
          const binary = await postBinary(
            path,
            binaryRequest(inputs(), 'all', { id: 'same', ...allBinary }),
            contentType,
          );
          expect(binary.status, JSON.stringify(binary.body)).toBe(200);
          expect(binary.headers.get('content-type')).toBe('application/octet-stream');
          expect(binary.headers.get('x-slipway-model-version')).toBe('1');
          for (const output of binary.body.outputs) {
            expect(output.data).toBeUndefined();
            expect(Object.keys(output.parameters)).toEqual(['binary_data_size']);
          }
          expect(asJson(binary)).toEqual(json.body);
        }
      },
    );

    it('reads INT64 outputs as 8-byte and BOOL as 1-byte little-endian values', async () => {
      const argmax = await postBinary(
        '/v2/models/argmax/infer',
        binaryRequest(
          [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 5, 2, 9, 0, 3] }],
          'all',
          allBinary,
        ),
      );
      expect(argmax.body.outputs[0]).toEqual({
        name: 'index',
        datatype: 'INT64',
        shape: [2],
        parameters: { binary_data_size: 16 },
      });
      expect(argmax.binary.index).toEqual([1, 0]);
      const typed = await postBinary(
        '/v2/models/typed/infer',
        binaryRequest(typedInputs(), 'all', allBinary),
      );
      const d = typed.body.outputs.find((o: { name: string }) => o.name === 'd_out');
      expect(d.parameters).toEqual({ binary_data_size: 3 });
      expect(typed.binary.d_out).toEqual([false, true, false]);
    });

    it('mixes binary and JSON inputs, and binary and JSON outputs', async () => {
      const path = '/v2/models/typed/infer';
      const json = await server.request('POST', path, { inputs: typedInputs() });
      const mixed = await postBinary(
        path,
        binaryRequest(typedInputs(), ['b', 'c', 'e'], {
          outputs: [
            { name: 'a_plus_b', parameters: { binary_data: true } },
            { name: 'c_out' },
            { name: 'd_out', parameters: { binary_data: true } },
            { name: 'e_out', parameters: { binary_data: false } },
          ],
        }),
      );
      expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
      const byName = (answer: Answer) =>
        Object.fromEntries(answer.body.outputs.map((o: { name: string }) => [o.name, o]));
      const outputs = byName(mixed);
      expect(outputs.a_plus_b.parameters).toBeDefined();
      expect(outputs.d_out.parameters).toBeDefined();
      expect(outputs.c_out.data).toEqual(['x', '', 'Zürich ✓']);
      expect(outputs.e_out.data).toEqual(byName(json as unknown as Answer).e_out.data);
      expect(asJson(mixed).outputs).toEqual(json.body.outputs);
    });

    it('lets a per-output binary_data: false override the request-level binary_data_output', async () => {
      const answer = await postBinary(
        '/v2/models/argmax/infer',
        binaryRequest([{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 5, 2] }], 'all', {
          ...allBinary,
          outputs: [{ name: 'index' }, { name: 'max', parameters: { binary_data: false } }],
        }),
      );
      expect(answer.body.outputs).toEqual([
        { name: 'index', datatype: 'INT64', shape: [1], parameters: { binary_data_size: 8 } },
        { name: 'max', datatype: 'FP32', shape: [1], data: [5] },
      ]);
      expect(answer.binary.index).toEqual([1]);
    });

    it('answers binary outputs to a plain JSON request that asks for them', async () => {
      const answer = await post(
        '/v2/models/strings/infer',
        JSON.stringify({
          inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['ab'] }],
          outputs: [{ name: 'upper', parameters: { binary_data: true } }],
        }),
        {},
        'application/json',
      );
      expect(answer.headers.get('content-type')).toBe('application/octet-stream');
      expect(answer.binary.upper).toEqual(['AB']);
    });

    it('reads a binary NaN as a missing value, like a JSON null, where the manifest allows it', async () => {
      const rows = penguinInputs().map((tensor) =>
        tensor.datatype === 'FP32' ? { ...tensor, data: [null, ...tensor.data.slice(1)] } : tensor,
      );
      const json = await server.request('POST', '/v2/models/penguin-species/infer', {
        id: 'nan',
        inputs: rows,
      });
      expect(json.status, json.text).toBe(200);
      const binary = await postBinary(
        '/v2/models/penguin-species/infer',
        binaryRequest(rows, 'all', { id: 'nan' }),
      );
      expect(binary.body).toEqual(json.body);
      // `a` of the typed model has no manifest saying it is nullable: NaN is refused as null is.
      const typed = typedInputs().map((t) => (t.name === 'a' ? { ...t, data: [Number.NaN, 1, 2] } : t));
      const refused = await postBinary('/v2/models/typed/infer', binaryRequest(typed, 'all'));
      expect([refused.status, refused.body.code, refused.body.details.field]).toEqual([
        400,
        'INVALID_VALUE',
        'inputs[0].data[0]',
      ]);
    });

    it('serves binary requests on the versioned and /envs/{env} routes', async () => {
      const json = await server.request('POST', '/v2/models/argmax/infer', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [4, 2, 7] }],
      });
      for (const path of [
        '/v2/models/argmax/versions/1/infer',
        '/envs/dev/v2/models/argmax/infer',
        '/envs/dev/v2/models/argmax/versions/1/infer',
      ]) {
        const answer = await postBinary(
          path,
          binaryRequest([{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [4, 2, 7] }], 'all', allBinary),
        );
        expect(answer.status, path).toBe(200);
        expect(asJson(answer).outputs, path).toEqual(json.body.outputs);
      }
    });

    it('treats a header length equal to the whole body as an all-JSON request (perf_analyzer)', async () => {
      const body = JSON.stringify({ id: 'pa', inputs: typedInputs() });
      const plain = await server.request('POST', '/v2/models/typed/infer', body);
      for (const contentType of ['application/json', null]) {
        const answer = await post(
          '/v2/models/typed/infer',
          body,
          { 'inference-header-content-length': String(Buffer.byteLength(body)) },
          contentType,
        );
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
        expect(answer.headers.get('inference-header-content-length')).toBeNull();
        expect(answer.body).toEqual(plain.body);
      }
    });

    it('takes binary tensors after a JSON header that is labelled application/json', async () => {
      const request = binaryRequest(typedInputs(), 'all', allBinary);
      const answer = await postBinary('/v2/models/typed/infer', request, 'application/json');
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.binary.c_out).toEqual(['x', '', 'Zürich ✓']);
    });
  });

  describe('malformed binary requests', () => {
    const path = '/v2/models/typed/infer';
    const good = () => binaryRequest(typedInputs(), 'all');
    /** A request whose header declares other sizes than the bytes that follow. */
    const withSize = (name: string, size: number | string) => {
      const { body, headerLength } = good();
      const header = JSON.parse(body.subarray(0, headerLength).toString());
      for (const input of header.inputs) if (input.name === name) input.parameters.binary_data_size = size;
      const json = Buffer.from(JSON.stringify(header));
      return { body: Buffer.concat([json, body.subarray(headerLength)]), headerLength: json.length };
    };
    const bytesOf = (strings: Buffer) => {
      const header = Buffer.from(
        JSON.stringify({
          inputs: [
            { name: 'text', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: strings.length } },
          ],
        }),
      );
      return { body: Buffer.concat([header, strings]), headerLength: header.length };
    };
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };

    const cases: {
      name: string;
      request: () => { body: Buffer; headerLength: number | string };
      target?: string;
      code: string;
      field?: string;
      message: RegExp;
    }[] = [
      {
        name: 'header length larger than the body',
        request: () => ({ ...good(), headerLength: good().body.length + 1 }),
        code: 'INVALID_ARGUMENT',
        field: 'Inference-Header-Content-Length',
        message: /but the body has only/,
      },
      {
        name: 'header length that is not a number',
        request: () => ({ ...good(), headerLength: 'twelve' }),
        code: 'INVALID_ARGUMENT',
        field: 'Inference-Header-Content-Length',
        message: /expected the length in bytes/,
      },
      {
        name: 'negative header length',
        request: () => ({ ...good(), headerLength: '-5' }),
        code: 'INVALID_ARGUMENT',
        field: 'Inference-Header-Content-Length',
        message: /expected the length in bytes/,
      },
      {
        name: 'header length cutting the JSON short',
        request: () => ({ ...good(), headerLength: good().headerLength - 2 }),
        code: 'INVALID_JSON',
        message: /not valid JSON/,
      },
      {
        name: 'extra bytes after the declared binary data',
        request: () => {
          const { body, headerLength } = good();
          return { body: Buffer.concat([body, Buffer.from([0, 0])]), headerLength };
        },
        code: 'INVALID_ARGUMENT',
        field: 'inputs',
        message: /add up to \d+ bytes, but \d+ bytes follow/,
      },
      {
        name: 'fewer bytes than declared',
        request: () => {
          const { body, headerLength } = good();
          return { body: body.subarray(0, body.length - 1), headerLength };
        },
        code: 'INVALID_ARGUMENT',
        field: 'inputs',
        message: /add up to/,
      },
      {
        name: 'binary_data_size not matching shape × element size',
        // 12 bytes moved from `e` (FP64, 24 bytes) to `a` (FP32, 12 bytes): the total still adds up.
        request: () => {
          const moved = withSize('a', 24);
          const header = JSON.parse(moved.body.subarray(0, moved.headerLength).toString());
          for (const input of header.inputs) if (input.name === 'e') input.parameters.binary_data_size = 12;
          const json = Buffer.from(JSON.stringify(header));
          return {
            body: Buffer.concat([json, moved.body.subarray(moved.headerLength)]),
            headerLength: json.length,
          };
        },
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0].parameters.binary_data_size',
        message: /shape \[3, 1\] of FP32 needs 3 × 4 = 12/,
      },
      {
        name: 'binary_data_size that is not a byte count',
        request: () => withSize('a', '12'),
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0].parameters.binary_data_size',
        message: /non-negative integer/,
      },
      {
        name: 'BYTES length running past the input',
        target: '/v2/models/strings/infer',
        request: () => bytesOf(Buffer.concat([u32(1), Buffer.from('a'), u32(50), Buffer.from('bc')])),
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0].parameters.binary_data_size',
        message: /element 1 declares 50 bytes/,
      },
      {
        name: 'BYTES input ending inside a length',
        target: '/v2/models/strings/infer',
        request: () => bytesOf(Buffer.concat([u32(4), Buffer.from('abcd'), Buffer.from([1, 0])])),
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0].parameters.binary_data_size',
        message: /too few|ends inside the length of element 1/,
      },
      {
        name: 'BYTES elements that leave bytes over',
        target: '/v2/models/strings/infer',
        request: () =>
          bytesOf(Buffer.concat([u32(1), Buffer.from('a'), u32(1), Buffer.from('b'), Buffer.from('zz')])),
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0].parameters.binary_data_size',
        message: /end at byte 10/,
      },
      {
        name: 'BYTES that are not UTF-8',
        target: '/v2/models/strings/infer',
        request: () => bytesOf(Buffer.concat([u32(1), Buffer.from([0xff]), u32(1), Buffer.from('b')])),
        code: 'INVALID_VALUE',
        field: 'inputs[0].data[0]',
        message: /UTF-8/,
      },
      {
        name: 'BOOL byte other than 0 or 1',
        request: () => {
          const inputs = typedInputs().map((t) => (t.name === 'd' ? { ...t, data: [1, 2, 0] } : t));
          return binaryRequest(inputs, 'all');
        },
        code: 'INVALID_VALUE',
        field: 'inputs[3].data[1]',
        message: /a BOOL must be 0 or 1/,
      },
      {
        name: 'input with both data and binary_data_size',
        request: () => {
          const { body, headerLength } = good();
          const header = JSON.parse(body.subarray(0, headerLength).toString());
          header.inputs[0].data = [1, 2, 3];
          const json = Buffer.from(JSON.stringify(header));
          return { body: Buffer.concat([json, body.subarray(headerLength)]), headerLength: json.length };
        },
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0]',
        message: /both data and parameters.binary_data_size/,
      },
      {
        name: 'input with neither data nor binary_data_size',
        request: () =>
          binaryRequest(
            typedInputs().map((t) => (t.name === 'a' ? { ...t, data: undefined as never } : t)),
            ['b'],
          ),
        code: 'INVALID_ARGUMENT',
        field: 'inputs[0]',
        message: /neither data nor/,
      },
      {
        name: 'datatype the extension cannot carry',
        request: () => {
          const { body, headerLength } = good();
          const header = JSON.parse(body.subarray(0, headerLength).toString());
          header.inputs[0].datatype = 'FP16';
          const json = Buffer.from(JSON.stringify(header));
          return { body: Buffer.concat([json, body.subarray(headerLength)]), headerLength: json.length };
        },
        code: 'INVALID_DATATYPE',
        field: 'inputs[0].datatype',
        message: /cannot be sent as binary data/,
      },
      {
        name: 'JSON header that breaks the request schema',
        request: () => {
          const header = Buffer.from(
            JSON.stringify({ inputs: [{ name: 'a', datatype: 'FP32', shape: 'x' }] }),
          );
          return { body: header, headerLength: header.length };
        },
        code: 'INVALID_ARGUMENT',
        field: 'inputs.0.shape',
        message: /^inputs\.0\.shape: /,
      },
      {
        name: 'JSON header with an unknown field',
        request: () => {
          const { body, headerLength } = good();
          const header = { ...JSON.parse(body.subarray(0, headerLength).toString()), input: [] };
          const json = Buffer.from(JSON.stringify(header));
          return { body: Buffer.concat([json, body.subarray(headerLength)]), headerLength: json.length };
        },
        code: 'INVALID_ARGUMENT',
        field: 'input',
        message: /^input: /,
      },
      {
        name: 'binary_data that is not a boolean',
        request: () =>
          binaryRequest(typedInputs(), 'all', {
            outputs: [{ name: 'c_out', parameters: { binary_data: 'yes' } }],
          }),
        code: 'INVALID_ARGUMENT',
        field: 'outputs[0].parameters.binary_data',
        message: /expected true or false/,
      },
      {
        name: 'binary input of the wrong datatype for the model',
        request: () =>
          binaryRequest(
            typedInputs().map((t) => (t.name === 'e' ? { ...t, datatype: 'FP32' } : t)),
            'all',
          ),
        code: 'INVALID_DATATYPE',
        field: 'inputs[4].datatype',
        message: /the model expects FP64/,
      },
    ];

    it.each(cases)('$name -> 400 $code', async ({ request, target, code, field, message }) => {
      const { body, headerLength } = request();
      const answer = await post(target ?? path, body, {
        'inference-header-content-length': String(headerLength),
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.code).toBe(code);
      expect(answer.body.error).toMatch(message);
      expect(answer.body.request_id).toEqual(expect.any(String));
      if (field !== undefined) expect(answer.body.details?.field).toBe(field);
    });

    it('refuses binary_data_size in a plain JSON request, which has no binary part', async () => {
      const inputs = typedInputs().map((t) =>
        t.name === 'a' ? { ...t, parameters: { binary_data_size: 12 } } : t,
      );
      const response = await server.request('POST', path, { inputs });
      expect([response.status, response.body.code, response.body.details.field]).toEqual([
        400,
        'INVALID_ARGUMENT',
        'inputs[0].parameters.binary_data_size',
      ]);
    });

    it('keeps refusing octet-stream bodies outside the V2 infer routes', async () => {
      const answer = await server.request('POST', '/v1/models/typed:predict', '{"instances": []}', {
        'content-type': 'application/octet-stream',
      });
      expect([answer.status, answer.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    });

    it('keeps serving after every malformed body', async () => {
      const answer = await postBinary(path, good());
      expect(answer.status).toBe(200);
    });
  });
});

/**
 * An Identity model over a FLOAT [2, 3] tensor: no dynamic first dimension, so not batchable. Built
 * here because every committed fixture is batchable.
 */
function fixedShapeIdentity(): Uint8Array {
  const root = protobuf.Root.fromJSON({
    nested: {
      onnx: {
        nested: {
          ModelProto: {
            fields: {
              irVersion: { type: 'int64', id: 1 },
              graph: { type: 'GraphProto', id: 7 },
              opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            },
          },
          OperatorSetIdProto: {
            fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
          },
          GraphProto: {
            fields: {
              node: { rule: 'repeated', type: 'NodeProto', id: 1 },
              name: { type: 'string', id: 2 },
              input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
              output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            },
          },
          NodeProto: {
            fields: {
              input: { rule: 'repeated', type: 'string', id: 1 },
              output: { rule: 'repeated', type: 'string', id: 2 },
              opType: { type: 'string', id: 4 },
            },
          },
          ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
          TypeProto: { fields: { tensorType: { type: 'TensorTypeProto', id: 1 } } },
          TensorTypeProto: {
            fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
          },
          TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
          Dimension: { fields: { dimValue: { type: 'int64', id: 1 } } },
        },
      },
    },
  });
  const Model = root.lookupType('onnx.ModelProto');
  const tensor = (name: string) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }, { dimValue: 3 }] } } },
  });
  return Model.encode(
    Model.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'fixed',
        node: [{ input: ['x'], output: ['y'], opType: 'Identity' }],
        input: [tensor('x')],
        output: [tensor('y')],
      },
    }),
  ).finish();
}
