import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** examples/penguin-species: the model every peer serves. */
export const EXAMPLE_DIR = fileURLToPath(new URL('../examples/penguin-species/', import.meta.url));
export const MODEL_PATH = `${EXAMPLE_DIR}model.onnx`;
export const MANIFEST_PATH = `${EXAMPLE_DIR}manifest.json`;

export type Value = string | number | null;
export type Row = Readonly<Record<string, Value>>;

export interface ExampleModel {
  readonly name: string;
  /** Class labels in the order of the probabilities. */
  readonly labels: readonly string[];
  /** Model inputs in order, with the manifest's type (`string` or `float`). */
  readonly inputs: readonly { readonly name: string; readonly type: string }[];
  /** The row every request carries: the manifest's `sample[0]`. */
  readonly row: Row;
}

/** What a peer answered for the row. */
export interface Prediction {
  readonly label: string;
  readonly probabilities: readonly number[];
}

export function loadExampleModel(): ExampleModel {
  const manifest = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8'));
  const row = manifest.sample?.[0];
  if (!row) throw new Error(`${MANIFEST_PATH} has no sample rows`);
  return { name: manifest.model, labels: manifest.labels, inputs: manifest.inputs, row };
}

/** V2 datatype of a manifest input type, as Slipway's signature reports it for this model. */
const DATATYPES: Readonly<Record<string, string>> = { string: 'BYTES', float: 'FP32' };

function datatypeOf(input: { name: string; type: string }): string {
  const datatype = DATATYPES[input.type];
  if (!datatype) throw new Error(`input ${input.name}: the bench does not know the type "${input.type}"`);
  return datatype;
}

/** KServe V1, the shape Slipway V1 and the FastAPI peers take: `{"instances": [row]}`. */
export function v1Body(model: ExampleModel): string {
  return JSON.stringify({ instances: [model.row] });
}

/** Open Inference Protocol: one [1, 1] tensor per input. */
export function v2Body(model: ExampleModel): string {
  const inputs = model.inputs.map((input) => ({
    name: input.name,
    datatype: datatypeOf(input),
    shape: [1, 1],
    data: [model.row[input.name]],
  }));
  return JSON.stringify({ inputs });
}

/**
 * MLServer's V2 request for its scikit-learn runtime: the pandas codec (`pd`) turns the inputs into
 * one DataFrame column each, strings need the `str` content type, and `predict_proba` is asked for
 * by name (the runtime returns `predict` otherwise).
 */
export function mlserverBody(model: ExampleModel): string {
  const inputs = model.inputs.map((input) => {
    const text = datatypeOf(input) === 'BYTES';
    return {
      name: input.name,
      datatype: text ? 'BYTES' : 'FP64',
      shape: [1],
      ...(text ? { parameters: { content_type: 'str' } } : {}),
      data: [model.row[input.name]],
    };
  });
  return JSON.stringify({
    parameters: { content_type: 'pd' },
    inputs,
    outputs: [{ name: 'predict_proba' }],
  });
}

interface V2Output {
  readonly name: string;
  readonly data: readonly unknown[];
}

/** `{"predictions": [{"label", "probabilities"}]}`: Slipway V1, the FastAPI peers and bare Fastify. */
export function readV1(body: unknown): Prediction {
  const prediction = (body as { predictions?: Prediction[] }).predictions?.[0];
  if (!prediction) throw new Error('no predictions[0] in the response');
  return prediction;
}

/** Slipway V2: the `label` and `probabilities` output tensors. */
export function readV2(body: unknown): Prediction {
  const outputs = (body as { outputs?: V2Output[] }).outputs ?? [];
  const output = (name: string) => {
    const found = outputs.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`no output "${name}" in the response`);
    return found.data;
  };
  return { label: String(output('label')[0]), probabilities: output('probabilities').map(Number) };
}

/** MLServer: the `predict_proba` tensor; the class is the most probable label. */
export function readProbabilities(model: ExampleModel, body: unknown): Prediction {
  const output = (body as { outputs?: V2Output[] }).outputs?.find((o) => o.name === 'predict_proba');
  if (!output) throw new Error('no output "predict_proba" in the response');
  const probabilities = output.data.map(Number);
  const best = probabilities.indexOf(Math.max(...probabilities));
  return { label: String(model.labels[best]), probabilities };
}

/**
 * Why `actual` is not the reference prediction, or undefined when it is: the same class and every
 * probability within `tolerance` (onnxruntime computes in float32, scikit-learn in float64).
 */
export function disagreement(actual: Prediction, expected: Prediction, tolerance = 1e-4): string | undefined {
  if (actual.label !== expected.label) return `predicted ${actual.label}, expected ${expected.label}`;
  const off = expected.probabilities.some(
    (p, i) => !(Math.abs((actual.probabilities[i] ?? Number.NaN) - p) <= tolerance),
  );
  if (off || actual.probabilities.length !== expected.probabilities.length) {
    return `probabilities ${JSON.stringify(actual.probabilities)}, expected ${JSON.stringify(expected.probabilities)}`;
  }
  return undefined;
}
