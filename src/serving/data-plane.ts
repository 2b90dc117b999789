import type { Logger } from 'pino';
import type { EnvironmentPolicy } from '../domain/environment.js';
import { type FeatureSpec, predictionOf } from '../domain/features.js';
import type { Model, ModelVersion } from '../domain/model.js';
import { bucketOf, deploymentName, pickVersion, type Revision, versionsOf } from '../domain/revision.js';
import { type ServableVersion, toServable } from '../domain/servable.js';
import type { TensorSpec } from '../domain/signature.js';
import { isSlipwayError, SlipwayError } from '../errors/index.js';
import { type RequestTrace, traceClock } from '../observability/tracing.js';
import type { NamedTensors } from '../runtime/tensor.js';
import { InputDecoder, type TensorInput } from './input-decoder.js';
import type { LoadState, ModelHost } from './model-host.js';
import type { PredictionRecorder } from './prediction-recorder.js';
import type { ShadowOutcome, TrafficStats } from './traffic-stats.js';

/** Request data in either of the two shapes protocols use. */
export type InferenceInputs =
  | { readonly kind: 'tensors'; readonly tensors: readonly TensorInput[] }
  | { readonly kind: 'rows'; readonly rows: readonly unknown[] };

export interface InferenceRequest {
  readonly model: string;
  /** The environment whose deployment answers. */
  readonly environment: string;
  /**
   * A version number, or a tag of the revision in force; absent means "split by the revision's
   * traffic".
   */
  readonly version?: number | string;
  /** A caller's key (user, session); requests with the same key land on the same version of a split. */
  readonly routeKey?: string;
  readonly inputs: InferenceInputs;
  /** Outputs to compute; absent means all of them. */
  readonly outputs?: readonly string[];
  /**
   * Called with the version (and the revision that routed to it) as soon as it is chosen, before
   * inputs are checked, so a response the version's signature refuses still names the version.
   */
  readonly onVersion?: (version: ModelVersion, revision: Revision) => void;
  /** The request's id (HTTP `x-request-id`, gRPC's own), kept with the prediction in the prediction log. */
  readonly requestId?: string;
  /** The request's trace (decode, queue and inference are reported to it), or null when tracing is off. */
  readonly trace?: RequestTrace | null;
}

/** A model's metadata in the Open Inference Protocol's terms. */
export interface ModelMetadata {
  readonly name: string;
  readonly versions: string[];
  readonly platform: 'onnxruntime_onnx';
  readonly inputs: { name: string; datatype: string; shape: number[] }[];
  readonly outputs: { name: string; datatype: string; shape: number[] }[];
}

export interface InferenceResult {
  readonly version: ModelVersion;
  readonly revision: Revision;
  readonly outputs: NamedTensors;
}

/** A version ready to take requests, with its input decoder and prediction output found once. */
interface Servable {
  readonly version: ServableVersion;
  readonly decoder: InputDecoder;
  /** The output whose values canary analysis compares between versions (null: none fits). */
  readonly prediction: FeatureSpec | null;
}

/** How one deployment routes: its revision in force and a loaded servable for every version it names. */
interface Route {
  readonly revision: Revision;
  readonly servables: ReadonlyMap<number, Servable>;
}

/** What the shadow of a revision has done: its answers are compared with the served ones. */
export interface ServedModelStatus {
  readonly model: string;
  readonly environment: string;
  readonly revision: number | null;
  readonly versions: readonly { version: number; percent: number; state: LoadState | 'NONE' }[];
  readonly state: LoadState | 'NONE';
}

/** Where revisions come from: the deployment store. */
/** The registry reads the data plane needs; the registry service gives them (app.ts wires it). */
export interface VersionSource {
  getModel(name: string): Promise<Model>;
  getVersion(model: string, version: number): Promise<ModelVersion>;
}

export interface RevisionSource {
  currentRevision(model: string, environment: string): Promise<Revision | null>;
  currentRevisions(environment?: string): Promise<Revision[]>;
  revisionCursor(): Promise<number>;
  /** Pushes news of committed revisions where the store can (see DeploymentStore.watchRevisions). */
  watchRevisions(onChange: () => void): Promise<() => Promise<void>> | null;
  changedSince(
    cursor: number,
  ): Promise<{ cursor: number; deployments: { model: string; environment: string }[] }>;
}

