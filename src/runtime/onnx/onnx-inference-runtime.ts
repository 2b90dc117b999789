import type { Logger } from 'pino';
import type { InferenceRuntime, ModelInspection, ModelRun } from '../inference-runtime.js';
import type { NamedTensors } from '../tensor.js';
import { WorkerPool, type WorkerRestartReason } from './worker-pool.js';
import type { TimedOutputs } from './worker-protocol.js';

export interface OnnxInferenceRuntimeOptions {
  /** Number of worker processes; each loads every model. */
  readonly workers: number;
  readonly inferenceTimeoutMs: number;
  /** Told each time a worker process is replaced (metrics count it). */
  readonly onRestart?: (reason: WorkerRestartReason) => void;
  readonly logger: Logger;
}

/** `InferenceRuntime` on onnxruntime-node, with validation, loading and inference in worker processes. */
export class OnnxInferenceRuntime implements InferenceRuntime {
  private readonly pool: WorkerPool;

  constructor(options: OnnxInferenceRuntimeOptions) {
    this.pool = new WorkerPool({
      size: options.workers,
      runTimeoutMs: options.inferenceTimeoutMs,
      logger: options.logger,
      ...(options.onRestart ? { onRestart: options.onRestart } : {}),
    });
  }

  /** Resolves when every worker process has started. */
  started(): Promise<void> {
    return this.pool.started();
  }

  inspect(bytes: Uint8Array): Promise<ModelInspection> {
    return this.pool.inspect<ModelInspection>(bytes);
  }

  load(key: string, bytes: Uint8Array): Promise<void> {
    return this.pool.load(key, bytes);
  }

  infer(
    key: string,
    inputs: NamedTensors,
    outputs: readonly string[],
    timeoutMs?: number,
    onRun?: (run: ModelRun) => void,
  ): Promise<NamedTensors> {
    if (!onRun) return this.pool.run<NamedTensors>({ op: 'run', key, inputs, outputs }, timeoutMs);
    return this.pool
      .run<TimedOutputs>({ op: 'run', key, inputs, outputs, timed: true }, timeoutMs)
      .then((timed) => {
        onRun(timed.run);
        return timed.outputs;
      });
  }

  reserve(workers: number): () => Promise<void> {
    return this.pool.reserve(workers);
  }

  unload(key: string): Promise<void> {
    return this.pool.unload(key);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
