import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { serviceDefinition } from '../../src/grpc/grpc-server.js';
import { CLI, slipway } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { killed, serveProcess } from '../helpers/serve-process.js';
import { FIXTURES, ROOT, startServer, type TestServer } from '../helpers/server.js';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
const Service = grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService');

interface Outcome {
  readonly response?: Record<string, unknown>;
  readonly error?: grpc.ServiceError;
}

/** One unary call; the outcome holds the answer or the error (with its trailing metadata). */
function call(
  client: Client,
  rpc: string,
  request: unknown,
  metadata = new grpc.Metadata(),
): Promise<Outcome> {
  return new Promise((resolve) => {
    (
      client[rpc] as (
        r: unknown,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, r: unknown) => void,
      ) => void
    )(request, metadata, (error, response) =>
      resolve(error ? { error } : { response: response as Record<string, unknown> }),
    );
  });
}

const metadataOf = (entries: Record<string, string>) => {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
};

const floats = (...values: number[]) => Buffer.from(new Float32Array(values).buffer);
const readFloats = (bytes: Buffer) =>
  Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));

describe('Open Inference Protocol over gRPC', () => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startServer({ SLIPWAY_GRPC_PORT: 0 });
    expect((await server.push('echo', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
    expect((await server.push('typed', join(FIXTURES, 'typed-inputs.onnx'))).status).toBe(201);
    const address = server.app.grpcAddress();
    expect(address).not.toBeNull();
    client = new Service(address as string, grpc.credentials.createInsecure()) as unknown as Client;
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('answers liveness, readiness and server metadata', async () => {
    expect((await call(client, 'ServerLive', {})).response).toEqual({ live: true });
    expect((await call(client, 'ServerReady', {})).response).toEqual({ ready: true });
    expect((await call(client, 'ServerMetadata', {})).response).toMatchObject({ name: 'slipway' });
  });

  it('describes a model as the HTTP route does', async () => {
    const { response } = await call(client, 'ModelMetadata', { name: 'typed', version: '' });
    const http = await server.request('GET', '/v2/models/typed');
    expect(response).toMatchObject({
      name: 'typed',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
    });
    const shape = (tensors: { name: string; datatype: string; shape: (string | number)[] }[]) =>
      tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) }));
    expect(shape(response?.inputs as never)).toEqual(shape((http.body as { inputs: never }).inputs));
    expect(shape(response?.outputs as never)).toEqual(shape((http.body as { outputs: never }).outputs));
    expect((await call(client, 'ModelReady', { name: 'echo', version: '1' })).response).toEqual({
      ready: true,
    });
  });

  it('infers from raw and from typed contents, with the same numbers as HTTP', async () => {
    const raw = await call(client, 'ModelInfer', {
      model_name: 'echo',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 1] }],
      raw_input_contents: [floats(1.5, -2, 3.25)],
    });
    expect(raw.error).toBeUndefined();
    expect(raw.response).toMatchObject({ model_name: 'echo', model_version: '1' });
    const outputs = raw.response?.outputs as { name: string; datatype: string; shape: string[] }[];
    expect(outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)])).toEqual([['y', 'FP32', [3, 1]]]);
    expect(
      readFloats((raw.response as { raw_output_contents: Buffer[] }).raw_output_contents[0] as Buffer),
    ).toEqual([1.5, -2, 3.25]);

    const typed = await call(client, 'ModelInfer', {
      model_name: 'typed',
      id: 'my-request',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 1], contents: { fp32_contents: [1.5, 2] } },
        { name: 'b', datatype: 'INT64', shape: [2, 1], contents: { int64_contents: [2, 3] } },
        {
          name: 'c',
          datatype: 'BYTES',
          shape: [2, 1],
          contents: { bytes_contents: [Buffer.from('x'), Buffer.from('yé')] },
        },
        { name: 'd', datatype: 'BOOL', shape: [2, 1], contents: { bool_contents: [true, false] } },
        { name: 'e', datatype: 'FP64', shape: [2, 1], contents: { fp64_contents: [0.25, 1] } },
      ],
      outputs: [{ name: 'a_plus_b' }, { name: 'c_out' }],
    });
    expect(typed.error).toBeUndefined();
    expect(typed.response?.id).toBe('my-request');
    const [sum, strings] = (typed.response as { raw_output_contents: Buffer[] }).raw_output_contents;
    const http = await server.request('POST', '/v2/models/typed/infer', {
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 1], data: [1.5, 2] },
        { name: 'b', datatype: 'INT64', shape: [2, 1], data: [2, 3] },
        { name: 'c', datatype: 'BYTES', shape: [2, 1], data: ['x', 'yé'] },
        { name: 'd', datatype: 'BOOL', shape: [2, 1], data: [true, false] },
        { name: 'e', datatype: 'FP64', shape: [2, 1], data: [0.25, 1] },
      ],
      outputs: [{ name: 'a_plus_b' }],
    });
    expect(readFloats(sum as Buffer)).toEqual(
      (http.body as { outputs: { data: number[] }[] }).outputs[0]?.data,
    );
    // BYTES come back length-prefixed, as raw contents lay them out.
    const text = strings as Buffer;
    expect(text.readUInt32LE(0)).toBe(1);
    expect(text.subarray(4, 5).toString()).toBe('x');
    expect(text.subarray(9).toString()).toBe('yé');
  });

  it('maps errors to gRPC codes, with Slipway’s code and message', async () => {
    const cases: [string, unknown, grpc.status, string][] = [
      ['ModelInfer', { model_name: 'nope', inputs: [] }, grpc.status.NOT_FOUND, 'MODEL_NOT_FOUND'],
      [
        'ModelInfer',
        { model_name: 'Not A Name', inputs: [] },
        grpc.status.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      ],
      [
        'ModelInfer',
        {
          model_name: 'echo',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1] }],
          raw_input_contents: [floats(1)],
        },
        grpc.status.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      ],
      [
        'ModelInfer',
        {
          model_name: 'echo',
          inputs: [
            {
              name: 'x',
              datatype: 'FP32',
              shape: [1, 1],
              contents: { fp32_contents: [Number.POSITIVE_INFINITY] },
            },
          ],
        },
        grpc.status.INVALID_ARGUMENT,
        'INVALID_VALUE',
      ],
      [
        'ModelInfer',
        {
          model_name: 'echo',
          inputs: [{ name: 'zz', datatype: 'FP32', shape: [1, 1], contents: { fp32_contents: [1] } }],
        },
        grpc.status.INVALID_ARGUMENT,
        'UNKNOWN_INPUT',
      ],
      [
        'ModelInfer',
        { model_name: 'echo', model_version: '99', inputs: [] },
        grpc.status.NOT_FOUND,
        'VERSION_NOT_FOUND',
      ],
      ['ModelMetadata', { name: 'nope' }, grpc.status.NOT_FOUND, 'MODEL_NOT_FOUND'],
    ];
    for (const [rpc, request, status, code] of cases) {
      const { error } = await call(client, rpc, request, metadataOf({ 'x-request-id': 'grpc-req-1' }));
      expect(error?.code, `${rpc} ${JSON.stringify(request).slice(0, 120)}: ${error?.details}`).toBe(status);
      expect(error?.metadata.get('slipway-code')[0]).toBe(code);
      expect(error?.metadata.get('x-request-id')[0]).toBe('grpc-req-1');
      expect(error?.details.length).toBeGreaterThan(10);
    }
  });
});

