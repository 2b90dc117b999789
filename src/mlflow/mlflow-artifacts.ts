import type { Readable } from 'node:stream';
import type { ArtifactEntry, ArtifactStore } from '../artifacts/artifact-store.js';
import { resolveKey } from '../artifacts/safe-key.js';
import { SlipwayError } from '../errors/index.js';

/** Folder of the artifact store that holds MLflow's proxied artifacts (`mlflow-artifacts:/…`). */
const ROOT = 'mlflow';
/**
 * Folder (under ROOT) where Slipway lays out versions pushed through its own API in MLflow's format,
 * so MLflow clients can download them. Clients may read it but never write to it.
 */
export const EXPORTS = 'registry';

/**
 * MLflow's proxied artifacts on Slipway's `ArtifactStore`: a path such as `1/<run>/artifacts/a.txt`
 * is the key `mlflow/1/<run>/artifacts/a.txt`, so the files follow the store wherever it is
 * configured. Every path is checked by the same rules as every other key (no `..`, absolute paths,
 * backslashes, NUL, encoded separators, whatever the encoding).
 */
export class MlflowArtifacts {
  constructor(
    private readonly store: ArtifactStore,
    private readonly maxBytes: number,
  ) {}

  /** Stores a file, replacing one already there (clients retry uploads). */
  async put(path: string, body: Readable | AsyncIterable<Uint8Array>): Promise<void> {
    const key = this.writableKey(path);
    const staged = await this.store.stage(body, { maxBytes: this.maxBytes });
    try {
      await this.store.commit(staged, key, { replace: true });
    } finally {
      await this.store.discard(staged);
    }
  }

  async open(path: string): Promise<{ stream: Readable; sizeBytes: number }> {
    const key = this.keyOf(path, false);
    if (!(await this.store.exists(key)) || (await this.store.isFolder(key))) {
      throw new SlipwayError('NOT_FOUND', `Artifact '${path}' does not exist.`, { path });
    }
    return this.store.openRead(key);
  }

  /** A small file's bytes, or null if there is none; INVALID_ARGUMENT if it is larger than `maxBytes`. */
  async read(path: string, maxBytes = this.maxBytes): Promise<Uint8Array | null> {
    const key = this.keyOf(path, false);
    if (!(await this.store.exists(key)) || (await this.store.isFolder(key))) return null;
    const { stream, sizeBytes } = await this.store.openRead(key);
    if (sizeBytes > maxBytes) {
      stream.destroy();
      throw new SlipwayError('INVALID_ARGUMENT', `Artifact '${path}' is larger than ${maxBytes} bytes.`, {
        path,
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * The entries of a folder, or of `relative` below it (checked on its own, so an absolute or `..`
   * spelling is refused rather than joined); none for a file or a path that does not exist.
   */
  async list(path: string, relative = ''): Promise<ArtifactEntry[]> {
    if (relative !== '') {
      checkPath(relative);
      return this.list(path === '' ? relative : `${path}/${relative}`);
    }
    const key = path === '' ? ROOT : this.keyOf(path, false);
    if (!(await this.store.isFolder(key))) return [];
    return this.store.list(key);
  }

  async remove(path: string): Promise<void> {
    await this.store.remove(this.writableKey(path));
  }

  /** Writes bytes Slipway itself lays out (exports of pushed versions). */
  async putInternal(path: string, body: Readable | AsyncIterable<Uint8Array>): Promise<void> {
    const staged = await this.store.stage(body, { maxBytes: this.maxBytes });
    try {
      await this.store.commit(staged, this.keyOf(path, false), { replace: true });
    } finally {
      await this.store.discard(staged);
    }
  }

  private writableKey(path: string): string {
    if (path === EXPORTS || path.startsWith(`${EXPORTS}/`)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Invalid path '${path}': '${EXPORTS}/' holds Slipway's exports of registry versions and is read-only.`,
        { field: 'path' },
      );
    }
    return this.keyOf(path, true);
  }

  private keyOf(path: string, forWrite: boolean): string {
    if (path === '' && forWrite) {
      throw new SlipwayError('INVALID_ARGUMENT', 'Invalid path: an artifact path is required.', {
        field: 'path',
      });
    }
    checkPath(path);
    return `${ROOT}/${path}`;
  }
}

/**
 * Refuses an artifact path that breaks the key rules, naming the client's own spelling (the store
 * checks the full key again).
 */
function checkPath(path: string): void {
  try {
    resolveKey('/', path);
  } catch (error) {
    if (error instanceof SlipwayError) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Invalid path '${path}': ${error.message.split(': ').pop()}`,
        {
          field: 'path',
        },
      );
    }
    throw error;
  }
}

/**
 * The artifact path of an `mlflow-artifacts:` URI (`mlflow-artifacts:/1/x` -> `1/x`), or null when
 * the URI is not one this server resolves: another scheme, a host (`mlflow-artifacts://host/…`),
 * a query, fragment or params, or a path that fails the key rules.
 */
export function artifactPathOf(uri: string): string | null {
  const match = /^mlflow-artifacts:\/(?!\/)(.*)$/.exec(uri);
  if (!match) return null;
  const path = match[1]!.replace(/\/+$/, '');
  if (/[?#;]/.test(path)) return null;
  if (path === '') return '';
  try {
    resolveKey('/', path);
  } catch {
    return null;
  }
  return path;
}
