import type { Model, ModelVersion } from '../domain/model.js';
import type { Page, PageRequest } from '../domain/page.js';

export interface ModelQuery extends PageRequest {
  /** Substring of the model name. */
  readonly search?: string;
  /** `key=value` a tag must match, or `key` a tag must exist. */
  readonly tag?: string;
}

export interface VersionQuery extends PageRequest {
  /** Restrict to one model; absent searches every model. */
  readonly model?: string;
  readonly status?: ModelVersion['status'];
  readonly tag?: string;
  readonly uploader?: string;
  readonly runId?: string;
}

export interface NewModel {
  readonly name: string;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

/** Everything about a version that is known before it is numbered and stored. */
export type NewVersion = Omit<
  ModelVersion,
  'model' | 'version' | 'status' | 'artifactKey' | 'createdAt' | 'aliases'
>;

/**
 * Durable registry of models, versions and aliases. Versions are immutable: after registration only
 * their status moves (PENDING -> READY or FAILED). Every method that writes does so atomically.
 *
 * Errors: MODEL_NOT_FOUND, VERSION_NOT_FOUND, ALIAS_NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION.
 */
export interface RegistryStore {
  createModel(model: NewModel): Promise<Model>;
  getModel(name: string): Promise<Model>;
  listModels(query?: ModelQuery): Promise<Page<Model>>;

  /**
   * Numbers a new version (the model's highest number ever plus one) and records it as PENDING,
   * with `artifactKey(version)` as the key its artifact will be stored under.
   */
  createVersion(
    model: string,
    version: NewVersion,
    artifactKey: (version: number) => string,
  ): Promise<ModelVersion>;
  /** PENDING -> READY, once the artifact is durable. */
  markVersionReady(model: string, version: number): Promise<ModelVersion>;
  /** PENDING -> FAILED, with the reason. */
  markVersionFailed(model: string, version: number, reason: string): Promise<void>;
  /**
   * Marks PENDING versions FAILED: every one (at start-up, when no upload can be in progress), or
   * with `createdBefore` (ISO 8601) only those registered before it (servers sharing the registry
   * may be committing uploads right now).
   */
  failPendingVersions(reason: string, createdBefore?: string): Promise<number>;
  getVersion(model: string, version: number): Promise<ModelVersion>;
  listVersions(query?: VersionQuery): Promise<Page<ModelVersion>>;

  /** Points an alias at a READY version; returns the version it pointed at before, if any. */
  setAlias(model: string, alias: string, version: number): Promise<{ previous: number | null }>;
  deleteAlias(model: string, alias: string): Promise<void>;
  /** The version an alias points at. */
  resolveAlias(model: string, alias: string): Promise<number>;

  /**
   * Sets (or with `value` null removes) a tag of a model, or of one of its versions when `version`
   * is a number. Tags are labels, like aliases: the one part of a version that may change after it
   * is registered. Removing a tag that is not there is NOT_FOUND.
   */
  setTag(model: string, version: number | null, key: string, value: string | null): Promise<void>;
  /** Replaces the description of a model, or of one of its versions when `version` is a number. */
  setDescription(model: string, version: number | null, description: string): Promise<void>;
}
