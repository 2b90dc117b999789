import { SlipwayError } from '../errors/index.js';
import type { RegistryStore } from '../registry/registry-store.js';

/** The alias whose version serves unversioned requests. */
export const SERVING_ALIAS = 'champion';

/**
 * Decides which version of a model answers requests that do not name one. The data plane asks it
 * whenever something changes; deployments replace this rule with "the revision in force".
 */
export interface VersionResolver {
  /** The version to serve, or null when the model has nothing servable. */
  resolve(model: string): Promise<number | null>;
}

/** Serves the version aliased `champion`, else the newest READY version. */
export class AliasOrLatestResolver implements VersionResolver {
  constructor(private readonly registry: RegistryStore) {}

  async resolve(model: string): Promise<number | null> {
    try {
      return await this.registry.resolveAlias(model, SERVING_ALIAS);
    } catch (error) {
      if (!(error instanceof SlipwayError && error.code === 'ALIAS_NOT_FOUND')) throw error;
    }
    const newest = await this.registry.listVersions({ model, status: 'READY', limit: 1 });
    return newest.items[0]?.version ?? null;
  }
}
