import { existsSync, readFileSync } from 'node:fs';

/** Slipway's own version, from package.json (one level above both src/ and dist/). */
export const SLIPWAY_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** What `slipway version` reports: the release, the build's git revision and time, the runtime. */
export interface BuildInfo {
  readonly version: string;
  /** The git commit the build came from (`-dirty` with uncommitted changes); null when unknown. */
  readonly revision: string | null;
  /** When `make build` ran (ISO 8601); null when running from sources. */
  readonly builtAt: string | null;
  readonly node: string;
  readonly platform: string;
}

/**
 * The build's facts. `make build` writes dist/build-info.json beside the compiled code; running from
 * sources (tsx) there is none, and the revision and time are null.
 */
export function buildInfo(): BuildInfo {
  const file = new URL('./build-info.json', import.meta.url);
  let recorded: { revision?: unknown; builtAt?: unknown } = {};
  if (existsSync(file)) {
    try {
      recorded = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      recorded = {};
    }
  }
  return {
    version: SLIPWAY_VERSION,
    revision: typeof recorded.revision === 'string' ? recorded.revision : null,
    builtAt: typeof recorded.builtAt === 'string' ? recorded.builtAt : null,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
  };
}
