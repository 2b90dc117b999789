import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dateFolderStart,
  float32Text,
  hourFolderHour,
  partitionOf,
  rowCountOf,
  rowsJson,
} from '../../src/observability/prediction-log-rows.js';
import type { NamedTensors } from '../../src/runtime/tensor.js';

describe('prediction log rows', () => {
  it('spells a float32 as the shortest decimal that reads back as it', () => {
    expect(float32Text(Math.fround(39.1))).toBe('39.1');
    expect(float32Text(Math.fround(0.1))).toBe('0.1');
    expect(float32Text(3750)).toBe('3750');
    expect(float32Text(Math.fround(1 / 3))).toBe('0.33333334');
    expect(float32Text(Number.NaN)).toBe('null');
    expect(float32Text(Number.POSITIVE_INFINITY)).toBe('null');
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = float32Text(x);
        expect(Math.fround(JSON.parse(text))).toBe(x === 0 ? 0 : x);
        expect(text.length).toBeLessThanOrEqual(String(x).length);
      }),
    );
  });

  it('gives one JSON object per row: scalars for one value, lists for several, whole tensors without a batch dimension', () => {
    const tensors: NamedTensors = {
      f: { datatype: 'FP32', shape: [2, 1], data: Float32Array.of(1.5, Number.NaN) },
      v: { datatype: 'FP64', shape: [2, 2], data: Float64Array.of(0.1, 0.2, 0.3, 0.4) },
      i: { datatype: 'INT64', shape: [2], data: BigInt64Array.of(9007199254740993n, -1n) },
      b: { datatype: 'BOOL', shape: [2, 1], data: Uint8Array.of(1, 0) },
      s: { datatype: 'BYTES', shape: [2, 1], data: ['a "quoted" é', ''] },
      k: { datatype: 'INT32', shape: [3], data: Int32Array.of(7, 8, 9) },
      e: { datatype: 'FP32', shape: [2, 0], data: new Float32Array(0) },
    };
    expect(rowCountOf(tensors)).toBe(2);
    const rows = rowsJson(tensors, 2);
    // The exact digits of an INT64 past 2^53 are kept in the text.
    expect(rows[0]).toContain('"i":9007199254740993');
    expect(rows.map((row) => JSON.parse(row))).toEqual([
      { f: 1.5, v: [0.1, 0.2], i: 9007199254740992, b: true, s: 'a "quoted" é', k: [7, 8, 9], e: [] },
      { f: null, v: [0.3, 0.4], i: -1, b: false, s: '', k: [7, 8, 9], e: [] },
    ]);
    expect(rowCountOf({ x: { datatype: 'FP32', shape: [], data: Float32Array.of(2) } })).toBe(1);
    expect(rowsJson({ x: { datatype: 'FP32', shape: [], data: Float32Array.of(2) } }, 1)).toEqual([
      '{"x":2}',
    ]);
  });

  it('partitions by UTC date and hour, and reads partition folder names back', () => {
    expect(partitionOf(new Date('2026-03-01T07:59:59.999Z'))).toEqual({ date: '2026-03-01', hour: '07' });
    expect(partitionOf(new Date('2026-03-01T23:00:00+02:00'))).toEqual({ date: '2026-03-01', hour: '21' });
    expect(dateFolderStart('date=2026-03-01')).toBe(Date.parse('2026-03-01T00:00:00Z'));
    expect(dateFolderStart('date=2026-13-01')).toBeNull();
    expect(dateFolderStart('logical_date=2026-03-01')).toBeNull();
    expect(hourFolderHour('hour=07')).toBe(7);
    expect(hourFolderHour('hour=24')).toBeNull();
    expect(hourFolderHour('hour=7')).toBeNull();
  });
});
