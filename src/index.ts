/**
 * Slipway's public surface for embedding: the composition root, configuration, the contracts of each
 * pluggable seam with their implementations, and the error type. Everything else is internal.
 */
export { type App, type CreateAppOptions, createApp } from './app.js';
export type {
  ArtifactEntry,
  ArtifactStore,
  CommitOptions,
  StagedArtifact,
  StageOptions,
} from './artifacts/artifact-store.js';
export { artifactStoreForUri } from './artifacts/artifact-store-for-uri.js';
export { LocalArtifactStore } from './artifacts/local/local-artifact-store.js';
export { type Config, type ConfigOverrides, compileConfig, VARIABLES } from './config/index.js';
export type { Cancel, Clock } from './domain/clock.js';
export type { InputPolicy, Lineage, Model, ModelVersion, VersionStatus } from './domain/model.js';
export type { Page, PageRequest } from './domain/page.js';
export type { Datatype, Signature, TensorSpec } from './domain/signature.js';
export { ALL_ERROR_CODES, ERROR_CODES, type ErrorCode, SlipwayError } from './errors/index.js';
export { SqlTrackingStore } from './mlflow/sql/sql-tracking-store.js';
export type {
  Experiment,
  LoggedModel,
  Metric,
  Run,
  TrackingStore,
  VersionRecord,
} from './mlflow/tracking-store.js';
export type {
  ModelQuery,
  NewModel,
  NewVersion,
  RegistryStore,
  VersionQuery,
} from './registry/registry-store.js';
export { SqlRegistryStore } from './registry/sql/sql-registry-store.js';
export type { InferenceRuntime, ModelInspection } from './runtime/inference-runtime.js';
export { OnnxInferenceRuntime } from './runtime/onnx/onnx-inference-runtime.js';
export { DEFAULT_LIMITS, inspectOnnxModel, type ValidationLimits } from './runtime/onnx/onnx-validator.js';
export type { DataPlane, InferenceRequest, InferenceResult } from './serving/data-plane.js';
export { openDatabase, type SqlDatabase } from './storage/database.js';
export { type Stores, storesForUri } from './stores-for-uri.js';
