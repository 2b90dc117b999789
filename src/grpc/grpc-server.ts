import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { Logger } from 'pino';
import protobuf from 'protobufjs';
import type { TokenService } from '../auth/token-service.js';
import type { ModelVersion } from '../domain/model.js';
import { assertModelName, parseVersionOrTag } from '../domain/names.js';
import type { Revision } from '../domain/revision.js';
import { type Actor, LOCAL_ACTOR, requireRole } from '../domain/roles.js';
import { echo, isSlipwayError, SlipwayError } from '../errors/index.js';
import { ERROR_STATUS } from '../http/error-status.js';
import type { Metrics } from '../observability/metrics.js';
import { type RequestTrace, type Tracing, traceClock } from '../observability/tracing.js';
import type { BatchPolicy } from '../serving/batcher.js';
import type { DataPlane } from '../serving/data-plane.js';
import type { TensorInput } from '../serving/input-decoder.js';
import { servedModelConfig } from '../serving/model-config.js';
import { nanToNull, readTensorBytes, tensorBytes } from '../serving/tensor-bytes.js';
import { PREDICT_V2_PROTO } from './predict-v2-proto.js';

/** The metadata key that picks an environment on an all-in-one server (default: the server's default). */
export const ENVIRONMENT_METADATA = 'slipway-environment';

export interface GrpcServerOptions {
  readonly dataPlane: DataPlane;
  readonly tokens: TokenService;
  /** False in local mode: every call acts as the local admin. */
  readonly auth: boolean;
  /** The environment a call without `slipway-environment` addresses. */
  readonly defaultEnvironment: string;
  /** Slipway's version, reported by ServerMetadata. */
  readonly version: string;
  /** This server's replica name, in the initial metadata of every ModelInfer answer. */
  readonly replica: string;
  readonly isReady: () => boolean;
  /** Dynamic batching of a model, for its configuration (`ModelConfig`). */
  readonly batching: (model: string) => BatchPolicy;
  /** Largest message accepted (the HTTP body limit). */
  readonly maxMessageBytes: number;
  /** Where ModelInfer calls are counted, beside HTTP's prediction requests. */
  readonly metrics?: Pick<Metrics, 'request'>;
  /** Traces of ModelInfer calls, or null when tracing is off. */
  readonly tracing?: Tracing | null;
  readonly logger: Logger;
}

/** A running gRPC listener. */
export interface GrpcListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * HTTP statuses to gRPC status codes, the usual correspondence: Slipway's one code -> status table
 * (`http/error-status.ts`) classifies every error once, and gRPC follows it.
 */
const GRPC_STATUS: Readonly<Record<number, grpc.status>> = {
  400: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  404: grpc.status.NOT_FOUND,
  409: grpc.status.FAILED_PRECONDITION,
  413: grpc.status.RESOURCE_EXHAUSTED,
  415: grpc.status.INVALID_ARGUMENT,
  422: grpc.status.FAILED_PRECONDITION,
  429: grpc.status.RESOURCE_EXHAUSTED,
  499: grpc.status.CANCELLED,
  500: grpc.status.INTERNAL,
  503: grpc.status.UNAVAILABLE,
  504: grpc.status.DEADLINE_EXCEEDED,
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type Access = 'public' | 'viewer';

const UNSERVED = { model: '', version: '', environment: '', revision: '' };
type Unary<Req, Res> = (
  request: Req,
  context: {
    actor: Actor;
    environment: string;
    requestId: string;
    call: grpc.ServerUnaryCall<Req, Res>;
    /** Names the version that answers (the labels of the call's metrics). */
    served: (version: ModelVersion, revision: Revision) => void;
    /** The call's trace (ModelInfer, while tracing is on), else null. */
    trace: RequestTrace | null;
  },
) => Promise<Res>;

interface WireTensor {
  name: string;
  datatype: string;
  shape: (string | number)[];
  contents?: Record<string, unknown[]> | null;
}

interface InferRequest {
  model_name: string;
  model_version: string;
  id: string;
  inputs: WireTensor[];
  outputs: { name: string }[];
  raw_input_contents: Buffer[];
}

/** The protocol's service definition, parsed from the text the build ships (servers and test clients). */
export function serviceDefinition(): grpc.ServiceDefinition {
  const root = protobuf.parse(PREDICT_V2_PROTO, { keepCase: true }).root;
  const definition = fromJSON(root.toJSON(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } };
  };
  return loaded.inference.GRPCInferenceService.service;
}

