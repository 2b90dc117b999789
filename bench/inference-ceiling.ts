import ort from 'onnxruntime-node';
import { SESSION_OPTIONS } from '../src/runtime/onnx/session-options.js';
import { type ExampleModel, MODEL_PATH, type Prediction } from './example-model.js';
import { percentile } from './load.js';

export interface InProcessMeasurement {
  readonly runsPerSecond: number;
  /** Latency of one `await session.run()`, in milliseconds. */
  readonly p50: number;
  readonly p99: number;
}

/**
 * onnxruntime-node in this process, without HTTP: the reference answer every peer is checked against,
 * and the inference ceiling (what one core does when all it does is run the model on one row).
 */
export class InferenceCeiling {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly feeds: Record<string, ort.Tensor>,
  ) {}

  static async open(model: ExampleModel): Promise<InferenceCeiling> {
    // Exactly the settings of Slipway's inference workers.
    const session = await ort.InferenceSession.create(MODEL_PATH, SESSION_OPTIONS);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of model.inputs) {
      const value = model.row[input.name] ?? null;
      feeds[input.name] =
        input.type === 'string'
          ? new ort.Tensor('string', [value === null ? '' : String(value)], [1, 1])
          : new ort.Tensor('float32', Float32Array.of(value === null ? Number.NaN : Number(value)), [1, 1]);
    }
    return new InferenceCeiling(session, feeds);
  }

  async predict(): Promise<Prediction> {
    const outputs = await this.session.run(this.feeds);
    const label = outputs.label?.data as string[] | undefined;
    const probabilities = outputs.probabilities?.data as Float32Array | undefined;
    if (!label || !probabilities) throw new Error('model.onnx has no label and probabilities outputs');
    return { label: String(label[0]), probabilities: [...probabilities] };
  }

  /** Runs the model on the row back to back for `seconds`, after a short warm-up. */
  async measure(seconds: number): Promise<InProcessMeasurement> {
    for (let i = 0; i < 1000; i += 1) await this.session.run(this.feeds);
    const latencies: number[] = [];
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      const before = now;
      await this.session.run(this.feeds);
      now = performance.now();
      latencies.push(now - before);
    }
    latencies.sort((a, b) => a - b);
    return {
      runsPerSecond: latencies.length / ((now - start) / 1000),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
    };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
