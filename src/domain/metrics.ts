import { SlipwayError } from '../errors/index.js';

/**
 * Validation metrics, computed exactly as scikit-learn 1.8 defines them so that a number in a manifest
 * (usually computed in Python at training time) and the same number computed by Slipway agree.
 * tests/unit/metrics.test.ts replays cases generated with scikit-learn itself
 * (tests/fixtures/metrics/sklearn-cases.json) and requires agreement within 1e-9 relative.
 *
 * The functions are pure: arrays in, one number out. Input that makes a metric meaningless (empty arrays,
 * arrays of different lengths, probabilities outside [0, 1], a class index past the end of a row) throws a
 * SlipwayError with code INVALID_ARGUMENT instead of returning NaN, because a NaN would silently fail or
 * pass whatever gate compares it.
 */

/** The metrics Slipway knows, under the names scikit-learn users write in manifests. */
export type MetricName = 'accuracy' | 'log_loss' | 'auc' | 'rmse' | 'mae';

/** What Slipway needs to know about a metric to compare two values of it and to explain it. */
export interface MetricDefinition {
  /** Which direction is an improvement: `higher` for accuracy and AUC, `lower` for losses and errors. */
  readonly better: 'higher' | 'lower';
  /** The kind of model the metric applies to. */
  readonly task: 'classification' | 'regression';
  /** One sentence for people: what the number is and which scikit-learn function it matches. */
  readonly describe: string;
}

export const METRICS: Readonly<Record<MetricName, MetricDefinition>> = Object.freeze({
  accuracy: {
    better: 'higher',
    task: 'classification',
    describe: 'Share of rows whose predicted label equals the true label (scikit-learn accuracy_score).',
  },
  log_loss: {
    better: 'lower',
    task: 'classification',
    describe:
      'Mean negative natural log of the probability given to the true class, clipped to [eps, 1 - eps] (scikit-learn log_loss).',
  },
  auc: {
    better: 'higher',
    task: 'classification',
    describe:
      'Area under the ROC curve; the unweighted mean of one-vs-rest AUCs for more than two classes (scikit-learn roc_auc_score, multi_class="ovr", average="macro").',
  },
  rmse: {
    better: 'lower',
    task: 'regression',
    describe: 'Square root of the mean squared difference (scikit-learn root_mean_squared_error).',
  },
  mae: {
    better: 'lower',
    task: 'regression',
    describe: 'Mean absolute difference (scikit-learn mean_absolute_error).',
  },
});

/**
 * scikit-learn clips probabilities to [eps, 1 - eps] before taking logs, with eps the machine epsilon of
 * the array's dtype. Our numbers are always float64, whose epsilon is Number.EPSILON (2^-52).
 */
const LOG_LOSS_EPS = Number.EPSILON;

/**
 * Multiclass roc_auc_score refuses rows that do not sum to 1 using numpy's `allclose` defaults:
 * |1 - sum| <= ATOL + RTOL * |sum|. Float32 model outputs pass comfortably (their error is about 1e-7).
 */
const ROW_SUM_RTOL = 1e-5;
const ROW_SUM_ATOL = 1e-8;

/** Fraction of rows where `predicted` equals `labels`, compared with `===` (so `1` and `'1'` differ). */
export function accuracy(
  labels: readonly (string | number)[],
  predicted: readonly (string | number)[],
): number {
  assertPaired(labels, 'labels', predicted, 'predicted');
  assertClassLabels(labels, 'labels');
  assertClassLabels(predicted, 'predicted');
  let correct = 0;
  labels.forEach((label, row) => {
    if (label === predicted[row]) correct += 1;
  });
  return correct / labels.length;
}

/**
 * Mean of -ln(p), where p is the probability each row gives to its true class, like
 * `log_loss(labels, probabilities, labels=[0, 1, ..., k - 1])`.
 *
 * `labels` are class indices into each probability row. Probabilities are clipped to [eps, 1 - eps] with
 * eps = 2^-52, so a confident wrong answer costs about 36 rather than infinity. Rows are used as given:
 * scikit-learn 1.8 no longer renormalises them (it only warns when a row does not sum to 1), and
 * renormalising here would break parity.
 */