/**
 * The Open Inference Protocol over gRPC (KServe's `grpc_predict_v2.proto`, and Triton's `ModelConfig`
 * as the HTTP model configuration route answers it): the same data plane as the
 * HTTP routes, so the same environments, revisions, version routing, batching and input checks. A
 * call authenticates with `authorization: Bearer <token>` in its metadata (as HTTP, inference needs
 * the viewer role; liveness, readiness and server metadata are public), picks an environment with
 * `slipway-environment` on an all-in-one server, and may name itself with `x-request-id`. Errors carry
 * Slipway's message as the status details and its code in the trailing metadata (`slipway-code`).
 * Outputs always come back as `raw_output_contents`, as Triton answers.
 */
export async function startGrpcServer(
  options: GrpcServerOptions,
  host: string,
  port: number,
): Promise<GrpcListener> {
  const { dataPlane, logger } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': options.maxMessageBytes,
  });

  const unary =
    <Req, Res>(rpc: string, access: Access, handler: Unary<Req, Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
      const given = call.metadata.get('x-request-id')[0];
      const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      const log = logger.child({ reqId: requestId, rpc });
      const reply = new grpc.Metadata();
      reply.set('x-request-id', requestId);
      const started = performance.now();
      // The caller's trace context travels in metadata under the HTTP header names.
      const trace =
        rpc === 'ModelInfer' && options.tracing
          ? options.tracing.startRequest({
              protocol: 'grpc',
              requestId,
              carrier: {
                traceparent: textOf(call.metadata, 'traceparent'),
                tracestate: textOf(call.metadata, 'tracestate'),
              },
            })
          : null;
      let labels = UNSERVED;
      const served = (version: ModelVersion, revision: Revision) => {
        labels = {
          model: version.model,
          version: String(version.version),
          environment: revision.environment,
          revision: String(revision.number),
        };
        trace?.served(version.model, version.version, revision.environment, revision.number);
      };
      // Predictions are counted as HTTP's are: once each, with the HTTP status of their outcome.
      const count = (status: number) => {
        if (rpc !== 'ModelInfer') return;
        const seconds = (performance.now() - started) / 1000;
        options.metrics?.request({ ...labels, protocol: 'grpc', status, seconds });
      };
      void (async () => {
        const actor = await authenticate(call.metadata, access, rpc);
        const chosen = call.metadata.get(ENVIRONMENT_METADATA)[0];
        const environment = typeof chosen === 'string' && chosen !== '' ? chosen : options.defaultEnvironment;
        return handler(call.request, { actor, environment, requestId, call, served, trace });
      })().then(
        (response) => {
          call.sendMetadata(reply);
          callback(null, response);
          count(200);
          trace?.end(200);
        },
        (error: unknown) => {
          const refusal = isSlipwayError(error)
            ? error
            : new SlipwayError('INTERNAL', 'Internal server error.');
          const status = ERROR_STATUS[refusal.code];
          if (status >= 500) log.error({ err: error, code: refusal.code }, 'call failed');
          else log.info({ code: refusal.code, error: refusal.message }, 'call refused');
          const trailer = new grpc.Metadata();
          trailer.set('slipway-code', refusal.code);
          trailer.set('x-request-id', requestId);
          callback({
            code: GRPC_STATUS[status] ?? grpc.status.UNKNOWN,
            details: refusal.message,
            metadata: trailer,
          });
          count(status);
          trace?.end(status, refusal.code);
        },
      );
    };

  const authenticate = async (metadata: grpc.Metadata, access: Access, rpc: string): Promise<Actor> => {
    if (!options.auth) return LOCAL_ACTOR;
    const header = metadata.get('authorization')[0];
    if (access === 'public') return { name: 'anonymous', role: 'viewer' };
    const actor = await options.tokens.authenticate(typeof header === 'string' ? header : undefined);
    requireRole(actor, access, rpc);
    return actor;
  };

  const modelOf = (name: string) => assertModelName(name, 'name');
  const versionOf = (version: string) => (version === '' ? undefined : parseVersionOrTag(version, 'version'));

  server.addService(serviceDefinition(), {
    ServerLive: unary('ServerLive', 'public', async () => ({ live: true })),
    ServerReady: unary('ServerReady', 'public', async () => ({ ready: options.isReady() })),
    ServerMetadata: unary('ServerMetadata', 'public', async () => ({
      name: 'slipway',
      version: options.version,
      extensions: [],
    })),
    ModelReady: unary<{ name: string; version: string }, { ready: boolean }>(
      'ModelReady',
      'viewer',
      async (request, { environment }) => {
        await dataPlane.resolve(environment, modelOf(request.name), versionOf(request.version));
        return { ready: true };
      },
    ),
    ModelMetadata: unary<{ name: string; version: string }, unknown>(
      'ModelMetadata',
      'viewer',
      async (request, { environment }) =>
        dataPlane.metadata(environment, modelOf(request.name), versionOf(request.version)),
    ),
    ModelConfig: unary<{ name: string; version: string }, unknown>(
      'ModelConfig',
      'viewer',
      async (request, { environment }) => {
        const model = modelOf(request.name);
        const served = await dataPlane.resolve(environment, model, versionOf(request.version));
        return { config: servedModelConfig(model, served.signature, options.batching(model)) };
      },
    ),
    ModelInfer: unary<InferRequest, unknown>(
      'ModelInfer',
      'viewer',
      async (request, { environment, requestId, call, served, trace }) => {
        const model = assertModelName(request.model_name, 'model_name');
        const version =
          request.model_version === ''
            ? undefined
            : parseVersionOrTag(request.model_version, 'model_version');
        const tensors = inputsOf(request);
        const result = await dataPlane.infer({
          model,
          environment,
          ...(version !== undefined ? { version } : {}),
          inputs: { kind: 'tensors', tensors },
          ...(request.outputs.length > 0 ? { outputs: request.outputs.map((o) => o.name) } : {}),
          requestId,
          onVersion: (version, revision) => {
            served(version, revision);
            const headers = new grpc.Metadata();
            headers.set('x-slipway-model-version', String(version.version));
            headers.set('x-slipway-revision', String(revision.number));
            headers.set('x-request-id', requestId);
            headers.set('x-slipway-replica', options.replica);
            call.sendMetadata(headers);
          },
          trace,
        });
        const encodeStart = trace ? traceClock() : 0;
        const names =
          request.outputs.length > 0 ? request.outputs.map((o) => o.name) : Object.keys(result.outputs);
        const outputs = names.map((name) => result.outputs[name]).filter((t) => t !== undefined);
        const response = {
          model_name: model,
          model_version: String(result.version.version),
          id: request.id === '' ? requestId : request.id,
          outputs: outputs.map((tensor, i) => ({
            name: names[i],
            datatype: tensor.datatype,
            shape: [...tensor.shape],
          })),
          raw_output_contents: outputs.map((tensor) => tensorBytes(tensor)),
        };
        trace?.encoded(encodeStart, traceClock());
        return response;
      },
    ),
  });

  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host.includes(':') ? `[${host}]` : host}:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, p) => (error ? reject(error) : resolve(p)),
    ),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}

