import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ArtifactStore, StagedArtifact } from '../artifacts/artifact-store.js';
import type { Manifest } from '../domain/manifest.js';
import type { InputPolicy, Model, ModelVersion } from '../domain/model.js';
import { assertAliasName, assertModelName, assertTags } from '../domain/names.js';
import type { Page } from '../domain/page.js';
import type { NewAuditEvent } from '../domain/promotion.js';
import type { RequestContext } from '../domain/roles.js';
import type { Signature } from '../domain/signature.js';
import { echo, SlipwayError } from '../errors/index.js';
import type { UploadWarmup, ValidatedUpload } from '../serving/model-host.js';
import type { ModelQuery, NewModel, RegistryStore, VersionQuery } from './registry-store.js';

/**
 * What the registry needs from the serving side to accept a version: validate, then load and warm.
 * `prepare` takes only what `validate` returned, so no upload is loaded before it was validated.
 */
export interface VersionGate {
  /** Validates upload bytes; throws INVALID_MODEL or UNSUPPORTED_MODEL if they are refused. */
  validate(bytes: Uint8Array): Promise<ValidatedUpload>;
  /** Loads and warms validated bytes with their sample; throws INVALID_MODEL if they cannot. */
  prepare(upload: ValidatedUpload, warmup: UploadWarmup): Promise<void>;
}

/** What the registry tells the rest of Slipway about its changes. */
export interface RegistryHooks {
  /** A version became READY (environments that auto-deploy take it). */
  versionReady(version: ModelVersion, context: RequestContext): Promise<void>;
  /** Appends an event to the audit trail. */
  audit(event: NewAuditEvent): Promise<void>;
}

export interface PushOptions {
  readonly manifest?: Manifest;
  /** Description given with the upload; overrides the manifest's. */
  readonly description?: string;
  /** sha256 the client computed; the upload fails with CHECKSUM_MISMATCH if the bytes differ. */
  readonly expectedSha256?: string;
}

/** A version kept as bytes that Slipway will not load: what it is and why it cannot serve. */
export interface StoreOptions {
  /** File name of the artifact, e.g. `model.pkl`; the key is `models/<model>/<version>/<fileName>`. */
  readonly fileName: string;
  readonly unservableReason: string;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly runId?: string | null;
}

export interface RegistryServiceOptions {
  readonly store: RegistryStore;
  readonly artifacts: ArtifactStore;
  readonly gate: VersionGate;
  readonly maxUploadBytes: number;
  readonly hooks: RegistryHooks;
  readonly logger: Logger;
}

/** Artifact key of a version's ONNX file. */
export const artifactKeyFor = (model: string, version: number): string =>
  `models/${model}/${version}/model.onnx`;

/**
 * The registry's reads that other modules use (serving, deployments, jobs): a view of the service,
 * so no module reaches the registry's store.
 */
export type RegistryReads = Pick<RegistryService, 'getModel' | 'getVersion' | 'resolveAlias'>;

/**
 * Registry use cases: creating models, pushing versions, moving aliases. A push is accepted only if
 * the bytes pass validation AND load and predict their sample; only then is a version number taken,
 * the artifact committed durably, and the version marked READY. A failed push leaves no trace.
 */
export class RegistryService {
  constructor(private readonly options: RegistryServiceOptions) {}

  /** Models, by name, filtered and paged. */
  listModels(query?: ModelQuery): Promise<Page<Model>> {
    return this.options.store.listModels(query);
  }

  /** A model; NOT_FOUND when it does not exist. */
  getModel(name: string): Promise<Model> {
    return this.options.store.getModel(name);
  }

  /** Versions, newest first, of one model or across models, filtered and paged. */
  listVersions(query?: VersionQuery): Promise<Page<ModelVersion>> {
    return this.options.store.listVersions(query);
  }

  /** A version; NOT_FOUND when the model or the version does not exist. */
  getVersion(model: string, version: number): Promise<ModelVersion> {
    return this.options.store.getVersion(model, version);
  }

  /** The number of the version an alias points at; NOT_FOUND when there is no such alias. */
  resolveAlias(model: string, alias: string): Promise<number> {
    return this.options.store.resolveAlias(model, alias);
  }