export interface DataPlaneOptions {
  readonly registry: VersionSource;
  readonly revisions: RevisionSource;
  readonly host: ModelHost;
  readonly stats: TrafficStats;
  /** The environments this process serves, with their policies. */
  readonly environments: readonly EnvironmentPolicy[];
  /** How often to look for revisions written by other processes; 0 turns following off. */
  readonly followIntervalMs: number;
  readonly logger: Logger;
  /**
   * News of revisions other processes of this server wrote (node:cluster messages), beside the
   * store's own (PostgreSQL NOTIFY): each makes a look at once.
   */
  readonly news?: (onChange: () => void) => void;
  /** Told of every answered prediction (the prediction log samples them); none records nothing. */
  readonly predictionLog?: PredictionRecorder;
}

/** Codes that mean the server or the model failed, as opposed to the caller's input. */
const SERVER_FAULTS = new Set([
  'INFERENCE_FAILED',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
  'UNAVAILABLE',
  'MODEL_NOT_READY',
]);

/**
 * The single path every prediction takes, whatever protocol it arrived on: find the deployment's
 * revision in force, pick a version by its traffic split (sticky by key), decode and check the inputs
 * against that version's signature, run it, mirror to the shadow, and record the outcome for canary
 * analysis. Protocol handlers only translate wire formats to and from these calls.
 *
 * Routes follow revisions: when a deployment changes (`refresh`, or a change another process made,
 * found by polling the store), every version the new revision names is loaded and warmed before the
 * route switches, so requests never meet a cold or missing model, and requests in flight finish on
 * the version they started on.
 */
export class DataPlane {
  private readonly routes = new Map<string, Route | null>();
  private readonly versions = new Map<string, Servable>();
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Deployments whose revision failed to load while nothing else was serving them. */
  private readonly failed = new Map<string, { model: string; environment: string; revision: number }>();
  private cursor = 0;
  private follower: NodeJS.Timeout | undefined;
  /** Stops listening for news of revisions (null when the store has none to give). */
  private unwatch: (() => Promise<void>) | null = null;
  private looking: Promise<void> | null = null;
  private lookAgain = false;

  /** Environments whose canary plan compares predictions: only their requests keep them. */
  private readonly comparesPredictions: ReadonlySet<string>;

