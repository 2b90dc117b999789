import { type Clock, isoNow } from '../domain/clock.js';
import type { EnvironmentPolicy, MetricThreshold } from '../domain/environment.js';
import { METRICS, type MetricName } from '../domain/metrics.js';
import type { ModelVersion } from '../domain/model.js';
import type { Dataset, GateResult, GateStatus } from '../domain/promotion.js';
import { isSlipwayError } from '../errors/index.js';
import type { NamedTensors } from '../runtime/tensor.js';
import { type Evaluation, evaluate, type Predict } from './evaluation.js';

/** What the gates need from the rest of Slipway. */
export interface GateServices {
  /** Loads and warms a version. */
  preload(model: string, version: number): Promise<void>;
  /** Runs rows through one version, outside any deployment. */
  predict(...args: Parameters<Predict>): Promise<{ outputs: NamedTensors; latencyMs: number }>;
  /** The model's dataset of that name, or null. */
  dataset(model: string, name: string): Promise<Dataset | null>;
  /** Stamps each verdict's `at`. */
  readonly clock: Clock;
}

/** A verdict before it is stamped with the time. */
type Verdict = Omit<GateResult, 'at'>;

export interface GateInput {
  readonly policy: EnvironmentPolicy;
  readonly candidate: ModelVersion;
  /** The version with the largest share in the environment now; null on a first deployment. */
  readonly incumbent: ModelVersion | null;
  readonly allowSchemaChange: boolean;
}

const result = (
  gate: GateResult['gate'],
  status: GateStatus,
  message: string,
  measurements?: GateResult['measurements'],
): Verdict => ({
  gate,
  status,
  message,
  ...(measurements ? { measurements } : {}),
});

/**
 * Runs the environment's gates in order (smoke, schema, validation, latency) and stops at the first
 * failure. Every gate judges the candidate in isolation, through the same runtime that will serve it,
 * before anything in service changes.
 */
export async function runGates(input: GateInput, services: GateServices): Promise<GateResult[]> {
  const { gates } = input.policy;
  const results: GateResult[] = [];
  const steps: [boolean, () => Promise<Verdict>][] = [
    [gates.smoke, () => smoke(input, services)],
    [gates.schema, async () => schema(input)],
    [gates.validation !== null, () => validation(input, services)],
    [gates.latency !== null, () => latency(input, services)],
  ];
  for (const [enabled, run] of steps) {
    if (!enabled) continue;
    const outcome: GateResult = { ...(await run()), at: isoNow(services.clock) };
    results.push(outcome);
    if (outcome.status === 'failed') break;
  }
  return results;
}

async function smoke({ candidate }: GateInput, services: GateServices): Promise<Verdict> {
  try {
    await services.preload(candidate.model, candidate.version);
    if (candidate.sample.length === 0) {
      return result('smoke', 'passed', 'Loaded and warmed; the manifest has no sample rows to predict.');
    }
    await services.predict(candidate.model, candidate.version, { kind: 'rows', rows: candidate.sample });
    return result(
      'smoke',
      'passed',
      `Loaded, warmed, and predicted the ${candidate.sample.length} sample rows.`,
      {
        rows: candidate.sample.length,
      },
    );
  } catch (error) {
    return result(
      'smoke',
      'failed',
      `Version ${candidate.version} did not load or predict its sample: ${messageOf(error)}`,
    );
  }
}

function schema({ candidate, incumbent, allowSchemaChange }: GateInput): Verdict {
  if (!incumbent)
    return result('schema', 'skipped', 'Nothing is in service yet, so there is no schema to match.');
  const describe = (v: ModelVersion) =>
    new Map(v.signature.inputs.map((i) => [i.name, `${i.datatype}[${i.shape.join(',')}]`]));
  const before = describe(incumbent);
  const after = describe(candidate);
  const differences: string[] = [];
  for (const [name, spec] of before) {
    const now = after.get(name);
    if (now === undefined) differences.push(`input "${name}" was removed`);
    else if (now !== spec) differences.push(`input "${name}" changed from ${spec} to ${now}`);
  }
  for (const name of after.keys()) if (!before.has(name)) differences.push(`input "${name}" was added`);
  if (differences.length === 0) {
    return result('schema', 'passed', `Inputs match version ${incumbent.version}, the version in service.`);
  }
  const summary = differences.join('; ');
  if (allowSchemaChange) {
    return result(
      'schema',
      'passed',
      `Inputs differ from version ${incumbent.version} (${summary}); accepted by allow_schema_change.`,
    );
  }
  return result(
    'schema',
    'failed',
    `Inputs differ from version ${incumbent.version}, the version in service: ${summary}. Clients sending today's requests would break; pass allow_schema_change to accept.`,
  );
}