describe('gRPC with authentication on', () => {
  let server: TestServer;
  let client: Client;
  let viewer: string;

  beforeAll(async () => {
    server = await startServer({ SLIPWAY_AUTH: 'on', SLIPWAY_GRPC_PORT: 0 });
    const { secret } = await server.app.tokens.create('grpc-viewer', 'viewer', {
      actor: { name: 'local', role: 'admin' },
      requestId: null,
    });
    viewer = secret;
    client = new Service(
      server.app.grpcAddress() as string,
      grpc.credentials.createInsecure(),
    ) as unknown as Client;
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('needs a bearer token in the metadata for model calls, none for liveness', async () => {
    expect((await call(client, 'ServerLive', {})).response).toEqual({ live: true });
    const anonymous = await call(client, 'ModelMetadata', { name: 'echo' });
    expect(anonymous.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = await call(
      client,
      'ModelMetadata',
      { name: 'echo' },
      metadataOf({ authorization: 'Bearer slw_nope' }),
    );
    expect(wrong.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const known = await call(
      client,
      'ModelMetadata',
      { name: 'echo' },
      metadataOf({ authorization: `Bearer ${viewer}` }),
    );
    // Authenticated: the model is simply not deployed here.
    expect(known.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(known.error?.metadata.get('slipway-code')[0]).toBe('MODEL_NOT_FOUND');
  });
});

describe('the gRPC port of `slipway serve`', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-grpc-serve-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('accepts connections by the time the HTTP port answers /health', async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--port', String(port), '--data-dir', join(scratch, 'ready')],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          SLIPWAY_LOG_LEVEL: 'silent',
          SLIPWAY_AUTH: 'off',
          SLIPWAY_GRPC_PORT: String(grpcPort),
        },
        stdio: 'ignore',
      },
    );
    try {
      // Polled as a client would: the first answer must not come before the gRPC port is open.
      let healthy = false;
      while (!healthy) {
        if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
        healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
          (response) => response.ok,
          () => false,
        );
        if (!healthy) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const opened = await new Promise<boolean>((resolve) => {
        const socket = connect(grpcPort, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      expect(opened, 'gRPC accepts connections once /health answers').toBe(true);
    } finally {
      await killed(child);
    }
  }, 60_000);

  it('in a cluster of HTTP processes, reports the HTTP address and the gRPC one, each answering', async () => {
    const grpcPort = await freePort();
    const {
      child,
      url,
      grpc: address,
    } = await serveProcess(join(scratch, 'cluster'), {
      SLIPWAY_HTTP_PROCESSES: '2',
      SLIPWAY_INFERENCE_WORKERS: '2',
      SLIPWAY_GRPC_PORT: String(grpcPort),
    });
    const client = new Service(address!, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      expect(address).toBe(`127.0.0.1:${grpcPort}`);
      // Whichever process opened its ports last, the reported URL is the HTTP one.
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await call(client, 'ServerLive', {})).response).toEqual({ live: true });
    } finally {
      client.close();
      await killed(child);
    }
  }, 60_000);

  it('refuses to start on a busy gRPC port, naming the setting that chooses it', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const busyPort = (holder.address() as AddressInfo).port;
    try {
      const result = await slipway(['serve', '--port', '0', '--data-dir', join(scratch, 'busy')], {
        SLIPWAY_AUTH: 'off',
        SLIPWAY_GRPC_PORT: String(busyPort),
      });
      expect(result.code, result.stderr).toBe(EXIT.UNAVAILABLE);
      expect(result.stderr).toContain(`Port ${busyPort} on 127.0.0.1 is already in use`);
      expect(result.stderr).toContain('SLIPWAY_GRPC_PORT');
    } finally {
      holder.close();
    }
  }, 60_000);
});
