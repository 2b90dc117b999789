import type { Logger } from 'pino';
import type { ModelVersion } from '../domain/model.js';
import { SlipwayError } from '../errors/index.js';
import type { RegistryStore } from '../registry/registry-store.js';
import type { NamedTensors } from '../runtime/tensor.js';
import { InputDecoder, type TensorInput } from './input-decoder.js';
import type { LoadState, ModelHost } from './model-host.js';
import type { VersionResolver } from './version-resolver.js';

/** Request data in either of the two shapes protocols use. */
export type InferenceInputs =
  | { readonly kind: 'tensors'; readonly tensors: readonly TensorInput[] }
  | { readonly kind: 'rows'; readonly rows: readonly unknown[] };

export interface InferenceRequest {
  readonly model: string;
  /** A specific version; absent means "whichever version serves this model". */
  readonly version?: number;
  readonly inputs: InferenceInputs;
  /** Outputs to compute; absent means all of them. */
  readonly outputs?: readonly string[];
  /**
   * Called with the version as soon as it is chosen, before inputs are checked, so a response the
   * version's signature refuses still names the version that refused it.
   */
  readonly onVersion?: (version: ModelVersion) => void;
}

export interface InferenceResult {
  readonly version: ModelVersion;
  readonly outputs: NamedTensors;
}

/** A version ready to take requests, with its input decoder built once. */
interface Servable {
  readonly version: ModelVersion;
  readonly decoder: InputDecoder;
}

export interface ServedModelStatus {
  readonly model: string;
  readonly version: number | null;
  readonly state: LoadState | 'NONE';
}

export interface DataPlaneOptions {
  readonly registry: RegistryStore;
  readonly host: ModelHost;
  readonly resolver: VersionResolver;
  readonly logger: Logger;
}

/**
 * The single path every prediction takes, whatever protocol it arrived on: pick the version, decode
 * and check the inputs against its signature, run it, return the outputs and the version that
 * answered. Protocol handlers only translate wire formats to and from these calls.
 *
 * Which version serves a model is decided by the `VersionResolver` and cached here; `refresh` is
 * called when anything that could change the answer happens (a push, an alias move). It loads and
 * warms the new version before switching to it, so requests never meet a cold or missing model.
 */
export class DataPlane {
  private readonly served = new Map<string, Servable | null>();
  private readonly versions = new Map<string, Servable>();
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Models whose chosen version failed to load while nothing else was serving them. */
  private readonly failed = new Map<string, number>();

