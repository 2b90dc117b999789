/**
 * An inference worker process. onnxruntime-node's session creation and `run()` are synchronous native
 * calls that block their thread, so they live here, never in the HTTP process. A process rather than
 * a worker thread because it can be killed mid-`run()` when a request overruns its deadline (stopping
 * a thread inside onnxruntime aborts the whole program), and because a native crash in a model then
 * costs one worker, not the server. Each worker owns its sessions and answers one message at a time.
 */
import ort from 'onnxruntime-node';
import { type ErrorCode, isSlipwayError } from '../../errors/index.js';
import { DATATYPE_OF_ORT, type NamedTensors, ORT_TYPE, type Tensor } from '../tensor.js';
import { inspectOnnxModel } from './onnx-validator.js';
import { SESSION_OPTIONS } from './session-options.js';
import type { TimedOutputs, WorkerRequest, WorkerResponse } from './worker-protocol.js';

const sessions = new Map<string, ort.InferenceSession>();
/**
 * Answers the pool. A worker whose pool has gone (its channel closed, or closing as it writes: EPIPE)
 * is exiting and answers no one; the callback takes that error, which would otherwise be thrown.
 */
const send = (message: WorkerResponse) => {
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
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
          return failure(
            request.id,
            'INVALID_MODEL',
            `onnxruntime could not load the model: ${messageOf(error)}`,
            {
              reason: 'LOAD_FAILED',
            },
          );
        }
      }
      return { id: request.id, ok: true, result: null };
    }
    case 'run': {
      const session = sessions.get(request.key);
      if (!session)
        return failure(request.id, 'MODEL_NOT_READY', `Model ${request.key} is not loaded in this worker.`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(request.inputs)) {
        feeds[name] = new ort.Tensor(
          ORT_TYPE[tensor.datatype] as 'float32',
          tensor.data as Float32Array,
          tensor.shape,
        );
      }
      try {
        // Timed in this process, around the model's run alone: a trace's `inference` span.
        const startedAt = request.timed ? performance.timeOrigin + performance.now() : 0;
        const results = await session.run(feeds, [...request.outputs]);
        const endedAt = request.timed ? performance.timeOrigin + performance.now() : 0;
        const outputs: Record<string, Tensor> = {};
        for (const name of request.outputs) {
          const value = results[name]!;
          outputs[name] = {
            datatype: DATATYPE_OF_ORT[value.type]!,
            shape: [...value.dims],
            data: value.data as Float32Array,
          };
        }
        const result = request.timed
          ? ({ outputs, run: { startedAt, endedAt } } satisfies TimedOutputs)
          : (outputs satisfies NamedTensors);
        return { id: request.id, ok: true, result };
      } catch (error) {
        return failure(
          request.id,
          'INFERENCE_FAILED',
          `The model failed while computing: ${messageOf(error)}`,
        );
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

function failure(
  id: number,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): WorkerResponse {
  return { id, ok: false, error: details ? { code, message, details } : { code, message } };
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim().replace(/\s+/g, ' ').slice(0, 2000);
}

process.on('message', (request: WorkerRequest) => {
  handle(request).then(send, (error: unknown) => {
    send(
      isSlipwayError(error)
        ? {
            id: request.id,
            ok: false,
            error: { code: error.code, message: error.message, details: error.details ?? {} },
          }
        : { id: request.id, ok: false, error: { code: 'INTERNAL', message: messageOf(error) } },
    );
  });
});

// The pool owns this process: when the pool goes away, so does the worker. A signal to the whole
// process group (Ctrl-C in a terminal, a supervisor stopping the group) must not end it before the
// server has answered the requests it is finishing: the server closes the pool when it is done.
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

send({ id: -1, ready: true });
