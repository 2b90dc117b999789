import { describe, expect, it } from 'vitest';
import {
  binShares,
  chi2Contingency,
  chiSquaredSurvival,
  chisquare,
  DEFAULT_THRESHOLDS,
  datasetDrift,
  defaultMethod,
  type FeatureDrift,
  featureDrift,
  featureKind,
  histogram,
  histogramBinEdges,
  jensenShannon,
  kolmogorovSmirnovSurvival,
  ks2samp,
  normalCdf,
  psi,
  std,
  wassersteinDistance,
} from '../../src/drift/statistics.js';
import { SlipwayError } from '../../src/errors/index.js';

/**
 * Properties and hand-checked values of the drift statistics. Agreement with SciPy and NumPy on thousands of
 * random cases is python/tests/test_drift_parity.py's job; the expected values here are worked out by hand
 * or quoted from SciPy's documentation.
 */

/** A seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(count: number, shift: number, seed: number): number[] {
  const next = random(seed);
  return Array.from({ length: count }, () => {
    const u = 1 - next();
    return shift + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  });
}

/** Expects an INVALID_ARGUMENT error that names the offending field. */
function expectInvalid(run: () => unknown, field: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    expect((error as SlipwayError).details?.field).toBe(field);
    return;
  }
  throw new Error('expected an INVALID_ARGUMENT error');
}

describe('ks2samp', () => {
  it('gives D = 0 and p = 1 for identical samples', () => {
    const sample = normals(200, 0, 1);
    expect(ks2samp(sample, [...sample].reverse())).toEqual({ statistic: 0, pValue: 1, method: 'exact' });
  });

  it('gives D = 1 for disjoint samples, with the exact tail 2 / C(n1 + n2, n1)', () => {
    expect(ks2samp([1, 2, 3], [4, 5, 6]).statistic).toBe(1);
    expect(ks2samp([1, 2, 3], [4, 5, 6]).pValue).toBeCloseTo(2 / 20, 15);
    expect(ks2samp([1, 2], [3, 4, 5])).toEqual({ statistic: 1, pValue: 2 / 10, method: 'exact' });
  });

  it('is symmetric in its samples and counts ties once', () => {
    const a = [0, 0, 1, 1, 1, 2, 5];
    const b = [1, 1, 2, 2, 3];
    expect(ks2samp(a, b)).toEqual(ks2samp(b, a));
    // ECDFs at 0: 2/7 vs 0; at 1: 5/7 vs 2/5; at 2: 6/7 vs 4/5; at 3: 6/7 vs 1: D = 5/7 - 2/5.
    expect(ks2samp(a, b).statistic).toBeCloseTo(5 / 7 - 2 / 5, 15);
  });

  it('falls back to the asymptotic p-value when the exact sum rounds above 1, as SciPy does', () => {
    // n1 = n2 = 5 and D = 1/5: SciPy's exact sum is 1.0000000000000002, so it answers kstwo.sf(0.2, 2).
    const result = ks2samp([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(result).toEqual({ statistic: 0.2, pValue: 1, method: 'asymp' });
  });

  it('uses the asymptotic distribution above 10,000 values per sample', () => {
    const small = ks2samp(normals(10000, 0, 2), normals(500, 0.5, 3));
    const large = ks2samp(normals(10001, 0, 2), normals(500, 0.5, 3));
    expect(small.method).toBe('exact');
    expect(large.method).toBe('asymp');
    expect(large.pValue).toBeLessThan(0.01);
  });

  it('refuses empty samples and non-finite values', () => {
    expectInvalid(() => ks2samp([], [1]), 'a');
    expectInvalid(() => ks2samp([1, Number.NaN], [1]), 'a');
  });
});

describe('distributions', () => {
  it('chi-squared survival has closed forms for 1 and 2 degrees of freedom', () => {
    for (const x of [0.01, 0.5, 1, 3.2, 10, 50, 200]) {
      expect(chiSquaredSurvival(x, 2)).toBeCloseTo(Math.exp(-x / 2), 15);
      // Q(1/2, x/2) = erfc(sqrt(x/2)) = 2 * (1 - Phi(sqrt(x)))
      expect(chiSquaredSurvival(x, 1) / (2 * normalCdf(-Math.sqrt(x)))).toBeCloseTo(1, 12);
    }
    expect(chiSquaredSurvival(0, 5)).toBe(1);
    expect(chiSquaredSurvival(Number.POSITIVE_INFINITY, 5)).toBe(0);
  });

  it('keeps relative accuracy deep in the chi-squared tail', () => {
    // Q(1, x/2) = exp(-x/2) for df = 2, far below double-precision 1 - P.
    expect(chiSquaredSurvival(1400, 2) / Math.exp(-700)).toBeCloseTo(1, 11);
  });

  it('the normal CDF is symmetric and hits its quantiles', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 15);
    for (const x of [0.3, 1.7, 4, 9]) expect(normalCdf(x) + normalCdf(-x)).toBeCloseTo(1, 15);
  });

  it("kstwo's survival: 1 below 1/(2n), 0 from 1, and 2(1 - x) for n = 1", () => {
    expect(kolmogorovSmirnovSurvival(0.01, 10)).toBe(1);
    expect(kolmogorovSmirnovSurvival(1, 10)).toBe(0);
    expect(kolmogorovSmirnovSurvival(0.75, 1)).toBe(0.5);
    // Ruben-Gambino: Pr(D_n >= x) = 2 (1 - x)^n once n x >= n - 1.
    expect(kolmogorovSmirnovSurvival(0.95, 20)).toBeCloseTo(2 * 0.05 ** 20, 30);
    expect(Number.isNaN(kolmogorovSmirnovSurvival(0.5, 2.5))).toBe(true);
  });

  it('the KS survival function decreases in d for every method SciPy switches between', () => {
    for (const n of [3, 60, 140, 141, 1000]) {
      let previous = 1;
      for (let i = 1; i < 200; i++) {
        const p = kolmogorovSmirnovSurvival(i / 200, n);
        expect(p).toBeLessThanOrEqual(previous + 1e-15);
        previous = p;
      }
    }
  });
});