  constructor(private readonly options: DataPlaneOptions) {}

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    const { version, decoder } = await this.servable(request.model, request.version);
    request.onVersion?.(version);
    const inputs =
      request.inputs.kind === 'rows'
        ? decoder.fromRows(request.inputs.rows)
        : decoder.fromTensors(request.inputs.tensors);
    const outputs = request.outputs ?? version.signature.outputs.map((o) => o.name);
    for (const [index, name] of outputs.entries()) {
      if (!version.signature.outputs.some((o) => o.name === name)) {
        const known = version.signature.outputs.map((o) => `"${o.name}"`).join(', ');
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `outputs[${index}].name: the model has no output "${name}"; expected ${known}.`,
          {
            field: `outputs[${index}].name`,
          },
        );
      }
    }
    return { version, outputs: await this.options.host.infer(version.sha256, inputs, outputs) };
  }

  /** The version that would answer a request (metadata routes use it too). */
  async resolve(model: string, version?: number): Promise<ModelVersion> {
    return (await this.servable(model, version)).version;
  }

  /** Re-decides which version serves `model`, loading it before switching. Concurrent calls queue. */
  refresh(model: string): Promise<void> {
    const previous = this.refreshing.get(model) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.switchServed(model));
    this.refreshing.set(model, next);
    return next.finally(() => {
      if (this.refreshing.get(model) === next) this.refreshing.delete(model);
    });
  }

  /** Loads what every model should serve; failures are logged and leave that model unserved. */
  async start(): Promise<void> {
    let pageToken: string | undefined;
    do {
      const page = await this.options.registry.listModels({
        limit: 1000,
        ...(pageToken ? { pageToken } : {}),
      });
      for (const model of page.items) {
        await this.refresh(model.name).catch((error: unknown) => {
          this.options.logger.error({ model: model.name, err: error }, 'could not load the served version');
        });
      }
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
  }

  /** Which version serves each model and whether it is loaded, including models that failed to load. */
  status(): ServedModelStatus[] {
    const serving: ServedModelStatus[] = [...this.served].map(([model, servable]) => ({
      model,
      version: servable?.version.version ?? null,
      state: servable ? (this.options.host.state(servable.version.sha256) ?? 'NONE') : 'NONE',
    }));
    const failing = [...this.failed].map(([model, version]) => ({
      model,
      version,
      state: 'FAILED' as const,
    }));
    return [...serving, ...failing];
  }

  /**
   * Loads and warms a version so that it can take traffic at once, without serving it yet. Called
   * before a change (such as moving the `champion` alias) is committed, so a version that cannot load
   * is refused up front instead of leaving a change in the registry that serving cannot follow.
   */
  async preload(model: string, version: number): Promise<void> {
    await this.pinnedVersion(model, version);
  }

  private async servable(model: string, version: number | undefined): Promise<Servable> {
    if (version !== undefined) return this.pinnedVersion(model, version);
    if (!this.served.has(model)) await this.refresh(model);
    const servable = this.served.get(model);
    if (!servable) {
      await this.options.registry.getModel(model);
      throw new SlipwayError(
        'VERSION_NOT_FOUND',
        `Model "${model}" has no READY version to serve; push one first.`,
        { model },
      );
    }
    return this.loaded(servable);
  }

  /** A request for an explicit version loads it on demand (and the host evicts it when idle). */
  private async pinnedVersion(model: string, number: number): Promise<Servable> {
    const cached = this.versions.get(`${model}@${number}`);
    if (cached) return this.loaded(cached);
    const version = await this.options.registry.getVersion(model, number);
    if (version.status !== 'READY') {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Version ${number} of "${model}" is ${version.status} and cannot serve.`,
        { model, version: number, status: version.status },
      );
    }
    return this.loaded(this.servableOf(version));
  }

  /** Makes sure a servable's model is loaded (it may have been evicted or failed), evicting others. */
  private async loaded(servable: Servable): Promise<Servable> {
    if (this.options.host.state(servable.version.sha256) !== 'READY') {
      await this.options.host.load(servable.version);
      await this.options.host.evict();
    }
    return servable;
  }

  /** The servable of a READY version, built once: versions are immutable. */
  private servableOf(version: ModelVersion): Servable {
    const key = `${version.model}@${version.version}`;
    let servable = this.versions.get(key);
    if (!servable) {
      servable = { version, decoder: new InputDecoder(version.signature, version.inputPolicies) };
      this.versions.set(key, servable);
    }
    return servable;
  }

  private async switchServed(model: string): Promise<void> {
    const number = await this.options.resolver.resolve(model);
    if (number === null) {
      this.served.set(model, null);
      return;
    }
    const current = this.served.get(model);
    if (current?.version.version === number) return;
    const version = await this.options.registry.getVersion(model, number);
    // Load the new version before switching; if it fails, the old one keeps serving.
    try {
      await this.options.host.load(version);
    } catch (error) {
      if (!current) this.failed.set(model, number);
      throw error;
    }
    this.failed.delete(model);
    this.served.set(model, this.servableOf(version));
    this.options.logger.info(
      { model, version: number, previous: current?.version.version ?? null },
      'serving version switched',
    );
    this.options.host.pin([...this.served.values()].flatMap((s) => (s ? [s.version.sha256] : [])));
    await this.options.host.evict();
  }
}
