import type { Signature } from './signature.js';

/** A named model: a family of immutable versions. */
export interface Model {
  readonly name: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Highest version number ever registered, 0 when none. */
  readonly latestVersion: number;
  readonly aliases: Readonly<Record<string, number>>;
}

/**
 * PENDING while its artifact is being written, READY once the artifact is durable and verified,
 * FAILED if registration did not complete (for example the process died mid-upload).
 */
export type VersionStatus = 'PENDING' | 'READY' | 'FAILED';

/** Where a version came from. Every field is optional except who uploaded it and when. */
export interface Lineage {
  readonly uploader: string;
  readonly runId: string | null;
  readonly gitCommit: string | null;
  readonly dataset: string | null;
}

/** How a JSON null is treated for one input; declared by the model's manifest. */
export interface InputPolicy {
  readonly name: string;
  /** When true, null becomes NaN (floats) or "" (strings); when false it is refused. */
  readonly nullable: boolean;
  readonly description?: string;
}

/** An immutable, numbered version of a model. */
export interface ModelVersion {
  readonly model: string;
  readonly version: number;
  readonly status: VersionStatus;
  readonly description: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** Key of the ONNX file in the artifact store. */
  readonly artifactKey: string;
  readonly signature: Signature;
  readonly metrics: Readonly<Record<string, number>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly inputPolicies: readonly InputPolicy[];
  /** Rows keyed by input name, used to warm the model before it serves and as an example in the docs. */
  readonly sample: readonly Record<string, unknown>[];
  readonly task: string | null;
  readonly lineage: Lineage;
  readonly createdAt: string;
  readonly aliases: readonly string[];
  /**
   * Why a READY version can never serve, or null when it can: a version registered through MLflow
   * in a flavor other than ONNX (a pickle) is stored as bytes, never loaded, and says why here.
   */
  readonly unservableReason?: string | null;
}
