import { describe, expect, it } from 'vitest';
import { columnOf, featuresOf, predictionOf } from '../../src/domain/features.js';
import type { Signature } from '../../src/domain/signature.js';
import { buildProfile, evenSample, profileOf } from '../../src/drift/profile.js';

/** The penguin classifier's signature: one column per input, a label and probabilities out. */
const PENGUINS: Signature = {
  inputs: [
    { name: 'island', datatype: 'BYTES', shape: [-1, 1] },
    { name: 'body_mass_g', datatype: 'FP32', shape: [-1, 1] },
  ],
  outputs: [
    { name: 'label', datatype: 'BYTES', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
  ],
  labels: ['Adelie', 'Chinstrap', 'Gentoo'],
};

/** A regressor over one wide input. */
const WIDE: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};

describe("a model's drift features", () => {
  it('are its inputs, strings as categories and numbers as measurements', () => {
    expect(featuresOf({ signature: PENGUINS })).toEqual([
      { name: 'island', kind: 'categorical', source: 'island' },
      { name: 'body_mass_g', kind: 'numerical', source: 'body_mass_g' },
    ]);
  });

  it('are each position of a wide input', () => {
    expect(featuresOf({ signature: WIDE }).map((f) => [f.name, f.index])).toEqual([
      ['x[0]', 0],
      ['x[1]', 1],
      ['x[2]', 2],
    ]);
  });

  it("watch a classifier's label, and a regressor's first output", () => {
    expect(predictionOf({ signature: PENGUINS, task: 'classification' })).toEqual({
      name: 'prediction',
      kind: 'categorical',
      source: 'label',
    });
    expect(predictionOf({ signature: WIDE, task: 'regression' })).toEqual({
      name: 'prediction',
      kind: 'numerical',
      source: 'y',
    });
  });

  it('read missing, empty and malformed values as missing, and [v] as v', () => {
    const [island, mass] = featuresOf({ signature: PENGUINS });
    const rows = [
      { island: 'Dream', body_mass_g: 3800 },
      { island: '', body_mass_g: Number.NaN },
      { island: null, body_mass_g: '4100' },
      { island: ['Biscoe'], body_mass_g: [4200] },
      { island: { a: 1 }, body_mass_g: 'heavy' },
      {},
    ];
    expect(columnOf(rows, island!)).toEqual(['Dream', null, null, 'Biscoe', null, null]);
    expect(columnOf(rows, mass!)).toEqual([3800, null, 4100, 4200, null, null]);
    const [, second] = featuresOf({ signature: WIDE });
    expect(columnOf([{ x: [1, 2, 3] }, { x: [[4, 5, 6]] }, { x: [7] }], second!)).toEqual([2, 5, null]);
  });
});

describe('a reference profile', () => {
  it("summarises numbers with numpy's linear quantiles, and categories by share", () => {
    const [island, mass] = featuresOf({ signature: PENGUINS });
    const numbers = profileOf(mass!, [1, 2, 3, 4, null]);
    expect(numbers).toMatchObject({ count: 5, nullShare: 0.2, values: [1, 2, 3, 4] });
    expect(numbers.summary).toMatchObject({ min: 1, p25: 1.75, p50: 2.5, p75: 3.25, max: 4, mean: 2.5 });
    expect(numbers.summary?.std).toBeCloseTo(Math.sqrt(1.25), 12);
    const categories = profileOf(island!, ['Dream', 'Dream', 'Biscoe', null]);
    expect(categories.categories).toEqual({ Dream: 2 / 3, Biscoe: 1 / 3 });
  });

  it('keeps an even sample of large reference sets, the first row and the order', () => {
    const rows = Array.from({ length: 25_000 }, (_, i) => i);
    const sample = evenSample(rows, 10_000);
    expect(sample).toHaveLength(10_000);
    expect(sample[0]).toBe(0);
    expect(sample[1]).toBe(2);
    expect([...sample].sort((a, b) => a - b)).toEqual(sample);
    expect(evenSample([1, 2, 3], 10)).toEqual([1, 2, 3]);
  });

  it('profiles every feature and the predictions given', () => {
    const profile = buildProfile(
      { model: 'penguins', version: 2, signature: PENGUINS, task: 'classification' },
      'dataset:training',
      [
        { island: 'Dream', body_mass_g: 3800, species: 'Adelie' },
        { island: 'Biscoe', body_mass_g: 5000, species: 'Gentoo' },
      ],
      [{ label: 'Adelie' }, { label: 'Gentoo' }],
      new Date('2026-01-01T00:00:00Z'),
    );
    expect(profile).toMatchObject({
      model: 'penguins',
      version: 2,
      rows: 2,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    expect(profile.features.map((f) => f.name)).toEqual(['island', 'body_mass_g']);
    expect(profile.prediction?.categories).toEqual({ Adelie: 0.5, Gentoo: 0.5 });
  });
});

describe('an input too wide to measure position by position', () => {
  it('is left out of drift, and the other inputs stay', () => {
    const image: Signature = {
      inputs: [
        { name: 'pixels', datatype: 'FP32', shape: [-1, 3, 224, 224] },
        { name: 'exposure', datatype: 'FP32', shape: [-1] },
      ],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
    };
    expect(featuresOf({ signature: image }).map((f) => f.name)).toEqual(['exposure']);
    const edge: Signature = { ...WIDE, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 64] }] };
    expect(featuresOf({ signature: edge })).toHaveLength(64);
  });
});
