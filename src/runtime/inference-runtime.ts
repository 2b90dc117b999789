import type { Signature } from '../domain/signature.js';
import type { NamedTensors } from './tensor.js';

/** What validation learns about a model that passes. */
export interface ModelInspection {
  readonly signature: Signature;
  readonly irVersion: number;
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  readonly nodeCount: number;
}

/**
 * When a worker ran a model, in wall-clock milliseconds (`performance.timeOrigin + performance.now()`
 * in the worker's process): the model's own time, without the trip to and from the worker.
 */
export interface ModelRun {
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * Loads models and computes with them. Implementations keep all heavy work off the caller's thread:
 * the HTTP server keeps answering health checks while a model loads or a slow inference runs.
 */
export interface InferenceRuntime {
  /**
   * Statically validates model bytes (without handing them to the inference engine) and returns the
   * signature. Throws SlipwayError INVALID_MODEL / UNSUPPORTED_MODEL with `details.reason`.
   */
  inspect(bytes: Uint8Array): Promise<ModelInspection>;

  /** Loads validated bytes under `key`, replacing nothing: loading an already loaded key is a no-op. */
  load(key: string, bytes: Uint8Array): Promise<void>;

  /**
   * Runs a loaded model. `outputs` names the outputs to compute. A call that runs past `timeoutMs`
   * (default: the runtime's configured deadline) fails with DEADLINE_EXCEEDED. `onRun`, if given, is
   * told when the model ran (traces); without it nothing is timed.
   */
  infer(
    key: string,
    inputs: NamedTensors,
    outputs: readonly string[],
    timeoutMs?: number,
    onRun?: (run: ModelRun) => void,
  ): Promise<NamedTensors>;

  /**
   * Keeps at least `workers` workers computing until the returned function is called (a batch run
   * scoring with every core); workers added for it load every model before they take a call.
   */
  reserve(workers: number): () => Promise<void>;

  /** Frees a loaded model; unknown keys are ignored. */
  unload(key: string): Promise<void>;

  /** Stops every worker. In-flight calls reject with UNAVAILABLE. */
  close(): Promise<void>;
}
