import type { NamedTensors } from '../runtime/tensor.js';

/** One answered prediction, as the data plane hands it over after a successful answer. */
export interface PredictionRecord {
  readonly environment: string;
  readonly model: string;
  readonly version: number;
  /** The number of the revision that routed the request. */
  readonly revision: number;
  /** The request's id (HTTP `x-request-id`, gRPC's own); absent when the caller has none. */
  readonly requestId?: string | undefined;
  readonly time: Date;
  /** The inputs as the model received them (decoded and checked). */
  readonly inputs: NamedTensors;
  /** The outputs the caller asked for, as answered. */
  readonly outputs: NamedTensors;
}

/**
 * Where the data plane reports answered predictions (the prediction log). Serving declares this
 * port so that it never depends on how or whether records are kept.
 */
export interface PredictionRecorder {
  /**
   * Takes a prediction, or ignores it (sampling). Must return at once and never throw: it runs on
   * every prediction, before the answer goes back. The tensors must not be changed afterwards;
   * the recorder may read them later.
   */
  record(record: PredictionRecord): void;
}
