import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/index.js';
import { serviceDefinition } from '../../src/grpc/grpc-server.js';
import type { InferenceRequest } from '../../src/serving/data-plane.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * Traces of predictions, exported to a real OTLP/HTTP receiver on loopback: each request's server
 * span continues the caller's W3C trace context (HTTP headers, gRPC metadata), its steps are child
 * spans, and the inference span is the worker's own time inside it. Without an endpoint nothing is
 * sent and requests carry no trace.
 */

type AttributeValue = { stringValue?: string; intValue?: string | number; doubleValue?: number };
interface WireSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: { key: string; value: AttributeValue }[];
  status?: { code?: number };
}
interface ExportBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: AttributeValue }[] };
    scopeSpans: { spans: WireSpan[] }[];
  }[];
}

/** A span as the test reads it: ids, times in nanoseconds, attributes as plain values. */
interface Seen {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Record<string, string | number>;
  statusCode: number;
}

const attributeValue = (value: AttributeValue): string | number =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? NaN));
const attributesOf = (list: { key: string; value: AttributeValue }[] = []) =>
  Object.fromEntries(list.map(({ key, value }) => [key, attributeValue(value)]));

/** A collector's OTLP/HTTP traces endpoint: keeps every JSON body POSTed to /v1/traces. */
class Receiver {
  readonly bodies: ExportBody[] = [];
  readonly paths: string[] = [];
  private readonly server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.paths.push(`${request.method} ${request.url} ${request.headers['content-type']}`);
      this.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportBody);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  spans(): Seen[] {
    return this.bodies.flatMap((body) =>
      body.resourceSpans.flatMap((r) =>
        r.scopeSpans.flatMap((s) =>
          s.spans.map((span) => ({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            kind: span.kind,
            start: BigInt(span.startTimeUnixNano),
            end: BigInt(span.endTimeUnixNano),
            attributes: attributesOf(span.attributes),
            statusCode: span.status?.code ?? 0,
          })),
        ),
      ),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A caller's trace context: a fresh trace and parent span id, sampled. */
function callerContext() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const v2Body = (value: number) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [value, 1, 2, 3] }],
});

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
const Service = grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService');

function modelInfer(client: Client, metadata: grpc.Metadata): Promise<grpc.ServiceError | null> {
  const request = {
    model_name: 'identity',
    model_version: '',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
    raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)],
  };
  return new Promise((resolve) =>
    (client.ModelInfer as (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void)(
      request,
      metadata,
      (error) => resolve(error),
    ),
  );
}

/** Records the trace each prediction carries into the data plane (the real one answers it). */
function recordTraces(server: TestServer): InferenceRequest['trace'][] {
  const seen: InferenceRequest['trace'][] = [];
  const dataPlane = server.app.dataPlane;
  const infer = dataPlane.infer.bind(dataPlane);
  dataPlane.infer = (request) => {
    seen.push(request.trace);
    return infer(request);
  };
  return seen;
}

