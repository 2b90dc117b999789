import { isSlipwayError } from '../errors/index.js';
import type { RequestTrace } from '../observability/tracing.js';
import type { ModelRun } from '../runtime/inference-runtime.js';
import { concatRows, type NamedTensors, sliceRows } from '../runtime/tensor.js';

/** How requests for one model are merged into batches. */
export interface BatchPolicy {
  /** Most rows in one merged call; 1 turns batching off. */
  readonly maxBatchSize: number;
  /**
   * How long a request may wait for others to join it while a worker is free. 0 (the default) never
   * waits: requests are merged only when they queued up behind busy workers, so batching costs
   * nothing at low concurrency and grows with load.
   */
  readonly maxQueueDelayMs: number;
}

/** Runs one merged call; `onRun`, when given, is told when the worker ran it (traces). */
export type Execute = (
  inputs: NamedTensors,
  outputs: readonly string[],
  onRun?: (run: ModelRun) => void,
) => Promise<NamedTensors>;

/** Told of each call that leaves for a worker: its rows, and how long each request in it queued (ms). */
export type BatchObserver = (rows: number, queueWaitsMs: readonly number[]) => void;

interface Queued {
  readonly inputs: NamedTensors;
  readonly rows: number;
  /** performance.now() when the request joined the queue. */
  readonly queuedAt: number;
  /** The request's trace, told of its wait here and of the call it left in. */
  readonly trace: RequestTrace | null | undefined;
  readonly resolve: (outputs: NamedTensors) => void;
  readonly reject: (error: unknown) => void;
}

/** One model's queue for one set of requested outputs. */
interface Lane {
  readonly outputs: readonly string[];
  readonly queue: Queued[];
  inFlight: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Dynamic batching for one loaded model (Triton's dynamic batcher with its default delay of 0).
 * A request goes straight to a worker while fewer than `concurrency` calls of this model are in
 * flight; otherwise it queues, and when a call returns, everything queued (up to `maxBatchSize`
 * rows) leaves as one call: inputs are concatenated along the batch dimension, and each request gets
 * back its own rows of every output. A merged call that fails on one request's data is retried
 * request by request, so one bad row fails only its own request.
 *
 * Only models whose every input and output has a dynamic leading (batch) dimension are batched.
 */
export class Batcher {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly execute: Execute,
    private readonly policy: BatchPolicy,
    /** Calls of this model allowed in flight at once: the number of inference workers. */
    private readonly concurrency: number,
    private readonly observe?: BatchObserver,
  ) {}

  infer(
    inputs: NamedTensors,
    outputs: readonly string[],
    trace?: RequestTrace | null,
  ): Promise<NamedTensors> {
    const key = outputs.join('\0');
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { outputs, queue: [], inFlight: 0, timer: undefined };
      this.lanes.set(key, lane);
    }
    const rows = rowsOf(inputs);
    const target = lane;
    return new Promise<NamedTensors>((resolve, reject) => {
      target.queue.push({ inputs, rows, queuedAt: performance.now(), trace, resolve, reject });
      this.pump(target);
    });
  }

  /** Sends what is queued if a call slot is free (now, or once the queue delay has passed). */
  private pump(lane: Lane): void {
    if (lane.queue.length === 0 || lane.inFlight >= this.concurrency) return;
    const queuedRows = lane.queue.reduce((sum, q) => sum + q.rows, 0);
    if (this.policy.maxQueueDelayMs > 0 && queuedRows < this.policy.maxBatchSize && lane.inFlight > 0) {
      // Wait a little for company, but only while other calls keep the workers busy anyway.
      lane.timer ??= setTimeout(() => {
        lane.timer = undefined;
        this.flush(lane);
      }, this.policy.maxQueueDelayMs);
      return;
    }
    this.flush(lane);
  }

  private flush(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.queue.length === 0 || lane.inFlight >= this.concurrency) return;
    const batch: Queued[] = [];
    let rows = 0;
    while (lane.queue.length > 0) {
      const next = lane.queue[0] as Queued;
      if (batch.length > 0 && rows + next.rows > this.policy.maxBatchSize) break;
      batch.push(lane.queue.shift() as Queued);
      rows += next.rows;
    }
    lane.inFlight += 1;
    const leftAt = performance.now();
    if (this.observe) {
      this.observe(
        rows,
        batch.map((q) => leftAt - q.queuedAt),
      );
    }
    for (const q of batch)
      q.trace?.queued(performance.timeOrigin + q.queuedAt, performance.timeOrigin + leftAt);
    void this.run(lane.outputs, batch, rows).finally(() => {
      lane.inFlight -= 1;
      this.pump(lane);
    });
    // A second free slot takes the next batch at once.
    this.pump(lane);
  }

  private async run(outputs: readonly string[], batch: readonly Queued[], rows: number): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0] as Queued;
      await this.execute(only.inputs, outputs, onRunOf(batch, rows)).then(only.resolve, only.reject);
      return;
    }
    let merged: NamedTensors;
    try {
      merged = await this.execute(concatRows(batch.map((q) => q.inputs)), outputs, onRunOf(batch, rows));
    } catch (error) {
      // The model refused something in the merged data: find whose, one request at a time.
      if (isSlipwayError(error) && error.code === 'INFERENCE_FAILED') {
        await Promise.all(
          batch.map((q) =>
            this.execute(q.inputs, outputs, q.trace ? onRunOf([q], q.rows) : undefined).then(
              q.resolve,
              q.reject,
            ),
          ),
        );
      } else {
        for (const q of batch) q.reject(error);
      }
      return;
    }
    let offset = 0;
    for (const q of batch) {
      q.resolve(sliceRows(merged, offset, offset + q.rows));
      offset += q.rows;
    }
  }
}

/** Whether a model's requests can be merged: every input and output has a dynamic batch dimension. */
export function isBatchable(signature: {
  inputs: readonly { shape: readonly number[] }[];
  outputs: readonly { shape: readonly number[] }[];
}): boolean {
  return [...signature.inputs, ...signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
}

/** Tells every traced request of a call when the worker ran it; undefined (nothing timed) if none is traced. */
function onRunOf(batch: readonly Queued[], rows: number): ((run: ModelRun) => void) | undefined {
  let traced = false;
  for (const q of batch) if (q.trace) traced = true;
  if (!traced) return undefined;
  return (run) => {
    for (const q of batch) q.trace?.inferred(run.startedAt, run.endedAt, rows, batch.length);
  };
}

function rowsOf(inputs: NamedTensors): number {
  const first = Object.values(inputs)[0];
  return first?.shape[0] ?? 1;
}
