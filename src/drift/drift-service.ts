import { Readable } from 'node:stream';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import type { AlertSink, DriftAlert } from '../domain/alert.js';
import { type Clock, systemClock } from '../domain/clock.js';
import {
  type Cell,
  columnOf,
  type FeatureSpec,
  featuresOf,
  MAX_FEATURE_WIDTH,
  predictionOf,
} from '../domain/features.js';
import type { ModelVersion } from '../domain/model.js';
import type { Dataset } from '../domain/promotion.js';
import { SlipwayError } from '../errors/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { DriftCheckSpec } from './drift-checks.js';
import {
  buildProfile,
  evenSample,
  type FeatureProfile,
  type ReferenceProfile,
  type ReferenceSource,
} from './profile.js';
import { type DriftMethod, datasetDrift, type FeatureKind, featureDrift } from './statistics.js';

/** One feature's verdict, or why it was not tested. */
export interface FeatureResult {
  readonly name: string;
  readonly kind: FeatureKind;
  readonly method: DriftMethod | null;
  /** A p-value (ks, chisquare) or a distance (wasserstein, jensenshannon, psi); null when not tested. */
  readonly statistic: number | null;
  readonly threshold: number | null;
  readonly drifted: boolean;
  readonly referenceRows: number;
  readonly currentRows: number;
  /** Share of the window's rows where the value was missing. */
  readonly currentNullShare: number;
  /** Why the feature was not tested (no values in the window, or none in the reference). */
  readonly skipped?: string;
}

/** Drift of a data set against a version's reference profile. */
export interface DriftReport {
  readonly model: string;
  readonly version: number;
  /** The deployment whose prediction log was read, or null for a data set given directly. */
  readonly environment: string | null;
  readonly window: { readonly from: string; readonly to: string } | null;
  readonly reference: { readonly source: ReferenceSource; readonly rows: number };
  readonly currentRows: number;
  /** At least `shareThreshold` of the tested features drifted. */
  readonly datasetDrift: boolean;
  readonly driftShare: number;
  readonly shareThreshold: number;
  readonly features: readonly FeatureResult[];
  readonly prediction: FeatureResult | null;
}

/** How a report is computed: a method (and threshold) for every feature instead of the defaults. */
export interface DriftOptions {
  readonly method?: DriftMethod;
  readonly threshold?: number;
}

/** A prediction log row as drift reads it. */
export interface LoggedPrediction {
  readonly version: number;
  readonly inputs: Record<string, unknown>;
  readonly outputs: Record<string, unknown>;
}

export interface PredictionLogReader {
  read(query: {
    environment: string;
    model: string;
    from: Date;
    to: Date;
    limit?: number;
    version?: number;
  }): Promise<readonly LoggedPrediction[]>;
}

/** The last outcome of a scheduled check. */
export interface DriftCheckResult {
  readonly check: string;
  readonly at: string;
  readonly status: 'ok' | 'drift' | 'inconclusive' | 'failed';
  readonly message: string;
  readonly report: DriftReport | null;
}

export interface DriftServiceOptions {
  readonly registry: { getVersion(model: string, version: number): Promise<ModelVersion> };
  readonly datasets: { findDataset(model: string, name: string): Promise<Dataset | null> };
  /** Runs a version on rows and answers each row's outputs (the data plane's `inferVersion`). */
  readonly predict: (
    model: string,
    version: number,
    rows: readonly Record<string, unknown>[],
  ) => Promise<Record<string, unknown>[]>;
  /** The version in service of a deployment, or null when it is not deployed. */
  readonly versionInService: (model: string, environment: string) => Promise<number | null>;
  readonly predictionLog: PredictionLogReader;
  readonly artifacts: ArtifactStore;
  readonly checks: readonly DriftCheckSpec[];
  readonly metrics?: Pick<Metrics, 'drift'>;
  /** Told when a scheduled check finds dataset drift. */
  readonly alerts?: AlertSink;
  readonly clock?: Clock;
  readonly logger: Logger;
}

/** Reference data sets, by preference: a dataset made for it, the training data, the validation data. */
const REFERENCE_DATASETS = ['reference', 'training', 'validation'] as const;
/** The most logged rows one report reads (the newest of the window). */
export const MAX_WINDOW_ROWS = 50_000;
/** Rows sent to the model at a time when profiling its predictions on the reference data. */
const PREDICT_CHUNK = 1_000;
const PROFILE_PREFIX = 'drift/profiles';
const SHARE_THRESHOLD = 0.5;

