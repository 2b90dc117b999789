import { fileURLToPath } from 'node:url';
import { SlipwayError } from '../errors/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { LocalArtifactStore } from './local/local-artifact-store.js';

export const ARTIFACT_SCHEMES = ['file:'] as const;

/** Opens the artifact store a URI names: `file:/srv/slipway/artifacts` or `file:///srv/...`. */
export function artifactStoreForUri(uri: string): ArtifactStore {
  if (uri.startsWith('file://')) return new LocalArtifactStore(fileURLToPath(uri));
  if (uri.startsWith('file:')) return new LocalArtifactStore(uri.slice('file:'.length));
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_ARTIFACT_URI "${uri}" has an unsupported scheme; expected one of ${ARTIFACT_SCHEMES.join(', ')}.`,
    { variable: 'SLIPWAY_ARTIFACT_URI' },
  );
}