  constructor(private readonly options: DataPlaneOptions) {
    this.comparesPredictions = new Set(
      options.environments.filter((e) => e.rollout?.maxPredictionDivergence != null).map((e) => e.name),
    );
  }

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    const route = await this.route(request.environment, request.model);
    const { version, decoder, prediction: output } = await this.choose(route, request);
    const prediction = this.comparesPredictions.has(request.environment) ? output : null;
    request.onVersion?.(version, route.revision);
    const { trace } = request;
    const decodeStart = trace ? traceClock() : 0;
    const inputs = decode(decoder, request.inputs);
    trace?.decoded(decodeStart, traceClock());
    const outputs = checkOutputs(version, request.outputs);
    const started = performance.now();
    const record = (failed: boolean, outputs: NamedTensors | null = null) =>
      this.options.stats.record(
        request.environment,
        request.model,
        version.version,
        performance.now() - started,
        failed,
        outputs && prediction ? predictionsOf(outputs, prediction) : null,
      );
    let result: NamedTensors;
    try {
      result = await this.options.host.infer(version.sha256, inputs, outputs, version, trace);
    } catch (error) {
      // A refusal of the caller's input says nothing about the version; a fault of the model does.
      if (!isSlipwayError(error) || SERVER_FAULTS.has(error.code)) record(true);
      throw error;
    }
    record(false, result);
    this.mirror(route, request, result);
    this.options.predictionLog?.record({
      environment: request.environment,
      model: request.model,
      version: version.version,
      revision: route.revision.number,
      requestId: request.requestId,
      time: new Date(),
      inputs,
      outputs: result,
    });
    return { version, revision: route.revision, outputs: result };
  }

  /**
   * Runs one version directly, outside any deployment: what promotion gates use to judge a
   * candidate. Not counted in traffic statistics.
   */
  async inferVersion(
    model: string,
    number: number,
    inputs: InferenceInputs,
    outputs?: readonly string[],
  ): Promise<{ version: ModelVersion; outputs: NamedTensors; latencyMs: number }> {
    const servable = await this.loaded(await this.servableOf(model, number));
    const decoded = decode(servable.decoder, inputs);
    const started = performance.now();
    const result = await this.options.host.infer(
      servable.version.sha256,
      decoded,
      checkOutputs(servable.version, outputs),
    );
    const latencyMs = performance.now() - started;
    return { version: servable.version, outputs: result, latencyMs };
  }

  /** The version that would answer a request without a routing key (metadata routes use it). */
  async resolve(environment: string, model: string, version?: number | string): Promise<ModelVersion> {
    const route = await this.route(environment, model);
    return (await this.choose(route, { version, bucket: 0 })).version;
  }

  /** The revision in force, as this process routes by it. */
  async revision(environment: string, model: string): Promise<Revision> {
    return (await this.route(environment, model)).revision;
  }

  /** The models deployed in an environment this server serves, by name (ENVIRONMENT_NOT_FOUND otherwise). */
  async deployedModels(environment: string): Promise<string[]> {
    this.assertServes(environment);
    return (await this.options.revisions.currentRevisions(environment)).map((r) => r.model);
  }

  /**
   * A served model as the Open Inference Protocol describes it (HTTP `GET /v2/models/{m}` and gRPC
   * `ModelMetadata` alike): the chosen version's inputs and outputs, and the versions of the revision in
   * force.
   */
  async metadata(environment: string, model: string, version?: number | string): Promise<ModelMetadata> {
    const served = await this.resolve(environment, model, version);
    const revision = await this.revision(environment, model);
    const describe = ({ name, datatype, shape }: TensorSpec) => ({ name, datatype, shape: [...shape] });
    return {
      name: model,
      versions: revision.traffic.map((share) => String(share.version)),
      platform: 'onnxruntime_onnx',
      inputs: served.signature.inputs.map(describe),
      outputs: served.signature.outputs.map(describe),
    };
  }

  /** Loads a version so it can take traffic at once, without serving it yet (gates call it first). */
  async preload(model: string, version: number): Promise<void> {
    await this.loaded(await this.servableOf(model, version));
  }

  /** Re-reads a deployment's revision and switches to it once loaded. Concurrent calls queue. */
  refresh(environment: string, model: string): Promise<void> {
    const key = keyOf(environment, model);
    const previous = this.refreshing.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.switchRoute(environment, model));
    this.refreshing.set(key, next);
    return next.finally(() => {
      if (this.refreshing.get(key) === next) this.refreshing.delete(key);
    });
  }

  /** Loads every deployment of the served environments, then follows changes. */
  async start(): Promise<void> {
    this.cursor = await this.options.revisions.revisionCursor();
    for (const environment of this.options.environments) {
      for (const revision of await this.options.revisions.currentRevisions(environment.name)) {
        await this.refresh(environment.name, revision.model).catch((error: unknown) => {
          this.options.logger.error(
            { model: revision.model, environment: environment.name, err: error },
            'could not load the revision in force',
          );
        });
      }
    }
    if (this.options.followIntervalMs > 0) {
      // News of a revision (PostgreSQL NOTIFY) makes a look at once; polling catches anything else.
      this.unwatch =
        (await this.options.revisions
          .watchRevisions(() => void this.lookForChanges())
          ?.catch((error: unknown) => {
            this.options.logger.warn({ err: error }, 'could not listen for revision changes; polling only');
            return null;
          })) ?? null;
      this.options.news?.(() => void this.lookForChanges());
      this.follow();
    }
  }

  stop(): void {
    clearTimeout(this.follower);
    this.follower = undefined;
    void this.unwatch?.();
    this.unwatch = null;
  }

  /** Every deployment this process routes, its versions, their shares and load states. */
  status(): ServedModelStatus[] {
    const statuses: ServedModelStatus[] = [];
    for (const [key, route] of this.routes) {
      if (!route) continue;
      const [environment, model] = splitKey(key);
      const versions = route.revision.traffic.map((share) => ({
        version: share.version,
        percent: share.percent,
        state:
          this.options.host.state(route.servables.get(share.version)?.version.sha256 ?? '') ??
          ('NONE' as const),
      }));
      const worst = versions.find((v) => v.state !== 'READY')?.state ?? 'READY';
      statuses.push({ model, environment, revision: route.revision.number, versions, state: worst });
    }
    for (const failure of this.failed.values()) {
      statuses.push({ ...failure, versions: [], state: 'FAILED' });
    }
    return statuses;
  }

  private follow(): void {
    this.follower = setTimeout(async () => {
      await this.lookForChanges();
      if (this.follower) this.follow();
    }, this.options.followIntervalMs);
    this.follower.unref();
  }

  /**
   * Reads the revisions committed since the last look and switches the routes they change. One look
   * at a time: a call during a look makes one more look after it, so no news is missed.
   */
  private lookForChanges(): Promise<void> {
    if (this.looking) {
      this.lookAgain = true;
      return this.looking;
    }
    this.looking = (async () => {
      do {
        this.lookAgain = false;
        try {
          const { cursor, deployments } = await this.options.revisions.changedSince(this.cursor);
          this.cursor = cursor;
          for (const { model, environment } of deployments) {
            if (!this.serves(environment)) continue;
            await this.refresh(environment, model).catch((error: unknown) => {
              this.options.logger.error({ model, environment, err: error }, 'could not follow a revision');
            });
          }
        } catch (error) {
          this.options.logger.warn({ err: error }, 'could not read revision changes; retrying');
        }
      } while (this.lookAgain && this.follower);
    })().finally(() => {
      this.looking = null;
    });
    return this.looking;
  }

  private serves(environment: string): boolean {
    return this.options.environments.some((e) => e.name === environment);
  }

  /** Refuses an environment this server does not serve (unknown, or another server's). */
  assertServes(environment: string): void {
    if (!this.serves(environment)) {
      const served = this.options.environments.map((e) => e.name).join(', ');
      throw new SlipwayError(
        'ENVIRONMENT_NOT_FOUND',
        `This server does not serve an environment "${environment}"; it serves ${served}.`,
        { environment },
      );
    }
  }

  private async route(environment: string, model: string): Promise<Route> {
    this.assertServes(environment);
    const key = keyOf(environment, model);
    if (!this.routes.has(key)) await this.refresh(environment, model);
    const route = this.routes.get(key);
    if (!route) {
      await this.options.registry.getModel(model);
      throw new SlipwayError(
        'NOT_DEPLOYED',
        `Model "${model}" is not deployed in ${environment}; deploy or promote a version there first.`,
        { model, environment },
      );
    }
    return route;
  }

  /** The servable a request reaches: a named version or tag, or the split's pick for its bucket. */
  private async choose(
    route: Route,
    request: { version?: number | string | undefined; routeKey?: string | undefined; bucket?: number },
  ): Promise<Servable> {
    const { revision } = route;
    const name = deploymentName(revision.model, revision.environment);
    if (request.version === undefined) {
      const bucket = request.bucket ?? bucketOf(request.routeKey, name);
      return this.loaded(route.servables.get(pickVersion(revision.traffic, bucket)) as Servable);
    }
    if (typeof request.version === 'string') {
      const tagged = revision.tags[request.version];
      if (tagged === undefined) {
        const known = Object.keys(revision.tags);
        throw new SlipwayError(
          'VERSION_NOT_FOUND',
          `${name} revision ${revision.number} has no tag "${request.version}"; ${known.length ? `its tags are ${known.join(', ')}` : 'it has no tags'}.`,
          { model: revision.model, tag: request.version },
        );
      }
      return this.loaded(route.servables.get(tagged) as Servable);
    }
    const deployed = route.servables.get(request.version);
    if (deployed) return this.loaded(deployed);
    if (this.policyOf(revision.environment).versionRoutes === 'deployed') {
      throw new SlipwayError(
        'VERSION_NOT_FOUND',
        `Version ${request.version} of "${revision.model}" is not deployed in ${revision.environment}; revision ${revision.number} serves ${versionsOf(revision).join(', ')}.`,
        { model: revision.model, version: request.version, environment: revision.environment },
      );
    }
    return this.loaded(await this.servableOf(revision.model, request.version));
  }

  private policyOf(environment: string): EnvironmentPolicy {
    return this.options.environments.find((e) => e.name === environment) as EnvironmentPolicy;
  }

  /** Sends a share of requests to the revision's shadow, compares its answer, and never returns it. */
  private mirror(route: Route, request: InferenceRequest, served: NamedTensors): void {
    const shadow = route.revision.shadow;
    if (!shadow || request.version !== undefined || Math.random() * 100 >= shadow.percent) return;
    const { environment, model, number: revision } = route.revision;
    const servable = route.servables.get(shadow.version) as Servable;
    void (async () => {
      let outcome: ShadowOutcome;
      try {
        const inputs = decode(servable.decoder, request.inputs);
        const names = Object.keys(served).filter((n) =>
          servable.version.signature.outputs.some((o) => o.name === n),
        );
        const answer = await this.options.host.infer(servable.version.sha256, inputs, names);
        const diff = compareOutputs(served, answer, names);
        outcome = { failed: false, agreed: diff.equal, maxAbsDiff: diff.maxAbsDiff };
      } catch {
        outcome = { failed: true };
      }
      this.options.stats.recordShadow(environment, model, revision, shadow.version, outcome);
    })();
  }

  /** Makes sure a servable's model is loaded (it may have been evicted or failed), evicting others. */
  private async loaded(servable: Servable): Promise<Servable> {
    if (this.options.host.state(servable.version.sha256) !== 'READY') {
      await this.options.host.load(servable.version);
      await this.options.host.evict();
    }
    return servable;
  }

  /**
   * The servable of a version that passed `toServable` (VERSION_NOT_SERVABLE otherwise), built once:
   * versions are immutable.
   */
  private async servableOf(model: string, number: number): Promise<Servable> {
    const key = `${model}@${number}`;
    const cached = this.versions.get(key);
    if (cached) return cached;
    const version = toServable(await this.options.registry.getVersion(model, number));
    const servable = {
      version,
      decoder: new InputDecoder(version.signature, version.inputPolicies),
      prediction: predictionOf(version),
    };
    this.versions.set(key, servable);
    return servable;
  }

  private async switchRoute(environment: string, model: string): Promise<void> {
    const key = keyOf(environment, model);
    const revision = await this.options.revisions.currentRevision(model, environment);
    const current = this.routes.get(key);
    if (!revision) {
      this.routes.set(key, null);
      return;
    }
    if (current?.revision.number === revision.number) return;
    // Load every version the revision names before switching; if one fails, the old route stays.
    const servables = new Map<number, Servable>();
    try {
      for (const number of versionsOf(revision)) {
        servables.set(number, await this.loaded(await this.servableOf(model, number)));
      }
    } catch (error) {
      if (!current) this.failed.set(key, { model, environment, revision: revision.number });
      throw error;
    }
    this.failed.delete(key);
    this.routes.set(key, { revision, servables });
    this.options.logger.info(
      {
        model,
        environment,
        revision: revision.number,
        traffic: revision.traffic,
        previous: current?.revision.number ?? null,
      },
      'route switched to a new revision',
    );
    this.options.host.pin(
      [...this.routes.values()].flatMap((route) =>
        route ? [...route.servables.values()].map((s) => s.version.sha256) : [],
      ),
    );
    await this.options.host.evict();
  }
}