/**
 * Data drift: each version's reference profile (built when it becomes READY, rebuilt when its
 * reference data set changes), reports of a data set or a window of the prediction log against it,
 * and the scheduled checks that publish their verdicts as metrics and alerts. Statistics are
 * Evidently's default choices, computed as scipy computes them (`statistics.ts`).
 */
export class DriftService {
  private readonly clock: Clock;
  private readonly building = new Map<string, Promise<ReferenceProfile>>();
  private readonly crons: Cron[] = [];
  private readonly results = new Map<string, DriftCheckResult>();

  constructor(private readonly options: DriftServiceOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** The reference profile of a version: stored, or built now from its reference data. */
  profile(model: string, version: number): Promise<ReferenceProfile> {
    const key = profileKey(model, version);
    const pending = this.building.get(key);
    if (pending) return pending;
    const next = this.readOrBuild(model, version).finally(() => this.building.delete(key));
    this.building.set(key, next);
    return next;
  }

  /** Builds a new version's profile in the background; a version without reference data has none yet. */
  versionReady(version: ModelVersion): void {
    this.profile(version.model, version.version).catch((error: unknown) => {
      const level = error instanceof SlipwayError && error.code === 'FAILED_PRECONDITION' ? 'debug' : 'warn';
      this.options.logger[level](
        { model: version.model, version: version.version, err: error },
        'no reference profile for the new version',
      );
    });
  }

  /** A reference data set changed: the model's profiles are rebuilt when next needed. */
  async datasetChanged(model: string, name: string): Promise<void> {
    if (!(REFERENCE_DATASETS as readonly string[]).includes(name)) return;
    const folder = `${PROFILE_PREFIX}/${model}`;
    // A profile being built may have read the old data: let it land, then remove it with the rest.
    const pending = [...this.building].filter(([key]) => key.startsWith(`${folder}/`));
    await Promise.allSettled(pending.map(([, building]) => building));
    if (!(await this.options.artifacts.isFolder(folder))) return;
    for (const entry of await this.options.artifacts.list(folder)) {
      if (!entry.isDir) await this.options.artifacts.remove(`${folder}/${entry.name}`).catch(() => undefined);
    }
  }

  /** Drift of rows (a batch to score, a sample) against a version's reference. */
  async compareRows(
    model: string,
    version: number,
    rows: readonly Record<string, unknown>[],
    options: DriftOptions = {},
  ): Promise<DriftReport> {
    if (rows.length === 0) {
      throw new SlipwayError('INVALID_ARGUMENT', 'rows: no rows to compare; expected at least one.', {
        field: 'rows',
      });
    }
    const profile = await this.profile(model, version);
    const servable = await this.options.registry.getVersion(model, version);
    const prediction = predictionOf(servable);
    const predictions = prediction ? await this.predictions(servable, rows) : null;
    return this.report(profile, servable, rows, predictions, null, null, options);
  }

  /**
   * Drift of a deployment's logged predictions in a window, against the reference of its version in
   * service (rows other versions answered are left out).
   */
  async compareWindow(
    model: string,
    environment: string,
    window: { readonly from: Date; readonly to: Date },
    options: DriftOptions = {},
  ): Promise<DriftReport> {
    if (!(window.from < window.to)) {
      throw new SlipwayError('INVALID_ARGUMENT', '`from` must be before `to`.', { field: 'from' });
    }
    const version = await this.options.versionInService(model, environment);
    if (version === null) {
      throw new SlipwayError('NOT_DEPLOYED', `Model "${model}" is not deployed in ${environment}.`, {
        model,
        environment,
      });
    }
    const profile = await this.profile(model, version);
    const servable = await this.options.registry.getVersion(model, version);
    const logged = await this.options.predictionLog.read({
      environment,
      model,
      from: window.from,
      to: window.to,
      version,
      limit: MAX_WINDOW_ROWS,
    });
    const rows = logged.filter((r) => r.version === version);
    if (rows.length === 0) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `The prediction log of ${model} in ${environment} has no rows of version ${version} between ${window.from.toISOString()} and ${window.to.toISOString()}; widen the window, or raise the environment's prediction_log sample_rate.`,
        { model, environment, version },
      );
    }
    return this.report(
      profile,
      servable,
      rows.map((r) => r.inputs),
      rows.map((r) => r.outputs),
      environment,
      { from: window.from.toISOString(), to: window.to.toISOString() },
      options,
    );
  }

  /** Starts the scheduled checks (on the one server process that schedules). */
  start(): void {
    for (const check of this.options.checks) {
      this.crons.push(
        new Cron(check.schedule, { protect: true, unref: true }, () => {
          void this.runCheck(check);
        }),
      );
    }
  }

  stop(): void {
    for (const cron of this.crons.splice(0)) cron.stop();
  }

  /** The declared checks and each one's last outcome. */
  checks(): { spec: DriftCheckSpec; last: DriftCheckResult | null; next: string | null }[] {
    return this.options.checks.map((spec, i) => ({
      spec,
      last: this.results.get(spec.name) ?? null,
      next: this.crons[i]?.nextRun()?.toISOString() ?? null,
    }));
  }

  /** Runs one check now: a report over its window, published as metrics, and an alert on drift. */
  async runCheck(check: DriftCheckSpec): Promise<DriftCheckResult> {
    const to = new Date(this.clock.now());
    const from = new Date(to.getTime() - check.windowSeconds * 1000);
    let result: DriftCheckResult;
    try {
      const report = await this.compareWindow(check.model, check.environment, { from, to }, check);
      if (report.currentRows < check.minRows) {
        result = {
          check: check.name,
          at: to.toISOString(),
          status: 'inconclusive',
          message: `${report.currentRows} logged rows in the window, fewer than min_rows ${check.minRows}`,
          report,
        };
      } else {
        this.options.metrics?.drift(check.model, check.environment, {
          drifted: report.datasetDrift,
          share: report.driftShare,
          features: [...report.features, ...(report.prediction ? [report.prediction] : [])]
            .filter((f) => f.method !== null && f.statistic !== null)
            .map((f) => ({ name: f.name, method: f.method as string, statistic: f.statistic as number })),
        });
        const drifted = report.features.filter((f) => f.drifted).map((f) => f.name);
        result = {
          check: check.name,
          at: to.toISOString(),
          status: report.datasetDrift ? 'drift' : 'ok',
          message: report.datasetDrift
            ? `dataset drift: ${drifted.length} of ${report.features.length} features drifted (${drifted.join(', ')})`
            : `no dataset drift (${drifted.length} of ${report.features.length} features drifted)`,
          report,
        };
        // One alert when a check starts finding drift, not one per run while it lasts.
        const before = this.results.get(check.name)?.status;
        if (report.datasetDrift && before !== 'drift') {
          this.options.alerts?.notify(driftAlert(check, report, { from, to }));
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const inconclusive = error instanceof SlipwayError && error.code === 'FAILED_PRECONDITION';
      result = {
        check: check.name,
        at: to.toISOString(),
        status: inconclusive ? 'inconclusive' : 'failed',
        message,
        report: null,
      };
    }
    this.results.set(check.name, result);
    const level = result.status === 'drift' ? 'warn' : result.status === 'failed' ? 'error' : 'info';
    this.options.logger[level](
      { check: check.name, model: check.model, environment: check.environment, status: result.status },
      `drift check: ${result.message}`,
    );
    return result;
  }

  private report(
    profile: ReferenceProfile,
    version: ModelVersion,
    rows: readonly Record<string, unknown>[],
    predictions: readonly Record<string, unknown>[] | null,
    environment: string | null,
    window: DriftReport['window'],
    options: DriftOptions,
  ): DriftReport {
    const byName = new Map(profile.features.map((f) => [f.name, f]));
    const features = featuresOf(version).map((feature) =>
      test(feature, byName.get(feature.name), columnOf(rows, feature), options),
    );
    const spec = predictionOf(version);
    const prediction =
      spec && predictions && profile.prediction
        ? test(spec, profile.prediction, columnOf(predictions, spec), options)
        : null;
    const tested = features.filter((f) => f.method !== null);
    if (tested.length === 0) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        features.length === 0
          ? `Version ${version.version} of "${version.model}" has no input drift can measure (inputs wider than ${MAX_FEATURE_WIDTH} values per row are left out).`
          : `No feature could be tested: ${features.map((f) => `${f.name} (${f.skipped})`).join(', ')}.`,
        { model: version.model, version: version.version },
      );
    }
    const verdict = datasetDrift(
      tested.map((f) => ({
        method: f.method as DriftMethod,
        statistic: f.statistic as number,
        threshold: f.threshold as number,
        drifted: f.drifted,
      })),
      SHARE_THRESHOLD,
    );
    return {
      model: version.model,
      version: version.version,
      environment,
      window,
      reference: { source: profile.source, rows: profile.rows },
      currentRows: rows.length,
      datasetDrift: verdict.drifted,
      driftShare: verdict.share,
      shareThreshold: SHARE_THRESHOLD,
      features,
      prediction,
    };
  }

  private async readOrBuild(model: string, version: number): Promise<ReferenceProfile> {
    const key = profileKey(model, version);
    if (await this.options.artifacts.exists(key)) {
      const stored = JSON.parse(Buffer.from(await this.options.artifacts.read(key)).toString('utf8'));
      return stored as ReferenceProfile;
    }
    const servable = await this.options.registry.getVersion(model, version);
    const { source, rows } = await this.referenceRows(servable);
    const sample = evenSample(rows);
    const predictions = predictionOf(servable) ? await this.predictions(servable, sample) : null;
    const profile = buildProfile(servable, source, sample, predictions, new Date(this.clock.now()));
    const bytes = Buffer.from(JSON.stringify(profile));
    const staged = await this.options.artifacts.stage(Readable.from([bytes]), {
      maxBytes: bytes.length + 1,
    });
    await this.options.artifacts.commit(staged, key, { replace: true });
    this.options.logger.info({ model, version, source, rows: sample.length }, 'reference profile built');
    return profile;
  }

  private async referenceRows(
    version: ModelVersion,
  ): Promise<{ source: ReferenceSource; rows: readonly Record<string, unknown>[] }> {
    for (const name of REFERENCE_DATASETS) {
      const dataset = await this.options.datasets.findDataset(version.model, name);
      if (dataset && dataset.rows.length > 0) return { source: `dataset:${name}`, rows: dataset.rows };
    }
    if (version.sample.length > 0) return { source: 'manifest:sample', rows: version.sample };
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `Version ${version.version} of "${version.model}" has no reference data: upload a dataset named "reference" or "training" (or "validation") for the model, or push the version with sample rows in its manifest.`,
      { model: version.model, version: version.version },
    );
  }

  /**
   * The version's predictions on rows, given only its inputs (a data set's label and other columns
   * are left out, as the model would refuse them).
   */
  private async predictions(
    version: ModelVersion,
    rows: readonly Record<string, unknown>[],
  ): Promise<Record<string, unknown>[]> {
    const names = version.signature.inputs.map((input) => input.name);
    const inputsOf = (row: Record<string, unknown>) =>
      Object.fromEntries(names.filter((name) => Object.hasOwn(row, name)).map((name) => [name, row[name]]));
    const answers: Record<string, unknown>[] = [];
    for (let start = 0; start < rows.length; start += PREDICT_CHUNK) {
      const chunk = rows.slice(start, start + PREDICT_CHUNK).map(inputsOf);
      answers.push(...(await this.options.predict(version.model, version.version, chunk)));
    }
    return answers;
  }
}