async function validation(input: GateInput, services: GateServices): Promise<Verdict> {
  const gate = input.policy.gates.validation!;
  const { candidate, incumbent } = input;
  const dataset = await services.dataset(candidate.model, gate.dataset);
  if (!dataset) {
    const message = `Model "${candidate.model}" has no dataset "${gate.dataset}"; register one with \`slipway datasets put\`.`;
    return result('validation', gate.required ? 'failed' : 'skipped', message);
  }
  let scored: Evaluation;
  let baseline: Evaluation | null = null;
  try {
    scored = await evaluate(candidate, dataset, services.predict);
    if (
      incumbent &&
      incumbent.version !== candidate.version &&
      gate.thresholds.some((t) => t.maxRegression !== undefined)
    ) {
      baseline = await evaluate(incumbent, dataset, services.predict);
    }
  } catch (error) {
    return result('validation', 'failed', `Scoring dataset "${dataset.name}" failed: ${messageOf(error)}`);
  }
  const measurements: Record<string, number | string | null> = { task: scored.task, rows: scored.rows };
  for (const [name, value] of Object.entries(scored.metrics)) measurements[name] = value;
  if (baseline) {
    for (const [name, value] of Object.entries(baseline.metrics)) measurements[`incumbent_${name}`] = value;
  }
  const breaches: string[] = [];
  const checked: string[] = [];
  for (const threshold of gate.thresholds) {
    if (METRICS[threshold.metric].task !== scored.task) continue;
    const value = scored.metrics[threshold.metric];
    if (value === undefined) continue;
    checked.push(threshold.metric);
    breaches.push(...judge(threshold, value, baseline?.metrics[threshold.metric], incumbent?.version));
  }
  if (breaches.length > 0) {
    return result(
      'validation',
      'failed',
      `On "${dataset.name}" (${scored.rows} rows): ${breaches.join('; ')}.`,
      measurements,
    );
  }
  const summary = checked.map((m) => `${m} ${format(scored.metrics[m as MetricName] as number)}`).join(', ');
  return result(
    'validation',
    'passed',
    checked.length
      ? `On "${dataset.name}" (${scored.rows} rows): ${summary}, within every threshold.`
      : `On "${dataset.name}" (${scored.rows} rows): no threshold applies to a ${scored.task} model's outputs.`,
    measurements,
  );
}

function judge(
  threshold: MetricThreshold,
  value: number,
  incumbent: number | undefined,
  incumbentVersion?: number,
): string[] {
  const { metric } = threshold;
  const breaches: string[] = [];
  if (threshold.min !== undefined && value < threshold.min) {
    breaches.push(`${metric} ${format(value)} is below the minimum ${threshold.min}`);
  }
  if (threshold.max !== undefined && value > threshold.max) {
    breaches.push(`${metric} ${format(value)} is above the maximum ${threshold.max}`);
  }
  if (threshold.maxRegression !== undefined && incumbent !== undefined) {
    const worse = METRICS[metric].better === 'higher' ? incumbent - value : value - incumbent;
    if (worse > threshold.maxRegression) {
      breaches.push(
        `${metric} ${format(value)} is ${format(worse)} worse than version ${incumbentVersion}'s ${format(incumbent)} (allowed ${threshold.maxRegression})`,
      );
    }
  }
  return breaches;
}

async function latency({ candidate, policy }: GateInput, services: GateServices): Promise<Verdict> {
  const gate = policy.gates.latency!;
  const row = candidate.sample[0];
  if (!row) return result('latency', 'skipped', 'The manifest has no sample row to time.');
  const timings: number[] = [];
  try {
    for (let i = 0; i < gate.requests; i++) {
      const { latencyMs } = await services.predict(candidate.model, candidate.version, {
        kind: 'rows',
        rows: [row],
      });
      timings.push(latencyMs);
    }
  } catch (error) {
    return result('latency', 'failed', `Timing predictions failed: ${messageOf(error)}`);
  }
  timings.sort((a, b) => a - b);
  const p50 = timings[Math.floor(timings.length / 2)] as number;
  const p99 = timings[Math.ceil(timings.length * 0.99) - 1] as number;
  const measurements = {
    p50_ms: round(p50),
    p99_ms: round(p99),
    requests: timings.length,
    budget_ms: gate.p99Ms,
  };
  return p99 <= gate.p99Ms
    ? result(
        'latency',
        'passed',
        `p99 ${round(p99)} ms over ${timings.length} warm predictions, within ${gate.p99Ms} ms.`,
        measurements,
      )
    : result(
        'latency',
        'failed',
        `p99 ${round(p99)} ms over ${timings.length} warm predictions exceeds the ${gate.p99Ms} ms budget.`,
        measurements,
      );
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const format = (value: number) => String(Number(value.toPrecision(4)));
const messageOf = (error: unknown) => (isSlipwayError(error) ? error.message : (error as Error).message);