const keyOf = (environment: string, model: string) => `${environment}/${model}`;
const splitKey = (key: string): [string, string] => {
  const at = key.indexOf('/');
  return [key.slice(0, at), key.slice(at + 1)];
};

/** Each row's prediction: the value at the prediction output's position in that row. */
function predictionsOf(outputs: NamedTensors, prediction: FeatureSpec): (number | string)[] {
  const tensor = outputs[prediction.source];
  if (!tensor) return [];
  const rows = tensor.shape[0] ?? 1;
  if (rows <= 0) return [];
  const width = tensor.data.length / rows;
  const at = prediction.index ?? 0;
  const values: (number | string)[] = [];
  for (let r = 0; r < rows; r++) {
    const value = tensor.data[r * width + at];
    if (typeof value === 'number' || typeof value === 'string') values.push(value);
    else if (typeof value === 'bigint') values.push(Number(value));
    else if (typeof value === 'boolean') values.push(String(value));
  }
  return values;
}

function decode(decoder: InputDecoder, inputs: InferenceInputs): NamedTensors {
  return inputs.kind === 'rows' ? decoder.fromRows(inputs.rows) : decoder.fromTensors(inputs.tensors);
}

function checkOutputs(version: ModelVersion, requested: readonly string[] | undefined): readonly string[] {
  const outputs = requested ?? version.signature.outputs.map((o) => o.name);
  for (const [index, name] of outputs.entries()) {
    if (!version.signature.outputs.some((o) => o.name === name)) {
      const known = version.signature.outputs.map((o) => `"${o.name}"`).join(', ');
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `outputs[${index}].name: the model has no output "${name}"; expected ${known}.`,
        { field: `outputs[${index}].name` },
      );
    }
  }
  return outputs;
}

/** Whether two answers agree output by output; numbers within a relative 1e-6. */
function compareOutputs(
  a: NamedTensors,
  b: NamedTensors,
  names: readonly string[],
): { equal: boolean; maxAbsDiff: number } {
  let equal = true;
  let maxAbsDiff = 0;
  for (const name of names) {
    const left = a[name]?.data;
    const right = b[name]?.data;
    if (!left || !right || left.length !== right.length) {
      equal = false;
      continue;
    }
    for (let i = 0; i < left.length; i++) {
      const x = left[i];
      const y = right[i];
      if (typeof x === 'number' && typeof y === 'number') {
        const diff = Math.abs(x - y);
        maxAbsDiff = Math.max(maxAbsDiff, diff);
        if (diff > 1e-6 * Math.max(1, Math.abs(x))) equal = false;
      } else if (typeof x === 'bigint' && typeof y === 'bigint') {
        if (x !== y) equal = false;
      } else if (x !== y) {
        equal = false;
      }
    }
  }
  return { equal, maxAbsDiff };
}
