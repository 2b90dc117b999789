import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../src/grpc/grpc-server.js';
import type { ExampleModel, Prediction } from './example-model.js';
import { type Measurement, percentile } from './load.js';

/** One ModelInfer request, sent as is on every call. */
export interface GrpcTarget {
  /** `host:port` of Slipway's gRPC listener. */
  readonly address: string;
  readonly request: Record<string, unknown>;
}

type InferClient = grpc.Client & {
  ModelInfer(
    request: unknown,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response: InferResponse) => void,
  ): void;
};
interface InferResponse {
  readonly outputs: { name: string }[];
  readonly raw_output_contents: Buffer[];
}

const Service = grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService');
/** Concurrent calls one channel (one HTTP/2 connection) carries; more callers open more channels. */
const CALLS_PER_CHANNEL = 64;

/**
 * The example row as tritonclient.grpc sends it: one `[1, 1]` input per column, its bytes in
 * `raw_input_contents` (FP32 little-endian; BYTES as a 4-byte length and the UTF-8 text).
 */
export function grpcInferRequest(model: ExampleModel): Record<string, unknown> {
  const inputs = model.inputs.map((input) => ({
    name: input.name,
    datatype: input.type === 'string' ? 'BYTES' : 'FP32',
    shape: [1, 1],
  }));
  const raw = model.inputs.map((input) => {
    const value = model.row[input.name];
    if (input.type === 'string') {
      const text = Buffer.from(String(value ?? ''), 'utf8');
      const bytes = Buffer.alloc(4 + text.length);
      bytes.writeUInt32LE(text.length, 0);
      text.copy(bytes, 4);
      return bytes;
    }
    return Buffer.from(new Float32Array([value === null ? Number.NaN : Number(value)]).buffer);
  });
  return { model_name: model.name, inputs, raw_input_contents: raw };
}

function clientFor(address: string): InferClient {
  return new Service(address, grpc.credentials.createInsecure()) as unknown as InferClient;
}

function infer(client: InferClient, request: unknown): Promise<InferResponse> {
  return new Promise((resolve, reject) =>
    client.ModelInfer(request, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** One call, its answer read as the label and probabilities of the example model. */
export async function predictOverGrpc(target: GrpcTarget): Promise<Prediction> {
  const client = clientFor(target.address);
  try {
    const response = await infer(client, target.request);
    const at = (name: string) => response.outputs.findIndex((output) => output.name === name);
    const label = response.raw_output_contents[at('label')] as Buffer;
    const probabilities = response.raw_output_contents[at('probabilities')] as Buffer;
    return {
      label: label.subarray(4, 4 + label.readUInt32LE(0)).toString('utf8'),
      probabilities: Array.from(
        new Float32Array(
          probabilities.buffer.slice(
            probabilities.byteOffset,
            probabilities.byteOffset + probabilities.byteLength,
          ),
        ),
      ),
    };
  } finally {
    client.close();
  }
}

/**
 * Closed-loop load over gRPC, like autocannon's over HTTP: `concurrency` callers, each sending the next
 * call as soon as the last answer arrived, for `seconds`, on one HTTP/2 channel per 64 callers.
 */
export async function measureGrpc(
  target: GrpcTarget,
  concurrency: number,
  seconds: number,
): Promise<Measurement> {
  const clients = Array.from({ length: Math.ceil(concurrency / CALLS_PER_CHANNEL) }, () =>
    clientFor(target.address),
  );
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  const caller = async (index: number) => {
    const client = clients[Math.floor(index / CALLS_PER_CHANNEL)] as InferClient;
    while (performance.now() < until) {
      const begin = performance.now();
      try {
        await infer(client, target.request);
        latencies.push(performance.now() - begin);
      } catch {
        errors += 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => caller(i)));
  } finally {
    for (const client of clients) client.close();
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    connections: concurrency,
    requestsPerSecond: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
  };
}
