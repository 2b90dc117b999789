import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../src/errors/index.js';
import type { NamedTensors } from '../../src/runtime/tensor.js';
import { Batcher, isBatchable } from '../../src/serving/batcher.js';

/** A stand-in model: y = 2x per row, and it fails a call containing the value 99. */
function doubling() {
  const calls: number[] = [];
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  const execute = async (inputs: NamedTensors): Promise<NamedTensors> => {
    const x = inputs.x!;
    calls.push(x.shape[0] as number);
    await gate;
    const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    if (data.includes(198)) throw new SlipwayError('INFERENCE_FAILED', 'marked value');
    return {
      y: { datatype: 'FP32', shape: [...x.shape], data },
      label: {
        datatype: 'BYTES',
        shape: [x.shape[0] as number],
        data: [...(x.data as Float32Array)].map(String),
      },
    };
  };
  return {
    calls,
    execute,
    hold: () => {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    release: () => release(),
  };
}
const row = (...values: number[]): NamedTensors => ({
  x: { datatype: 'FP32', shape: [values.length, 1], data: Float32Array.from(values) },
});

describe('dynamic batching', () => {
  it('sends a request at once while a worker is free, so one client never waits', async () => {
    const model = doubling();
    const batcher = new Batcher(model.execute, { maxBatchSize: 64, maxQueueDelayMs: 5 }, 2);
    const out = await batcher.infer(row(3), ['y', 'label']);
    expect(Array.from(out.y!.data as Float32Array)).toEqual([6]);
    expect(model.calls).toEqual([1]);
  });

  it('merges what queued behind busy workers into one call and hands each request its own rows', async () => {
    const model = doubling();
    const batcher = new Batcher(model.execute, { maxBatchSize: 64, maxQueueDelayMs: 0 }, 1);
    model.hold();
    const first = batcher.infer(row(1), ['y', 'label']);
    const queued = [
      batcher.infer(row(2, 3), ['y', 'label']),
      batcher.infer(row(4), ['y', 'label']),
      batcher.infer(row(5), ['y', 'label']),
    ];
    model.release();
    model.hold();
    await first;
    model.release();
    const answers = await Promise.all(queued);
    expect(model.calls).toEqual([1, 4]);
    expect(answers.map((a) => [a.y!.shape, Array.from(a.y!.data as Float32Array), a.label!.data])).toEqual([
      [
        [2, 1],
        [4, 6],
        ['2', '3'],
      ],
      [[1, 1], [8], ['4']],
      [[1, 1], [10], ['5']],
    ]);
  });

  it('never merges more than max_batch_size rows', async () => {
    const model = doubling();
    const batcher = new Batcher(model.execute, { maxBatchSize: 3, maxQueueDelayMs: 0 }, 1);
    model.hold();
    const all = [1, 2, 3, 4, 5, 6, 7].map((v) => batcher.infer(row(v), ['y']));
    model.release();
    await Promise.all(all);
    expect(model.calls).toEqual([1, 3, 3]);
  });

  it('retries a failed merged call request by request, so only the bad request fails', async () => {
    const model = doubling();
    const batcher = new Batcher(model.execute, { maxBatchSize: 64, maxQueueDelayMs: 0 }, 1);
    model.hold();
    const first = batcher.infer(row(1), ['y']);
    const rest = [batcher.infer(row(2), ['y']), batcher.infer(row(99), ['y']), batcher.infer(row(4), ['y'])];
    model.release();
    await first;
    const settled = await Promise.allSettled(rest);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'INFERENCE_FAILED' });
    expect(model.calls).toEqual([1, 3, 1, 1, 1]);
  });

  it('keeps requests for different outputs apart', async () => {
    const model = doubling();
    const batcher = new Batcher(model.execute, { maxBatchSize: 64, maxQueueDelayMs: 0 }, 1);
    model.hold();
    const first = batcher.infer(row(1), ['y']);
    const a = batcher.infer(row(2), ['y']);
    const b = batcher.infer(row(3), ['label']);
    model.release();
    await Promise.all([first, a, b]);
    expect(model.calls.length).toBe(3);
  });

  it('batches only models whose every input and output has a dynamic batch dimension', () => {
    expect(
      isBatchable({ inputs: [{ shape: [-1, 4] }], outputs: [{ shape: [-1] }, { shape: [-1, 3] }] }),
    ).toBe(true);
    expect(isBatchable({ inputs: [{ shape: [1, 4] }], outputs: [{ shape: [-1] }] })).toBe(false);
    expect(isBatchable({ inputs: [{ shape: [-1, 4] }], outputs: [{ shape: [] }] })).toBe(false);
  });
});