  /** The version an alias points at. */
  async getAliasedVersion(model: string, alias: string): Promise<ModelVersion> {
    return this.options.store.getVersion(model, await this.options.store.resolveAlias(model, alias));
  }

  async createModel(model: NewModel, context: RequestContext): Promise<Model> {
    assertModelName(model.name);
    if (model.tags) assertTags(model.tags);
    const created = await this.options.store.createModel(model);
    await this.audit(context, 'model.create', model.name, null, {
      description: created.description,
      tags: created.tags,
    });
    return created;
  }

  /** Streams an ONNX file in, validates it, and registers it as the model's next version. */
  async pushVersion(
    model: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PushOptions,
    context: RequestContext,
  ): Promise<ModelVersion> {
    const { store, artifacts, gate, logger } = this.options;
    await store.getModel(model);
    const staged = await artifacts.stage(source, { maxBytes: this.options.maxUploadBytes });
    try {
      if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== staged.sha256) {
        throw new SlipwayError(
          'CHECKSUM_MISMATCH',
          `The uploaded file has sha256 ${staged.sha256}, not the declared ${options.expectedSha256}.`,
          { field: 'sha256' },
        );
      }
      const upload = await gate.validate(await artifacts.readStaged(staged));
      const { inspection } = upload;
      const manifest = options.manifest ?? {};
      const signature = withManifestLabels(inspection.signature, manifest);
      const inputPolicies = policiesFrom(signature, manifest);
      const sample = manifest.sample ?? [];
      const tags = assertTags({ ...(manifest.tags ?? {}) }, 'manifest.tags');
      await gate.prepare(upload, { signature, inputPolicies, sample, model });

      const version = await store.createVersion(
        model,
        {
          description: options.description ?? manifest.description ?? '',
          sha256: upload.sha256,
          sizeBytes: staged.sizeBytes,
          signature,
          metrics: manifest.metrics ?? {},
          tags,
          inputPolicies,
          sample,
          task: manifest.task ?? null,
          lineage: {
            uploader: context.actor.name,
            runId: manifest.lineage?.run_id ?? null,
            gitCommit: manifest.lineage?.git_commit ?? null,
            dataset: manifest.lineage?.dataset ?? null,
          },
        },
        (number) => artifactKeyFor(model, number),
      );
      const ready = await this.publish(version, staged);
      logger.info(
        { model, version: ready.version, sha256: ready.sha256, size: ready.sizeBytes },
        'version registered',
      );
      await this.audit(context, 'version.push', `${model}/${ready.version}`, null, {
        sha256: ready.sha256,
        size_bytes: ready.sizeBytes,
      });
      await this.options.hooks.versionReady(ready, context);
      return ready;
    } finally {
      await artifacts.discard(staged);
    }
  }

  /**
   * Registers bytes as a version that is never loaded or deserialized (a pickled MLflow flavor): it
   * is READY as a record, carries `unservableReason`, and no environment may deploy it.
   */
  async storeUnservableVersion(
    model: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: StoreOptions,
    context: RequestContext,
  ): Promise<ModelVersion> {
    const { store, artifacts } = this.options;
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(options.fileName) || /^\.+$/.test(options.fileName)) {
      throw new SlipwayError('INVALID_ARGUMENT', `File name ${echo(options.fileName)} is not allowed.`, {
        field: 'fileName',
      });
    }
    await store.getModel(model);
    const tags = assertTags({ ...(options.tags ?? {}) });
    const staged = await artifacts.stage(source, { maxBytes: this.options.maxUploadBytes });
    try {
      const version = await store.createVersion(
        model,
        {
          description: options.description ?? '',
          sha256: staged.sha256,
          sizeBytes: staged.sizeBytes,
          signature: { inputs: [], outputs: [] },
          metrics: {},
          tags,
          inputPolicies: [],
          sample: [],
          task: null,
          lineage: {
            uploader: context.actor.name,
            runId: options.runId ?? null,
            gitCommit: null,
            dataset: null,
          },
          unservableReason: options.unservableReason,
        },
        (number) => `models/${model}/${number}/${options.fileName}`,
      );
      const ready = await this.publish(version, staged);
      await this.audit(context, 'version.store', `${model}/${ready.version}`, null, {
        sha256: ready.sha256,
        size_bytes: ready.sizeBytes,
        unservable_reason: options.unservableReason,
      });
      return ready;
    } finally {
      await artifacts.discard(staged);
    }
  }

  /** Commits a PENDING version's staged artifact and marks it READY, or FAILED if the artifact cannot be stored. */
  private async publish(version: ModelVersion, staged: StagedArtifact): Promise<ModelVersion> {
    const { store, artifacts } = this.options;
    try {
      await artifacts.commit(staged, version.artifactKey);
    } catch (error) {
      await store.markVersionFailed(
        version.model,
        version.version,
        `artifact could not be stored: ${(error as Error).message}`,
      );
      throw error;
    }
    return store.markVersionReady(version.model, version.version);
  }

  /** A version's artifact bytes, verified against the sha256 recorded at registration. */
  readArtifact(version: ModelVersion): Promise<Uint8Array> {
    return this.options.artifacts.read(version.artifactKey, version.sha256);
  }

  /** Sets, or with `value` null removes, a tag of a model or (with a version number) of a version. */
  async setTag(
    model: string,
    version: number | null,
    key: string,
    value: string | null,
    context: RequestContext,
  ): Promise<void> {
    if (value !== null) assertTags({ [key]: value });
    await this.options.store.setTag(model, version, key, value);
    const target = version === null ? model : `${model}/${version}`;
    await this.audit(context, value === null ? 'tag.delete' : 'tag.set', `${target}#${key}`, null, { value });
  }

  async setDescription(
    model: string,
    version: number | null,
    description: string,
    context: RequestContext,
  ): Promise<void> {
    if (description.length > 5000) {
      throw new SlipwayError('INVALID_ARGUMENT', 'description must be at most 5000 characters.', {
        field: 'description',
      });
    }
    await this.options.store.setDescription(model, version, description);
    const target = version === null ? model : `${model}/${version}`;
    await this.audit(context, 'description.set', target, null, { description });
  }

  async setAlias(
    model: string,
    alias: string,
    version: number,
    context: RequestContext,
  ): Promise<{ previous: number | null }> {
    assertAliasName(alias);
    const result = await this.options.store.setAlias(model, alias, version);
    await this.audit(context, 'alias.set', `${model}@${alias}`, { version: result.previous }, { version });
    return result;
  }

  async deleteAlias(model: string, alias: string, context: RequestContext): Promise<void> {
    assertAliasName(alias);
    const previous = await this.options.store.resolveAlias(model, alias);
    await this.options.store.deleteAlias(model, alias);
    await this.audit(context, 'alias.delete', `${model}@${alias}`, { version: previous }, null);
  }

  private audit(context: RequestContext, action: string, target: string, before: unknown, after: unknown) {
    return this.options.hooks.audit({
      actor: context.actor.name,
      action,
      target,
      before,
      after,
      result: 'ok',
      requestId: context.requestId,
    });
  }
}

/** Class labels: the graph's own when it declares them, else the manifest's. */
function withManifestLabels(signature: Signature, manifest: Manifest): Signature {
  if (signature.labels !== undefined || manifest.labels === undefined) return signature;
  return { ...signature, labels: manifest.labels };
}

/** Null handling per input, from the manifest; every manifest input must exist in the graph. */
function policiesFrom(signature: Signature, manifest: Manifest): InputPolicy[] {
  const declared = manifest.inputs ?? [];
  declared.forEach((input, index) => {
    if (!signature.inputs.some((spec) => spec.name === input.name)) {
      const known = signature.inputs.map((s) => `"${s.name}"`).join(', ');
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `manifest.inputs[${index}].name: the model has no input "${input.name}"; expected one of ${known}.`,
        { field: `manifest.inputs[${index}].name` },
      );
    }
  });
  return signature.inputs.map((spec) => {
    const entry = declared.find((input) => input.name === spec.name);
    return {
      name: spec.name,
      nullable: entry?.nullable ?? false,
      ...(entry?.description ? { description: entry.description } : {}),
    };
  });
}
