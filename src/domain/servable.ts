import { SlipwayError } from '../errors/index.js';
import type { ModelVersion } from './model.js';

declare const servable: unique symbol;

/**
 * A version that may reach an inference runtime: READY, and not one stored as bytes that are never
 * loaded (an MLflow flavor other than ONNX). Only `toServable` produces it, and `ModelHost.load` takes
 * nothing else, so every path that loads registered bytes (serving, gates, deployments, batch jobs)
 * passes the same check.
 */
export type ServableVersion = ModelVersion & { readonly [servable]: true };

/**
 * The one check between a registered version and a runtime. Throws VERSION_NOT_SERVABLE (409) for a
 * version that is PENDING or FAILED (`details.status`) or kept as bytes only (`details.reason`).
 */
export function toServable(version: ModelVersion): ServableVersion {
  const refuse = (why: string, details: Record<string, unknown>): never => {
    throw new SlipwayError(
      'VERSION_NOT_SERVABLE',
      `Version ${version.version} of "${version.model}" cannot serve: ${why}.`,
      { model: version.model, version: version.version, ...details },
    );
  };
  if (version.unservableReason) refuse(version.unservableReason, { reason: 'NOT_SERVABLE' });
  if (version.status !== 'READY') {
    refuse(`it is ${version.status}; only a READY version serves`, { status: version.status });
  }
  return version as ServableVersion;
}