describe('traces of predictions', () => {
  const receiver = new Receiver();
  let spans: Seen[] = [];
  let carried: InferenceRequest['trace'][] = [];
  const v1 = callerContext();
  const v2 = callerContext();
  const rpc = callerContext();
  const concurrent = Array.from({ length: 9 }, () => callerContext());
  const requestIds: Record<string, string> = {};
  let untracedId = '';
  let malformedId = '';
  let refusedId = '';
  const unsampled = callerContext();
  let unsampledAt = -1;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    // One worker, so concurrent requests queue in the batcher and leave merged.
    const server = await startServer({
      OTEL_EXPORTER_OTLP_ENDPOINT: `${endpoint}/`,
      OTEL_SERVICE_NAME: 'slipway-under-test',
      SLIPWAY_GRPC_PORT: 0,
      SLIPWAY_INFERENCE_WORKERS: 1,
    });
    try {
      expect((await server.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
      carried = recordTraces(server);

      const first = await server.request(
        'POST',
        '/v1/models/identity:predict',
        { instances: [[1, 2, 3, 4]] },
        { traceparent: v1.traceparent },
      );
      expect(first.status).toBe(200);
      requestIds.v1 = first.headers.get('x-request-id') as string;
      const second = await server.request('POST', '/v2/models/identity/infer', v2Body(1), {
        traceparent: v2.traceparent,
        tracestate: 'vendor=value',
      });
      expect(second.status).toBe(200);
      requestIds.v2 = second.headers.get('x-request-id') as string;

      const client = new Service(
        server.app.grpcAddress() as string,
        grpc.credentials.createInsecure(),
      ) as unknown as Client;
      const metadata = new grpc.Metadata();
      metadata.set('traceparent', rpc.traceparent);
      metadata.set('x-request-id', 'grpc-traced-call');
      expect(await modelInfer(client, metadata)).toBeNull();
      client.close();

      const untraced = await server.request('POST', '/v2/models/identity/infer', v2Body(2));
      expect(untraced.status).toBe(200);
      untracedId = untraced.headers.get('x-request-id') as string;
      const malformed = await server.request('POST', '/v2/models/identity/infer', v2Body(3), {
        traceparent: '00-not-a-trace-01',
      });
      expect(malformed.status).toBe(200);
      malformedId = malformed.headers.get('x-request-id') as string;
      const refused = await server.request(
        'POST',
        '/v2/models/identity/infer',
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] },
        { traceparent: callerContext().traceparent },
      );
      expect(refused.status).toBe(400);
      refusedId = refused.headers.get('x-request-id') as string;
      unsampledAt = carried.length;
      const notSampled = await server.request('POST', '/v2/models/identity/infer', v2Body(4), {
        traceparent: unsampled.traceparent.replace(/-01$/, '-00'),
      });
      expect(notSampled.status).toBe(200);

      // A slow call holds the one worker; the requests sent meanwhile queue and leave as one merged call.
      expect((await server.push('slow', join(FIXTURES, 'slow.onnx'))).status).toBe(201);
      const send = (context: { traceparent: string }) =>
        server.request('POST', '/v2/models/slow/infer', v2Body(1), { traceparent: context.traceparent });
      const [holder, ...waiting] = concurrent;
      const holding = send(holder as { traceparent: string });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const answers = await Promise.all([holding, ...waiting.map(send)]);
      for (const answer of answers) expect(answer.status).toBe(200);
    } finally {
      // Closing the server exports what the batch processor still holds.
      await server.stop();
    }
    spans = receiver.spans();
  });
  afterAll(() => receiver.close());

  const serverSpanOf = (requestId: string) => {
    const found = spans.filter(
      (s) => s.name === 'slipway.infer' && s.attributes['slipway.request_id'] === requestId,
    );
    expect(found).toHaveLength(1);
    return found[0] as Seen;
  };
  const childrenOf = (parent: Seen) =>
    Object.fromEntries(
      spans
        .filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId)
        .map((s) => [s.name, s]),
    );

  it('posts OTLP JSON to <endpoint>/v1/traces, named after OTEL_SERVICE_NAME', () => {
    expect(receiver.paths.length).toBeGreaterThan(0);
    for (const path of receiver.paths) expect(path).toBe('POST /v1/traces application/json');
    const resource = attributesOf(receiver.bodies[0]?.resourceSpans[0]?.resource.attributes);
    expect(resource['service.name']).toBe('slipway-under-test');
  });

  it('continues the caller’s trace on V1, V2 and gRPC, with the request’s attributes', () => {
    for (const [protocol, context] of [
      ['v1', v1],
      ['v2', v2],
    ] as const) {
      const span = serverSpanOf(requestIds[protocol] as string);
      expect(span.traceId).toBe(context.traceId);
      expect(span.parentSpanId).toBe(context.spanId);
      expect(span.kind).toBe(2); // SERVER
      expect(span.attributes).toMatchObject({
        'slipway.protocol': protocol,
        'slipway.model': 'identity',
        'slipway.version': 1,
        'slipway.environment': 'dev',
        'slipway.revision': 1,
        'slipway.status_code': 200,
      });
    }
    const call = serverSpanOf('grpc-traced-call');
    expect(call.traceId).toBe(rpc.traceId);
    expect(call.parentSpanId).toBe(rpc.spanId);
    expect(call.attributes).toMatchObject({
      'slipway.protocol': 'grpc',
      'slipway.model': 'identity',
      'slipway.status_code': 200,
    });
  });

  it('times decode, queue, inference and encode as children inside the request’s span', () => {
    for (const requestId of [requestIds.v1, requestIds.v2, 'grpc-traced-call'] as string[]) {
      const parent = serverSpanOf(requestId);
      const children = childrenOf(parent);
      expect(Object.keys(children).sort()).toEqual(['decode', 'encode', 'inference', 'queue']);
      for (const child of Object.values(children)) {
        expect(child.start).toBeGreaterThanOrEqual(parent.start);
        expect(child.end).toBeLessThanOrEqual(parent.end);
        expect(child.end).toBeGreaterThanOrEqual(child.start);
      }
      const inference = children.inference as Seen;
      expect(inference.attributes['slipway.batch_size']).toBe(1);
      expect(inference.attributes['slipway.batch_requests']).toBe(1);
      // In order: the model ran after the inputs were decoded and before the outputs were encoded.
      expect(inference.start).toBeGreaterThanOrEqual((children.decode as Seen).end);
      expect(inference.end).toBeLessThanOrEqual((children.encode as Seen).start);
    }
  });

  it('gives every request of a merged call an inference span with the call’s times and size', () => {
    const inferences = concurrent.map((context) => {
      const parent = spans.find((s) => s.name === 'slipway.infer' && s.traceId === context.traceId) as Seen;
      expect(parent.parentSpanId).toBe(context.spanId);
      const children = childrenOf(parent);
      const inference = children.inference as Seen;
      expect(inference.start).toBeGreaterThanOrEqual((children.queue as Seen).end);
      expect(inference.end).toBeLessThanOrEqual(parent.end);
      return inference;
    });
    const merged = inferences.filter((s) => (s.attributes['slipway.batch_requests'] as number) > 1);
    expect(merged.length).toBeGreaterThanOrEqual(2);
    for (const span of merged) {
      const sameCall = merged.filter((s) => s.start === span.start && s.end === span.end);
      expect(sameCall).toHaveLength(span.attributes['slipway.batch_requests'] as number);
      expect(span.attributes['slipway.batch_size']).toBe(sameCall.length);
    }
  });

  it('starts a new trace for a request without a valid traceparent', () => {
    const known = new Set([v1, v2, rpc, ...concurrent].map((c) => c.traceId));
    for (const requestId of [untracedId, malformedId]) {
      const span = serverSpanOf(requestId);
      expect(span.parentSpanId).toBe('');
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(known.has(span.traceId)).toBe(false);
      expect(Object.keys(childrenOf(span)).sort()).toEqual(['decode', 'encode', 'inference', 'queue']);
    }
  });

  it('records a refused request with its status and no model run', () => {
    const span = serverSpanOf(refusedId);
    expect(span.attributes['slipway.status_code']).toBe(400);
    expect(span.statusCode).toBe(0); // a caller's mistake is not the server's error
    expect(Object.keys(childrenOf(span))).toEqual([]);
  });

  it('hands the data plane a trace for each sampled prediction, and none for a caller’s unsampled one', () => {
    expect(carried).toHaveLength(7 + concurrent.length);
    carried.forEach((trace, i) => {
      if (i === unsampledAt) expect(trace).toBeNull();
      else expect(trace).toBeTruthy();
    });
    expect(spans.filter((s) => s.traceId === unsampled.traceId)).toEqual([]);
  });

  it('sends nothing and traces nothing without an OTLP endpoint', async () => {
    const before = receiver.bodies.length;
    const server = await startServer({ SLIPWAY_GRPC_PORT: 0 });
    expect(server.app.config.traces).toBeNull();
    let traces: InferenceRequest['trace'][] = [];
    try {
      expect((await server.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
      traces = recordTraces(server);
      const context = callerContext();
      const answers = await Promise.all([
        server.request(
          'POST',
          '/v1/models/identity:predict',
          { instances: [[1, 2, 3, 4]] },
          { traceparent: context.traceparent },
        ),
        server.request('POST', '/v2/models/identity/infer', v2Body(1), { traceparent: context.traceparent }),
      ]);
      for (const answer of answers) expect(answer.status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(traces).toHaveLength(2);
    for (const trace of traces) expect(trace ?? null).toBeNull();
    expect(receiver.bodies.length).toBe(before);
  });
});

describe('a collector that never answers', () => {
  it('holds up the server’s shutdown by at most five seconds', async () => {
    let posts = 0;
    const silent = createServer(() => {
      posts += 1; // and never answer
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const server = await startServer({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
      });
      expect((await server.push('identity', join(FIXTURES, 'identity.onnx'))).status).toBe(201);
      expect((await server.request('POST', '/v2/models/identity/infer', v2Body(1))).status).toBe(200);
      const stopping = performance.now();
      await server.stop();
      const seconds = (performance.now() - stopping) / 1000;
      expect(posts).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeGreaterThan(4);
      expect(seconds).toBeLessThan(8);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('the OTLP endpoint settings', () => {
  // No process environment, and a folder without .env or slipway.yaml: only the values given count.
  const traces = (env: Record<string, string>) => {
    const cwd = mkdtempSync(join(tmpdir(), 'slipway-traces-'));
    try {
      return compileConfig({}, env, cwd).traces;
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  };

  it('appends /v1/traces to the generic endpoint, uses the traces endpoint as is, and prefers it', () => {
    expect(traces({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      url: 'http://collector:4318/v1/traces',
      serviceName: 'slipway',
    });
    expect(
      traces({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/otlp/traces',
        OTEL_SERVICE_NAME: 'scoring',
      }),
    ).toEqual({ url: 'https://collector.example/otlp/traces', serviceName: 'scoring' });
  });

  it('is off when unset or empty, and refuses what is not an http(s) URL at boot', () => {
    expect(traces({})).toBeNull();
    expect(traces({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' })).toBeNull();
    for (const value of ['collector:4318', 'ftp://collector/v1/traces']) {
      expect(() => traces({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: value })).toThrow(
        /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=.* is invalid: expected an http:\/\/ or https:\/\/ URL/,
      );
    }
  });
});