describe('chisquare and chi2Contingency', () => {
  it("gives SciPy's documented example", () => {
    const result = chisquare([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]);
    expect(result.statistic).toBe(3.5);
    expect(result.pValue).toBeCloseTo(0.6233876277495822, 15);
  });

  it('refuses totals that differ', () => {
    expectInvalid(() => chisquare([10, 10], [10, 11]), 'expected');
    expectInvalid(() => chisquare([10, 10], [20]), 'expected');
  });

  it("applies Yates' correction to a 2x2 table", () => {
    // Expected [[12, 18], [28, 42]]; |o - e| = 2 everywhere, corrected to 1.5.
    const result = chi2Contingency([
      [10, 20],
      [30, 40],
    ]);
    const expected = 1.5 ** 2 * (1 / 12 + 1 / 18 + 1 / 28 + 1 / 42);
    expect(result.dof).toBe(1);
    expect(result.statistic).toBeCloseTo(expected, 14);
    expect(result.pValue).toBeCloseTo(chiSquaredSurvival(expected, 1), 14);
  });

  it('has no correction beyond one degree of freedom, and p = 1 with none', () => {
    const result = chi2Contingency([
      [10, 20, 30],
      [30, 40, 5],
    ]);
    expect(result.dof).toBe(2);
    expect(result.statistic).toBeCloseTo(33.26785714285714, 12);
    expect(result.pValue / 5.97003131344425e-8).toBeCloseTo(1, 12);
    expect(chi2Contingency([[12, 3, 9, 4]])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });

  it('refuses ragged tables, negative counts and empty rows', () => {
    expectInvalid(() => chi2Contingency([[1, 2], [3]]), 'table');
    expectInvalid(() => chi2Contingency([[1, -2]]), 'table');
    expectInvalid(
      () =>
        chi2Contingency([
          [0, 0],
          [3, 4],
        ]),
      'table',
    );
  });
});

describe('distances and NumPy helpers', () => {
  it("Wasserstein: SciPy's documented example, 0 for equal samples, the mean shift for a translation", () => {
    expect(wassersteinDistance([0, 1, 3], [5, 6, 8])).toBe(5);
    expect(wassersteinDistance([3, 1, 2], [1, 2, 3])).toBe(0);
    const sample = normals(100, 0, 7);
    expect(
      wassersteinDistance(
        sample,
        sample.map((x) => x + 0.25),
      ),
    ).toBeCloseTo(0.25, 12);
  });

  it('Jensen-Shannon: 1 bit for disjoint supports, 0 for equal shares, normalised inputs', () => {
    expect(jensenShannon([1, 0], [0, 1], 2)).toBe(1);
    expect(jensenShannon([1, 2, 3], [2, 4, 6])).toBe(0);
    expect(jensenShannon([1.0, 0.0], [0.5, 0.5])).toBeCloseTo(0.464501404022459, 15);
    expectInvalid(() => jensenShannon([1, -1], [1, 1]), 'p');
    expectInvalid(() => jensenShannon([1, 1], [1, 1], 1), 'base');
  });

  it('bin edges and counts close the last bin, like NumPy', () => {
    const edges = histogramBinEdges([1, 2, 3, 4], 3);
    expect(edges).toEqual([1, 2, 3, 4]);
    expect(histogram([1, 2, 2, 3, 4, 4, 9], edges)).toEqual([1, 2, 3]);
    expect(histogramBinEdges([5, 5], 2)).toEqual([4.5, 5, 5.5]);
    // Sturges: ceil(log2(8) + 1) = 4 bins of the range; integers keep bins at least 1 wide.
    expect(histogramBinEdges([0, 1, 2, 3, 4, 5, 6, 8], 'sturges')).toEqual([0, 2, 4, 6, 8]);
    expect(histogramBinEdges([0, 1, 1, 0, 1, 0, 1, 1, 1, 0], 'sturges', { integers: true })).toEqual([0, 1]);
  });

  it('population standard deviation', () => {
    expect(std([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect(std([3])).toBe(0);
  });
});

describe("Evidently's rules", () => {
  it('reads strings, and whole numbers with at most 5 reference values, as categorical', () => {
    expect(featureKind(['a', 'b'], ['a'])).toBe('categorical');
    expect(featureKind([0, 1, 2, 3, 4, null], [7, 8])).toBe('categorical');
    expect(featureKind([0, 1, 2, 3, 4, 5], [1])).toBe('numerical');
    expect(featureKind([0.5, 1, 2], [1])).toBe('numerical');
    expect(featureKind([], [1, 2])).toBe('categorical');
  });

  it('chooses the default method from the reference size and the distinct values', () => {
    expect(defaultMethod('numerical', 1000, 6)).toBe('ks');
    expect(defaultMethod('numerical', 1000, 5)).toBe('chisquare');
    expect(defaultMethod('numerical', 1000, 2)).toBe('z');
    expect(defaultMethod('numerical', 1001, 6)).toBe('wasserstein');
    expect(defaultMethod('numerical', 1001, 5)).toBe('jensenshannon');
    expect(defaultMethod('categorical', 1000, 3)).toBe('chisquare');
    expect(defaultMethod('categorical', 1000, 2)).toBe('z');
    expect(defaultMethod('categorical', 1001, 40)).toBe('jensenshannon');
  });

  it('drops nulls, NaN and infinities before testing', () => {
    const reference = normals(300, 0, 11);
    const current = normals(300, 0.3, 12);
    const clean = featureDrift('numerical', reference, current);
    const dirty = featureDrift(
      'numerical',
      [...reference, null, Number.NaN],
      [Number.POSITIVE_INFINITY, ...current, undefined, Number.NEGATIVE_INFINITY],
    );
    expect(dirty).toEqual(clean);
    expect(clean.method).toBe('ks');
    expect(clean.drifted).toBe(clean.statistic <= 0.05);
  });

  it('compares each statistic with its threshold the way Evidently does', () => {
    // KS drifts at p <= threshold: a threshold equal to the p-value drifts.
    const ks = featureDrift('numerical', normals(100, 0, 1), normals(100, 0.2, 2));
    expect(
      featureDrift('numerical', normals(100, 0, 1), normals(100, 0.2, 2), { threshold: ks.statistic })
        .drifted,
    ).toBe(true);
    // Distances drift at >= threshold.
    const wasserstein = featureDrift('numerical', normals(2000, 0, 3), normals(2000, 0.5, 4));
    expect(wasserstein.method).toBe('wasserstein');
    expect(wasserstein.threshold).toBe(DEFAULT_THRESHOLDS.wasserstein);
    expect(
      featureDrift('numerical', normals(2000, 0, 3), normals(2000, 0.5, 4), {
        threshold: wasserstein.statistic,
      }).drifted,
    ).toBe(true);
  });

  it('normalises Wasserstein by the reference std, floored at 0.001', () => {
    const result = featureDrift('numerical', new Array(1200).fill(3), new Array(1200).fill(3.01));
    expect(result.method).toBe('jensenshannon');
    const forced = featureDrift('numerical', new Array(1200).fill(3), new Array(1200).fill(3.01), {
      method: 'wasserstein',
    });
    expect(forced.statistic).toBeCloseTo(0.01 / 0.001, 9);
    expect(forced.drifted).toBe(true);
  });

  it('chi-square: a category only in the current sample gives p = 0; one shared category gives 1', () => {
    const drifted = featureDrift('categorical', ['a', 'b', 'c', 'a'], ['a', 'b', 'c', 'd']);
    expect(drifted).toEqual({ method: 'chisquare', statistic: 0, threshold: 0.05, drifted: true });
    const same = featureDrift('categorical', ['a', 'a'], ['a'], { method: 'chisquare' });
    expect(same).toEqual({ method: 'chisquare', statistic: 1, threshold: 0.05, drifted: false });
  });

  it('z-test: 1 for the same single value, a two-sided pooled test otherwise', () => {
    expect(featureDrift('categorical', ['yes', 'yes'], ['yes']).statistic).toBe(1);
    // 30/100 vs 50/100: pooled 0.4, z = -0.2 / sqrt(0.24 * 0.02).
    const reference = [...new Array(70).fill('no'), ...new Array(30).fill('yes')];
    const current = [...new Array(50).fill('no'), ...new Array(50).fill('yes')];
    const result = featureDrift('categorical', reference, current);
    const z = 0.2 / Math.sqrt(0.24 * 0.02);
    expect(result.method).toBe('z');
    expect(result.statistic).toBeCloseTo(2 * (1 - normalCdf(z)), 14);
    expect(result.drifted).toBe(true);
  });

  it('PSI fills empty bins before taking logs', () => {
    const shares = binShares('categorical', ['a', 'a', 'b', 'b'], ['a', 'c'], true);
    // Keys a, b, c. Reference [0.5, 0.5, 0 -> 1e-4]; current [0.5, 0 -> 1e-4, 0.5].
    expect(shares).toEqual({ reference: [0.5, 0.5, 0.0001], current: [0.5, 0.0001, 0.5] });
    const expected = (0.5 - 0.0001) * Math.log(0.5 / 0.0001) + (0.0001 - 0.5) * Math.log(0.0001 / 0.5);
    expect(psi(shares.reference, shares.current)).toBeCloseTo(expected, 14);
    expect(binShares('categorical', ['a', 'b'], ['a'], false).current).toEqual([1, 0]);
  });

  it('bins a numerical feature by histogram above 20 distinct reference values, by value otherwise', () => {
    const many = Array.from({ length: 64 }, (_, i) => i);
    expect(binShares('numerical', many, many, false).reference).toHaveLength(8); // log2(128) + 1 bins
    expect(binShares('numerical', [1, 2, 2, 3], [3, 4], false).reference).toEqual([0.25, 0.5, 0.25, 0]);
  });

  it('refuses what it cannot test', () => {
    expectInvalid(() => featureDrift('numerical', [null, Number.NaN], [1]), 'reference');
    expectInvalid(() => featureDrift('numerical', [1, 'a'], [1]), 'kind');
    expectInvalid(() => featureDrift('categorical', ['a'], ['b'], { method: 'ks' }), 'method');
    expectInvalid(
      () => featureDrift('numerical', [1], [2], { method: 'median' as unknown as 'ks' }),
      'method',
    );
    expectInvalid(() => featureDrift('numerical', [1], [2], { threshold: Number.NaN }), 'threshold');
  });
});

describe('datasetDrift', () => {
  const feature = (drifted: boolean): FeatureDrift => ({
    method: 'ks',
    statistic: 0,
    threshold: 0.05,
    drifted,
  });

  it('drifts when at least half of the features did', () => {
    expect(datasetDrift([feature(true), feature(false)])).toEqual({
      drifted: true,
      share: 0.5,
      driftedFeatures: 1,
    });
    expect(datasetDrift([feature(true), feature(false), feature(false)]).drifted).toBe(false);
    expect(datasetDrift([feature(true), feature(false), feature(false)], 0.3).drifted).toBe(true);
    expectInvalid(() => datasetDrift([]), 'features');
  });
});
