import { accuracy, logLoss, type MetricName, mae, rmse, rocAuc } from '../domain/metrics.js';
import type { ModelVersion } from '../domain/model.js';
import type { Dataset } from '../domain/promotion.js';
import { SlipwayError } from '../errors/index.js';
import { type NamedTensors, toJsonValues } from '../runtime/tensor.js';
import type { InferenceInputs } from '../serving/data-plane.js';

export type Task = 'classification' | 'regression';

/** Runs rows through one version; the data plane's `inferVersion`. */
export type Predict = (
  model: string,
  version: number,
  inputs: InferenceInputs,
) => Promise<{ outputs: NamedTensors }>;

export interface Evaluation {
  readonly task: Task;
  readonly rows: number;
  /** The metrics the task and the model's outputs allow; the others are absent. */
  readonly metrics: Partial<Record<MetricName, number>>;
}

const CHUNK = 512;

/**
 * Scores a version on a labelled dataset, as the validation gate does. The task is the manifest's
 * `task` when it says, else classification when the model declares class labels or the labels are
 * strings, else regression. For a classifier, the first integer or string output is the predicted
 * label and a float output with one column per class holds the probabilities, in the order of the
 * model's declared labels (scikit-learn's `classes_`, sorted) or, failing that, the dataset's sorted
 * distinct labels.
 */
export async function evaluate(
  version: ModelVersion,
  dataset: Dataset,
  predict: Predict,
): Promise<Evaluation> {
  const truth = dataset.rows.map((row, index) => {
    const value = row[dataset.label];
    if (typeof value !== 'number' && typeof value !== 'string') {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Dataset "${dataset.name}" row ${index} has no ${dataset.label} value (a number or string).`,
        { dataset: dataset.name, row: index },
      );
    }
    return value;
  });
  const features = dataset.rows.map((row) => {
    const { [dataset.label]: _label, ...rest } = row;
    return rest;
  });
  const task = taskOf(version, truth);
  const predictedLabels: (string | number)[] = [];
  const probabilities: number[][] = [];
  const values: number[] = [];
  const labelOutput = version.signature.outputs.find((o) => ['INT64', 'INT32', 'BYTES'].includes(o.datatype));
  const probabilityOutput = version.signature.outputs.find(
    (o) => (o.datatype === 'FP32' || o.datatype === 'FP64') && o !== labelOutput && o.shape.at(-1) !== 1,
  );
  const valueOutput = version.signature.outputs[0];
  for (let start = 0; start < features.length; start += CHUNK) {
    const rows = features.slice(start, start + CHUNK);
    const { outputs } = await predict(version.model, version.version, { kind: 'rows', rows });
    if (task === 'classification') {
      if (labelOutput)
        predictedLabels.push(...(toJsonValues(outputs[labelOutput.name]!) as (string | number)[]));
      if (probabilityOutput) {
        const flat = toJsonValues(outputs[probabilityOutput.name]!) as number[];
        const width = flat.length / rows.length;
        for (let r = 0; r < rows.length; r++) probabilities.push(flat.slice(r * width, (r + 1) * width));
      }
    } else if (valueOutput) {
      const flat = toJsonValues(outputs[valueOutput.name]!) as number[];
      const width = flat.length / rows.length;
      for (let r = 0; r < rows.length; r++) values.push(flat[r * width] as number);
    }
  }

  const metrics: Partial<Record<MetricName, number>> = {};
  if (task === 'regression') {
    const actual = truth.map(Number);
    metrics.rmse = rmse(actual, values);
    metrics.mae = mae(actual, values);
    return { task, rows: truth.length, metrics };
  }
  if (labelOutput) metrics.accuracy = accuracy(truth, predictedLabels);
  if (probabilityOutput) {
    const classes = version.signature.labels ?? distinctSorted(truth);
    const width = probabilities[0]?.length ?? 0;
    const index = truth.map((label) => classes.findIndex((c) => String(c) === String(label)));
    if (classes.length === width && index.every((i) => i >= 0)) {
      metrics.log_loss = logLoss(index, probabilities);
      // AUC needs every class both present and absent among the labels; without that it is undefined.
      if (new Set(index).size === width) metrics.auc = rocAuc(index, probabilities);
    }
  }
  return { task, rows: truth.length, metrics };
}

function taskOf(version: ModelVersion, truth: readonly (string | number)[]): Task {
  if (version.task === 'classification' || version.task === 'regression') return version.task;
  if (version.signature.labels !== undefined) return 'classification';
  if (truth.some((value) => typeof value === 'string')) return 'classification';
  return 'regression';
}

function distinctSorted(values: readonly (string | number)[]): (string | number)[] {
  const distinct = [...new Set(values)];
  return distinct.every((v) => typeof v === 'number')
    ? (distinct as number[]).sort((a, b) => a - b)
    : distinct.map(String).sort();
}
