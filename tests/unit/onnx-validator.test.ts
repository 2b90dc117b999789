import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../src/errors/index.js';
import { inspectOnnxModel } from '../../src/runtime/onnx/onnx-validator.js';
import { EXAMPLE, FIXTURES } from '../helpers/server.js';

interface Expected {
  file: string;
  code: string;
  reason: string;
  why: string;
}
const MALICIOUS = join(FIXTURES, 'malicious');
const expected = JSON.parse(readFileSync(join(MALICIOUS, 'expected.json'), 'utf8')) as Expected[];

function refusal(bytes: Uint8Array): SlipwayError {
  try {
    inspectOnnxModel(bytes);
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('the model was accepted');
}

describe('ONNX upload validation', () => {
  it('has an expectation for every file of the malicious corpus, and at least ten of them', () => {
    const files = readdirSync(MALICIOUS).filter((f) => f.endsWith('.onnx'));
    expect(files.sort()).toEqual(expected.map((e) => e.file).sort());
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(expected)('refuses $file with $reason', ({ file, code, reason }) => {
    const error = refusal(readFileSync(join(MALICIOUS, file)));
    expect(error.code).toBe(code);
    expect(error.details?.reason).toBe(reason);
  });

  it('covers every external-data hiding place the corpus names', () => {
    const external = expected.filter((e) => e.reason === 'EXTERNAL_DATA').map((e) => e.file);
    expect(external.length).toBeGreaterThanOrEqual(7);
  });

  it('refuses a ZipMap classifier as unsupported and says how to export it', () => {
    const error = refusal(readFileSync(join(FIXTURES, 'zipmap-classifier.onnx')));
    expect(error.code).toBe('UNSUPPORTED_MODEL');
    expect(error.details?.reason).toBe('NON_TENSOR_OUTPUT');
    expect(error.message).toContain('zipmap');
  });

  it('reads the signature of a scikit-learn pipeline with one typed input per column and its class labels', () => {
    const { signature, opsets } = inspectOnnxModel(readFileSync(join(EXAMPLE, 'model.onnx')));
    expect(signature.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
      ['island', 'BYTES', [-1, 1]],
      ['sex', 'BYTES', [-1, 1]],
      ['bill_length_mm', 'FP32', [-1, 1]],
      ['bill_depth_mm', 'FP32', [-1, 1]],
      ['flipper_length_mm', 'FP32', [-1, 1]],
      ['body_mass_g', 'FP32', [-1, 1]],
    ]);
    expect(signature.outputs.map((o) => [o.name, o.datatype])).toEqual([
      ['label', 'BYTES'],
      ['probabilities', 'FP32'],
    ]);
    expect(signature.labels).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    expect(opsets['ai.onnx.ml']).toBeGreaterThanOrEqual(1);
  });

  it.each([
    'identity',
    'slow',
    'strings',
    'int64-argmax',
    'typed-inputs',
    'fails-on-marked',
    'lightgbm-penguins',
  ])('accepts the well-formed fixture %s', (name) => {
    expect(() => inspectOnnxModel(readFileSync(join(FIXTURES, `${name}.onnx`)))).not.toThrow();
  });

  it('reads several input datatypes from one graph', () => {
    const { signature } = inspectOnnxModel(readFileSync(join(FIXTURES, 'typed-inputs.onnx')));
    expect(Object.fromEntries(signature.inputs.map((i) => [i.name, i.datatype]))).toEqual({
      a: 'FP32',
      b: 'INT64',
      c: 'BYTES',
      d: 'BOOL',
      e: 'FP64',
    });
  });
});
