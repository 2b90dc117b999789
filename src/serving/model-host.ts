import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import type { InputPolicy } from '../domain/model.js';
import type { ServableVersion } from '../domain/servable.js';
import type { Signature } from '../domain/signature.js';
import { SlipwayError } from '../errors/index.js';
import { type RequestTrace, traceClock } from '../observability/tracing.js';
import type { InferenceRuntime, ModelInspection } from '../runtime/inference-runtime.js';
import { allocate, elementCount, type NamedTensors, type Tensor } from '../runtime/tensor.js';
import { Batcher, type BatchPolicy, isBatchable } from './batcher.js';
import { InputDecoder } from './input-decoder.js';

/** LOADING -> READY, or FAILED (retried at the next load). Evicted models have no state. */
export type LoadState = 'LOADING' | 'READY' | 'FAILED';

/** What a loaded model needs to be warmed: its signature, null policy and sample rows. */
export interface Loadable {
  readonly sha256: string;
  readonly signature: Signature;
  readonly inputPolicies: readonly InputPolicy[];
  readonly sample: readonly Record<string, unknown>[];
}

declare const validated: unique symbol;

/**
 * Upload bytes that passed the runtime's validation (`ModelHost.validate`), keyed by their own
 * sha256. The only bytes `prepare` loads: nothing unvalidated reaches onnxruntime on the upload path.
 */
export interface ValidatedUpload {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly inspection: ModelInspection;
  readonly [validated]: true;
}

/** What warming an upload needs besides its bytes, and the model it is uploaded to (for metrics). */
export type UploadWarmup = Omit<Loadable, 'sha256'> & { readonly model?: string };

/** The labels a model load is timed under: an upload has no version number yet. */
interface LoadLabels {
  readonly model: string;
  readonly version: string;
}

interface Entry {
  state: LoadState;
  ready: Promise<void>;
  lastUsed: number;
  readonly signature: Signature;
  /** Merges concurrent requests; created at the first request, when the model's name is known. */
  batcher?: Batcher | null;
  /** The deployment version whose requests this model answers (the first, if several share the bytes). */
  served?: ServedAs;
}

/** Which model version a served request is for: the labels of its batch metrics. */
export interface ServedAs {
  readonly model: string;
  readonly version: number;
}

/** What the host reports to metrics: each inference call's rows and waits, each load's time. */
export interface HostObserver {
  batch(model: string, version: string, rows: number, queueWaitsMs: readonly number[]): void;
  modelLoaded(model: string, version: string, seconds: number): void;
}

export interface ModelHostOptions {
  readonly runtime: InferenceRuntime;
  readonly artifacts: ArtifactStore;
  readonly maxLoaded: number;
  /**
   * Deadline of the warm-up prediction. Longer than a request's: a first run pays for allocations a
   * steady-state request does not, and refusing a model for that would be wrong.
   */
  readonly warmupTimeoutMs: number;
  /** Dynamic batching for a model (by name); `maxBatchSize: 1` turns it off. */
  readonly batchPolicy: (model: string) => BatchPolicy;
  /** Inference workers: how many merged calls of one model may run at once. */
  readonly workers: number;
  readonly metrics?: HostObserver;
  readonly logger: Logger;
}

/**
 * Keeps models loaded in the inference runtime. Entries are keyed by the artifact's sha256, so the
 * same bytes are loaded once however many versions share them, and the load done to validate an
 * upload is the load that serves it. A model is READY only after it has computed its sample rows
 * (the warm-up); callers switch traffic to a version only once it is READY, and unload the old
 * version afterwards (`evict`), never before.
 */
export class ModelHost {
  private readonly entries = new Map<string, Entry>();
  private readonly pinned = new Set<string>();
  /** Models a batch run is using, with how many runs use each; never evicted while held. */
  private readonly held = new Map<string, number>();

  constructor(private readonly options: ModelHostOptions) {}

