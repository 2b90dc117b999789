import { fileURLToPath } from 'node:url';
import { SlipwayError } from '../errors/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { LocalArtifactStore } from './local/local-artifact-store.js';
import { S3ArtifactStore, type S3Settings, s3ClientFor } from './s3/s3-artifact-store.js';
import { checkKey } from './safe-key.js';

export const ARTIFACT_SCHEMES = ['file:', 's3:'] as const;

export interface ArtifactStoreSettings {
  /** Endpoint, region and credentials of `s3://` stores (from AWS_* variables, via config). */
  readonly s3?: S3Settings;
}

/**
 * Opens the artifact store a URI names: `file:/srv/slipway/artifacts` or `file:///srv/...`, or
 * `s3://bucket/optional/prefix` (S3 or an S3-compatible server at `settings.s3.endpoint`; whatever
 * `settings.s3` leaves unset, the AWS SDK's default provider chain supplies).
 */
export function artifactStoreForUri(uri: string, settings: ArtifactStoreSettings = {}): ArtifactStore {
  if (uri.startsWith('file://')) return new LocalArtifactStore(fileURLToPath(uri));
  if (uri.startsWith('file:')) return new LocalArtifactStore(uri.slice('file:'.length));
  if (uri.startsWith('s3:')) {
    const { bucket, prefix } = parseS3Uri(uri);
    return new S3ArtifactStore({ bucket, prefix, client: s3ClientFor(settings.s3 ?? {}) });
  }
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_ARTIFACT_URI "${uri}" has an unsupported scheme; expected one of ${ARTIFACT_SCHEMES.join(', ')}.`,
    { variable: 'SLIPWAY_ARTIFACT_URI' },
  );
}

/** Splits `s3://bucket/prefix/` into a valid bucket name and a safe key prefix (`""` for none). */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const refuse = (why: string): never => {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `SLIPWAY_ARTIFACT_URI "${uri}" is not a valid S3 location: ${why}; expected s3://bucket or s3://bucket/prefix.`,
      { variable: 'SLIPWAY_ARTIFACT_URI' },
    );
  };
  const match = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/.exec(uri);
  if (!match) return refuse('it has no bucket, or has a query or fragment');
  const bucket = match[1] as string;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    refuse('the bucket name must be 3 to 63 lowercase letters, digits, dots or hyphens');
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '') {
    try {
      checkKey(prefix);
    } catch {
      refuse('the prefix has an empty, ".", ".." or otherwise unsafe segment');
    }
    if (prefix === '.staging' || prefix.split('/').includes('.staging'))
      refuse('the prefix names a staging area');
  }
  return { bucket, prefix };
}