/** The alert a check raises on dataset drift: the window, the share, and each drifted feature. */
function driftAlert(
  check: DriftCheckSpec,
  report: DriftReport,
  window: { readonly from: Date; readonly to: Date },
): DriftAlert {
  const tested = report.features.filter((f) => f.method !== null);
  return {
    kind: 'drift',
    time: window.to.toISOString(),
    check: check.name,
    model: report.model,
    version: report.version,
    environment: check.environment,
    window: { from: window.from.toISOString(), to: window.to.toISOString() },
    rows: report.currentRows,
    driftShare: report.driftShare,
    shareThreshold: report.shareThreshold,
    featuresTested: tested.length,
    features: tested
      .filter((f) => f.drifted)
      .map((f) => ({
        name: f.name,
        method: f.method as string,
        statistic: f.statistic as number,
        threshold: f.threshold as number,
      })),
  };
}

const profileKey = (model: string, version: number) => `${PROFILE_PREFIX}/${model}/${version}.json`;

function test(
  feature: FeatureSpec,
  reference: FeatureProfile | undefined,
  cells: readonly Cell[],
  options: DriftOptions,
): FeatureResult {
  const current = cells.filter((c): c is number | string => c !== null);
  const base = {
    name: feature.name,
    kind: feature.kind,
    referenceRows: reference?.values.length ?? 0,
    currentRows: current.length,
    currentNullShare: cells.length === 0 ? 0 : (cells.length - current.length) / cells.length,
  };
  const skip = (why: string): FeatureResult => ({
    ...base,
    method: null,
    statistic: null,
    threshold: null,
    drifted: false,
    skipped: why,
  });
  if (!reference || reference.values.length === 0) return skip('the reference has no values of it');
  if (current.length === 0) return skip('no values of it in the data');
  const verdict = featureDrift(feature.kind, reference.values, current, {
    ...(options.method ? { method: options.method } : {}),
    ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
  });
  return { ...base, ...verdict };
}