  /**
   * Runs the runtime's validation on upload bytes (INVALID_MODEL / UNSUPPORTED_MODEL if refused):
   * the one way to obtain a `ValidatedUpload`. The sha256 is computed here, from the bytes
   * themselves, so a loaded model is never cached under another file's hash.
   */
  async validate(bytes: Uint8Array): Promise<ValidatedUpload> {
    const inspection = await this.options.runtime.inspect(bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { bytes, sha256, inspection } as ValidatedUpload;
  }

  /**
   * Loads and warms validated bytes that are not yet registered (an upload). The warm-up always
   * runs this upload's own sample, even when identical bytes are already loaded for another version.
   */
  async prepare(upload: ValidatedUpload, warmup: UploadWarmup): Promise<void> {
    const model: Loadable = { ...warmup, sha256: upload.sha256 };
    const alreadyLoaded = this.entries.get(model.sha256)?.state === 'READY';
    await this.ensure(model, async () => upload.bytes, { model: warmup.model ?? '', version: '' });
    if (alreadyLoaded) await this.warm(model);
  }

  /**
   * Loads and warms a registered version, reading and verifying its artifact if needed. Only a
   * `ServableVersion` (see `toServable`) is accepted.
   */
  load(version: ServableVersion): Promise<void> {
    const labels = { model: version.model, version: String(version.version) };
    return this.ensure(
      version,
      async () => {
        try {
          return await this.options.artifacts.read(version.artifactKey, version.sha256);
        } catch (error) {
          // The bytes on disk are not the ones registered: a storage fault, never the caller's.
          if (error instanceof SlipwayError && error.code === 'CHECKSUM_MISMATCH') {
            throw new SlipwayError(
              'INTERNAL',
              `Version ${version.version} of "${version.model}" cannot be served: ${error.message}`,
              {
                reason: 'ARTIFACT_CORRUPT',
              },
            );
          }
          throw error;
        }
      },
      labels,
    );
  }

  state(sha256: string): LoadState | undefined {
    return this.entries.get(sha256)?.state;
  }

  /**
   * Runs a READY model, merging concurrent requests into batches where the model allows it. Throws
   * MODEL_NOT_READY if it is not loaded. A served request's trace is told its wait and its run.
   */
  async infer(
    sha256: string,
    inputs: NamedTensors,
    outputs: readonly string[],
    served?: ServedAs,
    trace?: RequestTrace | null,
  ): Promise<NamedTensors> {
    const entry = this.entries.get(sha256);
    if (entry?.state !== 'READY') {
      throw new SlipwayError('MODEL_NOT_READY', 'The model version is not loaded; retry shortly.', {
        state: entry?.state ?? 'UNLOADED',
      });
    }
    entry.lastUsed = Date.now();
    if (served === undefined) return this.options.runtime.infer(sha256, inputs, outputs);
    if (entry.batcher === undefined) {
      entry.served = served;
      entry.batcher = this.batcherFor(sha256, served, entry);
    }
    if (entry.batcher) return entry.batcher.infer(inputs, outputs, trace);
    const { metrics } = this.options;
    const rows = Object.values(inputs)[0]?.shape[0] ?? 1;
    metrics?.batch(served.model, String(served.version), rows, [0]);
    if (!trace) return this.options.runtime.infer(sha256, inputs, outputs);
    // Unmerged calls leave at once, as the metrics count them: a queue of no length.
    const leftAt = traceClock();
    trace.queued(leftAt, leftAt);
    return this.options.runtime.infer(sha256, inputs, outputs, undefined, (run) =>
      trace.inferred(run.startedAt, run.endedAt, rows, 1),
    );
  }

  private batcherFor(sha256: string, served: ServedAs, entry: Entry): Batcher | null {
    const policy = this.options.batchPolicy(served.model);
    if (policy.maxBatchSize <= 1 || !isBatchable(entry.signature)) return null;
    const { metrics } = this.options;
    const version = String(served.version);
    return new Batcher(
      (inputs, outputs, onRun) => this.options.runtime.infer(sha256, inputs, outputs, undefined, onRun),
      policy,
      this.options.workers,
      metrics ? (rows, waits) => metrics.batch(served.model, version, rows, waits) : undefined,
    );
  }

  /** Marks the models that are serving traffic; they are never evicted. */
  pin(shas: Iterable<string>): void {
    this.pinned.clear();
    for (const sha of shas) this.pinned.add(sha);
  }

  /** Keeps a model loaded until the returned function is called (a batch run holds its model). */
  hold(sha256: string): () => void {
    this.held.set(sha256, (this.held.get(sha256) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(sha256) ?? 1) - 1;
      if (left > 0) this.held.set(sha256, left);
      else this.held.delete(sha256);
    };
  }

  /**
   * Runs at least `workers` inference workers until the returned function is called: a batch run
   * scores with as many as the whole server has, even in an HTTP process that has fewer.
   */
  reserveWorkers(workers: number): () => Promise<void> {
    return this.options.runtime.reserve(workers);
  }

  /** Unloads the least recently used unpinned models beyond the configured maximum. */
  async evict(): Promise<void> {
    const candidates = [...this.entries]
      .filter(([sha, entry]) => !this.pinned.has(sha) && !this.held.has(sha) && entry.state !== 'LOADING')
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    let excess = this.entries.size - this.options.maxLoaded;
    for (const [sha, entry] of candidates) {
      if (excess <= 0 && entry.state !== 'FAILED') continue;
      excess -= 1;
      this.entries.delete(sha);
      await this.options.runtime.unload(sha);
    }
  }

  private ensure(model: Loadable, bytes: () => Promise<Uint8Array>, labels: LoadLabels): Promise<void> {
    const existing = this.entries.get(model.sha256);
    if (existing && existing.state !== 'FAILED') {
      existing.lastUsed = Date.now();
      return existing.ready;
    }
    const entry: Entry = {
      state: 'LOADING',
      ready: Promise.resolve(),
      lastUsed: Date.now(),
      signature: model.signature,
    };
    const started = performance.now();
    entry.ready = this.loadAndWarm(model, bytes).then(
      () => {
        entry.state = 'READY';
        const seconds = (performance.now() - started) / 1000;
        this.options.metrics?.modelLoaded(labels.model, labels.version, seconds);
      },
      (error: unknown) => {
        entry.state = 'FAILED';
        this.options.logger.warn({ sha256: model.sha256, err: error }, 'model failed to load');
        throw error;
      },
    );
    this.entries.set(model.sha256, entry);
    return entry.ready;
  }

  private async loadAndWarm(model: Loadable, bytes: () => Promise<Uint8Array>): Promise<void> {
    await this.options.runtime.load(model.sha256, await bytes());
    try {
      await this.warm(model);
    } catch (error) {
      await this.options.runtime.unload(model.sha256);
      throw error;
    }
    // Operators (and tests) see every model that reaches the runtime, and when.
    this.options.logger.info({ sha256: model.sha256 }, 'model loaded');
  }

  /** Predicts the model's sample rows (or one synthetic row); throws INVALID_MODEL/WARMUP_FAILED. */
  private async warm(model: Loadable): Promise<void> {
    const { runtime } = this.options;
    const outputs = model.signature.outputs.map((o) => o.name);
    try {
      const inputs =
        model.sample.length > 0
          ? new InputDecoder(model.signature, model.inputPolicies).fromRows(model.sample, 'sample')
          : syntheticInputs(model.signature);
      await runtime.infer(model.sha256, inputs, outputs, this.options.warmupTimeoutMs);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new SlipwayError(
        'INVALID_MODEL',
        `The model failed its warm-up prediction on its sample rows: ${why}`,
        {
          reason: 'WARMUP_FAILED',
        },
      );
    }
  }
}

/** One row of zeros, empty strings and false (every dynamic dimension 1): warms a model without a sample. */
function syntheticInputs(signature: Signature): NamedTensors {
  const tensors: Record<string, Tensor> = {};
  for (const input of signature.inputs) {
    const shape = input.shape.map((d) => (d < 0 ? 1 : d));
    tensors[input.name] = {
      datatype: input.datatype,
      shape,
      data: allocate(input.datatype, elementCount(shape)),
    };
  }
  return tensors;
}
