import type { ErrorCode } from '../../errors/index.js';
import type { ModelInspection, ModelRun } from '../inference-runtime.js';
import type { NamedTensors } from '../tensor.js';

/** Messages from the pool to an inference worker. */
export type WorkerRequest =
  | { readonly id: number; readonly op: 'inspect'; readonly bytes: Uint8Array }
  | { readonly id: number; readonly op: 'load'; readonly key: string; readonly bytes: Uint8Array }
  | {
      readonly id: number;
      readonly op: 'run';
      readonly key: string;
      readonly inputs: NamedTensors;
      readonly outputs: readonly string[];
      /** Answer with a `TimedOutputs`: the outputs and when the model ran. */
      readonly timed?: boolean;
    }
  | { readonly id: number; readonly op: 'unload'; readonly key: string };

export interface WorkerFailure {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** The answer to a timed `run`. */
export interface TimedOutputs {
  readonly outputs: NamedTensors;
  readonly run: ModelRun;
}

/** Replies; `ready` is sent once when the worker has started. */
export type WorkerResponse =
  | {
      readonly id: number;
      readonly ok: true;
      readonly result: ModelInspection | NamedTensors | TimedOutputs | null;
    }
  | { readonly id: number; readonly ok: false; readonly error: WorkerFailure }
  | { readonly id: -1; readonly ready: true };
