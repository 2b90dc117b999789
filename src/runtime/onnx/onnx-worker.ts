/**
 * An inference worker thread. onnxruntime-node's session creation and `run()` are synchronous native
 * calls on the calling thread, so they live here, never on the HTTP thread. Each worker owns its own
 * sessions (sessions cannot be shared between threads) and answers one message at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { type ErrorCode, isSlipwayError } from '../../errors/index.js';
import { DATATYPE_OF_ORT, type NamedTensors, ORT_TYPE, type Tensor } from '../tensor.js';
import { inspectOnnxModel } from './onnx-validator.js';
import type { WorkerRequest, WorkerResponse } from './worker-protocol.js';

const port = parentPort!;
const sessions = new Map<string, ort.InferenceSession>();
const threads = (workerData as { intraOpThreads?: number } | undefined)?.intraOpThreads ?? 1;

// Tabular models are tiny: one intra-op thread per session and one session per worker beats ORT's
// default pool of all cores, and spinning idle threads would steal CPU from the other workers.
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

async function handle(request: WorkerRequest): Promise<WorkerResponse> {
  switch (request.op) {
    case 'inspect':
      return { id: request.id, ok: true, result: inspectOnnxModel(request.bytes) };
    case 'load': {
      if (!sessions.has(request.key)) {
        try {
          sessions.set(request.key, await ort.InferenceSession.create(request.bytes, SESSION_OPTIONS));
        } catch (error) {
          return failure(request.id, 'INVALID_MODEL', `onnxruntime could not load the model: ${messageOf(error)}`, {
            reason: 'LOAD_FAILED',
          });
        }
      }
      return { id: request.id, ok: true, result: null };
    }
    case 'run': {
      const session = sessions.get(request.key);
      if (!session) return failure(request.id, 'MODEL_NOT_READY', `Model ${request.key} is not loaded in this worker.`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(request.inputs)) {
        feeds[name] = new ort.Tensor(ORT_TYPE[tensor.datatype] as 'float32', tensor.data as Float32Array, tensor.shape);
      }
      try {
        const results = await session.run(feeds, [...request.outputs]);
        const outputs: Record<string, Tensor> = {};
        for (const name of request.outputs) {
          const value = results[name]!;
          outputs[name] = { datatype: DATATYPE_OF_ORT[value.type]!, shape: [...value.dims], data: value.data as Float32Array };
        }
        return { id: request.id, ok: true, result: outputs satisfies NamedTensors };
      } catch (error) {
        return failure(request.id, 'INFERENCE_FAILED', `The model failed while computing: ${messageOf(error)}`);
      }
    }
    case 'unload': {
      const session = sessions.get(request.key);
      sessions.delete(request.key);
      await session?.release();
      return { id: request.id, ok: true, result: null };
    }
  }
}

function failure(id: number, code: ErrorCode, message: string, details?: Record<string, unknown>): WorkerResponse {
  return { id, ok: false, error: details ? { code, message, details } : { code, message } };
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim().replace(/\s+/g, ' ').slice(0, 2000);
}

/** Buffers of output tensors move to the main thread instead of being copied. */
function transferables(response: WorkerResponse): ArrayBuffer[] {
  if (!('ok' in response) || !response.ok || response.result === null || 'signature' in response.result) return [];
  return Object.values(response.result as NamedTensors).flatMap((tensor) =>
    ArrayBuffer.isView(tensor.data) && tensor.data.buffer instanceof ArrayBuffer ? [tensor.data.buffer] : [],
  );
}

port.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (response) => {
      try {
        port.postMessage(response, transferables(response));
      } catch {
        // A buffer shared with onnxruntime cannot always be transferred; copying is the fallback.
        port.postMessage(response);
      }
    },
    (error: unknown) => {
      const response: WorkerResponse = isSlipwayError(error)
        ? { id: request.id, ok: false, error: { code: error.code, message: error.message, details: error.details ?? {} } }
        : { id: request.id, ok: false, error: { code: 'INTERNAL', message: messageOf(error) } };
      port.postMessage(response);
    },
  );
});

port.postMessage({ id: -1, ready: true } satisfies WorkerResponse);
