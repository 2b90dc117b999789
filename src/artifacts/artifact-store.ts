import type { Readable } from 'node:stream';

/** Bytes written to the staging area, not yet visible under any key. */
export interface StagedArtifact {
  readonly id: string;
  readonly sha256: string;
  readonly sizeBytes: number;
}

/** One entry of a folder listing: a file (with its size) or a sub-folder. */
export interface ArtifactEntry {
  /** The entry's own name, not its full key. */
  readonly name: string;
  readonly isDir: boolean;
  /** Bytes of a file; absent for folders. */
  readonly sizeBytes?: number;
}

export interface CommitOptions {
  /**
   * Replace an artifact already at the key (atomically: readers see the old bytes or the new, never
   * a mix). Only for stores of mutable files such as MLflow run artifacts; model versions never do.
   */
  readonly replace?: boolean;
}

export interface StageOptions {
  /** Uploads past this many bytes fail with PAYLOAD_TOO_LARGE and leave nothing behind. */
  readonly maxBytes: number;
}

/**
 * Durable storage for model files, addressed by slash-separated keys such as
 * `models/penguin-species/3/model.onnx`. Writes are two-phase: `stage` streams bytes aside while
 * hashing them, `commit` makes them visible under a key atomically. A key can never resolve outside
 * the store, whatever its spelling (see `safe-key.ts`).
 */
export interface ArtifactStore {
  stage(source: Readable | AsyncIterable<Uint8Array>, options: StageOptions): Promise<StagedArtifact>;
  /** Reads staged bytes (to validate them before they are committed). */
  readStaged(staged: StagedArtifact): Promise<Uint8Array>;
  /** Durably publishes staged bytes under `key`; the key must not exist yet unless `replace`. */
  commit(staged: StagedArtifact, key: string, options?: CommitOptions): Promise<void>;
  /** Forgets staged bytes; safe to call twice. */
  discard(staged: StagedArtifact): Promise<void>;
  /** Reads an artifact, verifying its sha256 when one is given (CHECKSUM_MISMATCH otherwise). */
  read(key: string, expectedSha256?: string): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /** Streams an artifact (for large downloads); FAILED_PRECONDITION if it is missing. */
  openRead(key: string): Promise<{ stream: Readable; sizeBytes: number }>;
  /** What is directly under a folder key (`""` = the root, staging excluded), sorted by name; `[]` if none. */
  list(prefix: string): Promise<ArtifactEntry[]>;
  /** Whether `key` names a folder (a prefix of other keys). */
  isFolder(key: string): Promise<boolean>;
  /** Removes a file, or a folder with everything under it; removing nothing is not an error. */
  remove(key: string): Promise<void>;
  /**
   * Removes leftovers of uploads interrupted by a crash; returns how many were removed. With
   * `olderThan` (ms since the epoch), only those last written before it: other servers sharing the
   * store may be receiving uploads right now.
   */
  cleanupStaging(olderThan?: number): Promise<number>;
}