/** A metadata value sent as text (binary `-bin` keys never carry trace context). */
function textOf(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A request's inputs as the JSON path carries them, from `raw_input_contents` (one buffer per input,
 * in order) or from each input's typed `contents`; the InputDecoder then checks them like any other.
 */
function inputsOf(request: InferRequest): TensorInput[] {
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `raw_input_contents: has ${raw.length} entries for ${request.inputs.length} inputs; expected one per input, in order.`,
      { field: 'raw_input_contents' },
    );
  }
  return request.inputs.map((input, i) => {
    const at = `inputs[${i}]`;
    const shape = input.shape.map((dimension) => {
      const value = Number(dimension);
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `${at}.shape: ${echo(String(dimension))} is not a dimension.`,
          {
            field: `${at}.shape`,
          },
        );
      }
      return value;
    });
    const declared = { name: input.name, datatype: input.datatype, shape };
    const data =
      raw.length > 0
        ? readTensorBytes(declared, raw[i] as Buffer, at, `raw_input_contents[${i}]`)
        : typedContents(input, at);
    return { ...declared, data };
  });
}

/** The field of `InferTensorContents` each datatype travels in. */
const CONTENTS_FIELD: Readonly<Record<string, string>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};
const utf8 = new TextDecoder('utf-8', { fatal: true });

function typedContents(input: WireTensor, at: string): unknown[] {
  const field = CONTENTS_FIELD[input.datatype];
  if (field === undefined) {
    throw new SlipwayError(
      'INVALID_DATATYPE',
      `${at}.datatype: ${echo(input.datatype)} is not a datatype of the protocol.`,
      {
        field: `${at}.datatype`,
      },
    );
  }
  const values = input.contents?.[field] ?? [];
  if (input.datatype === 'BYTES') {
    return values.map((value, j) => {
      try {
        return utf8.decode(value as Buffer);
      } catch {
        throw new SlipwayError('INVALID_VALUE', `${at}.contents.bytes_contents[${j}]: is not valid UTF-8.`, {
          field: `${at}.contents`,
        });
      }
    });
  }
  if (input.datatype === 'INT64' || input.datatype === 'UINT64') {
    // 64-bit integers arrive as decimal strings; beyond 2^53 the InputDecoder refuses them as out of range.
    return values.map((value) => Number(value));
  }
  // NaN is how binary clients write a missing value, as in the raw and binary paths.
  if (input.datatype === 'FP32' || input.datatype === 'FP64') {
    return values.map((value) => nanToNull(value as number));
  }
  return values;
}