export function logLoss(labels: readonly number[], probabilities: readonly (readonly number[])[]): number {
  assertProbabilities(labels, probabilities);
  let total = 0;
  labels.forEach((label, row) => {
    // Only the true class's column counts: scikit-learn multiplies each log by the one-hot label.
    const p = Math.min(Math.max(probabilities[row]![label]!, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    total -= Math.log(p);
  });
  return total / labels.length;
}

/**
 * Area under the ROC curve.
 *
 * - Two columns: the binary AUC of column 1 (the positive class), like `roc_auc_score(labels, p[:, 1])`.
 * - More columns: the unweighted mean over classes of "this class against the rest", like
 *   `roc_auc_score(labels, p, multi_class='ovr', average='macro', labels=[0, ..., k - 1])`. As in
 *   scikit-learn, every row must then sum to 1.
 *
 * Every class must have at least one row with that label and one row without it. scikit-learn returns
 * NaN (with a warning) when a class has no positive or no negative rows; we throw instead.
 */
export function rocAuc(labels: readonly number[], probabilities: readonly (readonly number[])[]): number {
  const classes = assertProbabilities(labels, probabilities);
  if (classes === 2) {
    return binaryAuc(labels, probabilities, 1);
  }
  probabilities.forEach((row, index) => {
    const sum = row.reduce((total, p) => total + p, 0);
    if (Math.abs(1 - sum) > ROW_SUM_ATOL + ROW_SUM_RTOL * Math.abs(sum)) {
      throw invalid(
        `probabilities[${index}] sums to ${sum}; with more than two classes every row must sum to 1.`,
        { field: 'probabilities', row: index, sum },
      );
    }
  });
  let total = 0;
  for (let positive = 0; positive < classes; positive += 1) {
    total += binaryAuc(labels, probabilities, positive);
  }
  return total / classes;
}

/** Square root of the mean of (actual - predicted)². */
export function rmse(actual: readonly number[], predicted: readonly number[]): number {
  assertRegression(actual, predicted);
  let total = 0;
  actual.forEach((value, row) => {
    total += (value - predicted[row]!) ** 2;
  });
  return Math.sqrt(total / actual.length);
}

/** Mean of |actual - predicted|. */
export function mae(actual: readonly number[], predicted: readonly number[]): number {
  assertRegression(actual, predicted);
  let total = 0;
  actual.forEach((value, row) => {
    total += Math.abs(value - predicted[row]!);
  });
  return total / actual.length;
}

/**
 * AUC of one class against all others: the probability that a random row of class `positive` scores
 * higher in column `positive` than a random row of another class, a tie counting half (the Mann–Whitney
 * U statistic divided by the number of pairs). This equals the trapezoidal area under scikit-learn's ROC
 * curve, whose thresholds are the distinct scores: rows with tied scores move the curve diagonally, and
 * a diagonal step's trapezoid is exactly the "half" for tied pairs.
 */
function binaryAuc(
  labels: readonly number[],
  probabilities: readonly (readonly number[])[],
  positive: number,
): number {
  const scores = probabilities.map((row) => row[positive]!);
  const order = labels.map((_, row) => row).sort((a, b) => scores[a]! - scores[b]!);

  let positives = 0;
  let negatives = 0;
  // Sum over positive rows of (negatives scoring lower) + (negatives scoring the same) / 2.
  let wins = 0;
  // Walk the rows from the lowest score up, one group of equal scores at a time.
  for (let start = 0; start < order.length; ) {
    const score = scores[order[start]!]!;
    let groupPositives = 0;
    let groupNegatives = 0;
    let end = start;
    while (end < order.length && scores[order[end]!] === score) {
      if (labels[order[end]!] === positive) groupPositives += 1;
      else groupNegatives += 1;
      end += 1;
    }
    // `negatives` still counts only the rows below this group.
    wins += groupPositives * (negatives + groupNegatives / 2);
    positives += groupPositives;
    negatives += groupNegatives;
    start = end;
  }

  if (positives === 0 || negatives === 0) {
    throw invalid(
      `ROC AUC is undefined for class ${positive}: ${positives === 0 ? 'no row has' : 'every row has'} that label; expected at least one row with it and one without.`,
      { field: 'labels', class: positive },
    );
  }
  return wins / (positives * negatives);
}

// --- input checks ------------------------------------------------------------------------------------

function invalid(message: string, details: Record<string, unknown>): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message, details);
}

/** Both arrays non-empty and of the same length: every metric averages over paired rows. */
function assertPaired(
  first: readonly unknown[],
  firstField: string,
  second: readonly unknown[],
  secondField: string,
): void {
  if (first.length === 0) {
    throw invalid(`${firstField} is empty; a metric needs at least one row.`, { field: firstField });
  }
  if (first.length !== second.length) {
    throw invalid(
      `${firstField} has ${first.length} rows but ${secondField} has ${second.length}; expected one ${secondField} row per ${firstField} row.`,
      { field: secondField, expected: first.length, actual: second.length },
    );
  }
}

function assertFinite(values: readonly number[], field: string): void {
  values.forEach((value, row) => {
    if (!Number.isFinite(value)) {
      throw invalid(`${field}[${row}] is ${value}; expected a finite number.`, { field, row });
    }
  });
}

/** A NaN label would never equal anything and quietly count as a miss, so it is refused. */
function assertClassLabels(values: readonly (string | number)[], field: string): void {
  values.forEach((value, row) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw invalid(`${field}[${row}] is ${value}; expected a string or a finite number.`, { field, row });
    }
  });
}

function assertRegression(actual: readonly number[], predicted: readonly number[]): void {
  assertPaired(actual, 'actual', predicted, 'predicted');
  assertFinite(actual, 'actual');
  assertFinite(predicted, 'predicted');
}

/**
 * Checks class-index labels against a probability matrix and returns the number of classes: rows all
 * as wide as the first, at least two columns, every value in [0, 1] (scikit-learn's log_loss refuses
 * others), every label an integer column index.
 */
function assertProbabilities(
  labels: readonly number[],
  probabilities: readonly (readonly number[])[],
): number {
  assertPaired(labels, 'labels', probabilities, 'probabilities');
  const classes = probabilities[0]!.length;
  if (classes < 2) {
    throw invalid(
      `probabilities rows have ${classes} column(s); expected one column per class, at least 2.`,
      { field: 'probabilities', actual: classes },
    );
  }
  probabilities.forEach((row, index) => {
    if (row.length !== classes) {
      throw invalid(
        `probabilities[${index}] has ${row.length} columns but probabilities[0] has ${classes}; expected every row to have one column per class.`,
        { field: 'probabilities', row: index, expected: classes, actual: row.length },
      );
    }
    row.forEach((p, column) => {
      if (!(p >= 0 && p <= 1)) {
        throw invalid(`probabilities[${index}][${column}] is ${p}; expected a probability between 0 and 1.`, {
          field: 'probabilities',
          row: index,
          column,
        });
      }
    });
  });
  labels.forEach((label, row) => {
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw invalid(
        `labels[${row}] is ${label}; expected a class index, an integer from 0 to ${classes - 1}.`,
        { field: 'labels', row },
      );
    }
  });
  return classes;
}
