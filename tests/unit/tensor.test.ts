import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withCanary } from '../../src/deployments/rollout-controller.js';
import type { Revision } from '../../src/domain/revision.js';
import { versionInService } from '../../src/domain/revision.js';
import { concatRows, type NamedTensors, sliceRows } from '../../src/runtime/tensor.js';

/** A batch of `rows` rows: a float input of width 3, an int64 input of width 1, a string input. */
function batch(rows: number, seed: number): NamedTensors {
  return {
    x: {
      datatype: 'FP32',
      shape: [rows, 3],
      data: Float32Array.from({ length: rows * 3 }, (_, i) => seed + i),
    },
    n: {
      datatype: 'INT64',
      shape: [rows, 1],
      data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(seed * 10 + i)),
    },
    s: { datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, (_, i) => `r${seed}-${i}`) },
  };
}

describe('concatRows and sliceRows (the batcher and the job runner share them)', () => {
  it('slicing a concatenation gives back each part, for any part sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 6 }), (sizes) => {
        const parts = sizes.map((rows, i) => batch(rows, i * 100));
        const merged = concatRows(parts);
        const total = sizes.reduce((a, b) => a + b, 0);
        expect(merged.x?.shape).toEqual([total, 3]);
        expect(merged.s?.shape).toEqual([total]);
        let at = 0;
        for (const [i, rows] of sizes.entries()) {
          const back = sliceRows(merged, at, at + rows);
          expect(back).toEqual(parts[i]);
          at += rows;
        }
      }),
    );
  });

  it('keeps the typed array of each datatype and copies (a slice shares no buffer)', () => {
    const merged = concatRows([batch(2, 0), batch(3, 1)]);
    expect(merged.n?.data).toBeInstanceOf(BigInt64Array);
    const part = sliceRows(merged, 1, 3);
    const floats = (tensors: NamedTensors) => tensors.x?.data as Float32Array;
    expect(floats(part).buffer).not.toBe(floats(merged).buffer);
    expect(floats(part).byteLength).toBe(2 * 3 * 4);
  });
});

describe('versionInService: one definition of the version in service', () => {
  const revision = (traffic: Revision['traffic'], kind: Revision['kind'] = 'traffic') => ({ traffic, kind });

  it('is the version with the largest share', () => {
    expect(
      versionInService(
        revision([
          { version: 3, percent: 10 },
          { version: 2, percent: 90 },
        ]),
      ),
    ).toBe(2);
    expect(versionInService(revision([{ version: 5, percent: 100 }]))).toBe(5);
  });

  it('on a 50/50 rollout step is the stable version, whichever number is higher', () => {
    expect(
      versionInService(revision(withCanary([{ version: 1, percent: 100 }], 2, 50), 'rollout-step')),
    ).toBe(1);
    // Promoting an older version while a newer one serves: the newer one is the stable one.
    expect(
      versionInService(revision(withCanary([{ version: 4, percent: 100 }], 3, 50), 'rollout-step')),
    ).toBe(4);
  });

  it('on a tie set by hand is the lowest version number, whatever the order listed', () => {
    expect(
      versionInService(
        revision([
          { version: 7, percent: 50 },
          { version: 6, percent: 50 },
        ]),
      ),
    ).toBe(6);
    expect(
      versionInService(
        revision([
          { version: 6, percent: 50 },
          { version: 7, percent: 50 },
        ]),
      ),
    ).toBe(6);
  });
});
