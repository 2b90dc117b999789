import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accuracy, logLoss, METRICS, type MetricName, mae, rmse, rocAuc } from '../../src/domain/metrics.js';

/**
 * Cases computed by scikit-learn itself (python/fixtures/make_metric_cases.py); regenerating them is
 * checked by python/tests/test_metric_cases.py.
 */
interface SklearnCase {
  name: string;
  description: string;
  task: 'classification' | 'regression';
  labels?: (string | number)[];
  predicted: (string | number)[];
  probabilities?: number[][];
  actual?: number[];
  expected: Partial<Record<MetricName, number>>;
}

const CASES_FILE = new URL('../fixtures/metrics/sklearn-cases.json', import.meta.url);
const { cases } = JSON.parse(readFileSync(CASES_FILE, 'utf-8')) as { cases: SklearnCase[] };

/** Agreement required with scikit-learn; an expected 0 must come out as exactly 0. */
const RELATIVE_TOLERANCE = 1e-9;

/** Computes one metric on a case's inputs, the way a caller would. */
function compute(metric: MetricName, sample: SklearnCase): number {
  switch (metric) {
    case 'accuracy':
      return accuracy(sample.labels!, sample.predicted);
    case 'log_loss':
      return logLoss(sample.labels as number[], sample.probabilities!);
    case 'auc':
      return rocAuc(sample.labels as number[], sample.probabilities!);
    case 'rmse':
      return rmse(sample.actual!, sample.predicted as number[]);
    case 'mae':
      return mae(sample.actual!, sample.predicted as number[]);
  }
}

/** One entry per (case, metric): a readable test name and what to check. */
const expectations = cases.flatMap((sample) =>
  Object.entries(sample.expected).map(
    ([metric, expected]) =>
      [`${sample.name}: ${metric}`, { metric: metric as MetricName, expected, sample }] as const,
  ),
);

describe('metrics agree with scikit-learn', () => {
  it('has cases for every metric', () => {
    const covered = new Set(expectations.map(([, { metric }]) => metric));
    expect(covered).toEqual(new Set(Object.keys(METRICS)));
    expect(cases.length).toBeGreaterThanOrEqual(12);
  });

  it.each(expectations)('%s', (_, { metric, expected, sample }) => {
    const actual = compute(metric, sample);
    expect(
      Math.abs(actual - expected),
      `Slipway computes ${actual}, scikit-learn ${expected}`,
    ).toBeLessThanOrEqual(RELATIVE_TOLERANCE * Math.abs(expected));
  });
});

describe('metric definitions', () => {
  it('say which way is better and which task each metric is for', () => {
    expect(METRICS.accuracy).toMatchObject({ better: 'higher', task: 'classification' });
    expect(METRICS.auc).toMatchObject({ better: 'higher', task: 'classification' });
    expect(METRICS.log_loss).toMatchObject({ better: 'lower', task: 'classification' });
    expect(METRICS.rmse).toMatchObject({ better: 'lower', task: 'regression' });
    expect(METRICS.mae).toMatchObject({ better: 'lower', task: 'regression' });
  });
});

describe('metrics refuse input they cannot score', () => {
  // Biome lays nested arrays out one row per line, so the matrices are named here.
  const binary = [
    [0.8, 0.2],
    [0.3, 0.7],
  ];
  const ragged = [
    [0.8, 0.2],
    [0.1, 0.2, 0.7],
  ];
  const oneColumn = [[1], [1]];
  const aboveOne = [
    [1.2, -0.2],
    [0.3, 0.7],
  ];
  const withNaN = [
    [Number.NaN, 0.5],
    [0.3, 0.7],
  ];
  const threeClasses = [
    [0.5, 0.3, 0.2],
    [0.1, 0.8, 0.1],
    [0.6, 0.2, 0.2],
  ];
  const notSummingToOne = [
    [0.5, 0.3, 0.2],
    [0.1, 0.8, 0.3],
    [0.2, 0.2, 0.6],
  ];

  it.each([
    ['accuracy: length mismatch', () => accuracy([0, 1, 1], [0, 1])],
    ['accuracy: empty', () => accuracy([], [])],
    ['accuracy: NaN label', () => accuracy([0, Number.NaN], [0, 1])],
    ['rmse: length mismatch', () => rmse([1, 2], [1])],
    ['rmse: empty', () => rmse([], [])],
    ['rmse: not finite', () => rmse([1, Number.POSITIVE_INFINITY], [1, 2])],
    ['mae: length mismatch', () => mae([1], [1, 2])],
    ['mae: empty', () => mae([], [])],
    ['mae: NaN', () => mae([1, 2], [Number.NaN, 2])],
    ['log loss: length mismatch', () => logLoss([0, 1, 1], binary)],
    ['log loss: empty', () => logLoss([], [])],
    ['log loss: row width mismatch', () => logLoss([0, 1], ragged)],
    ['log loss: one column', () => logLoss([0, 0], oneColumn)],
    ['log loss: probability outside [0, 1]', () => logLoss([0, 1], aboveOne)],
    ['log loss: NaN probability', () => logLoss([0, 1], withNaN)],
    ['log loss: label past the last column', () => logLoss([0, 2], binary)],
    ['log loss: label not an integer', () => logLoss([0, 0.5], binary)],
    ['auc: length mismatch', () => rocAuc([0], binary)],
    ['auc: empty', () => rocAuc([], [])],
    ['auc: row width mismatch', () => rocAuc([0, 1], ragged)],
    ['auc: only one class in labels', () => rocAuc([1, 1], binary)],
    ['auc: a class with no rows (multiclass)', () => rocAuc([0, 1, 0], threeClasses)],
    ['auc: multiclass row that does not sum to 1', () => rocAuc([0, 1, 2], notSummingToOne)],
  ])('%s', (_, call) => {
    expect(call).toThrow(expect.objectContaining({ name: 'SlipwayError', code: 'INVALID_ARGUMENT' }));
  });

  it('accepts float32-sized rounding in multiclass rows, as scikit-learn does', () => {
    const nearlyOne = [
      [0.5, 0.3, 0.2 + 1e-7],
      [0.1, 0.8, 0.1],
      [0.2, 0.2, 0.6],
    ];
    expect(rocAuc([0, 1, 2], nearlyOne)).toBe(1);
  });
});
