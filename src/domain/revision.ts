import { createHash } from 'node:crypto';
import { SlipwayError } from '../errors/index.js';

/** One version's share of a deployment's traffic, in whole percents. */
export interface TrafficShare {
  readonly version: number;
  readonly percent: number;
}

/** Mirror a share of requests to a version; its answers are compared, recorded and never returned. */
export interface Shadow {
  readonly version: number;
  readonly percent: number;
}

/** Why a revision exists. */
export type RevisionKind =
  | 'deploy'
  | 'promotion'
  | 'traffic'
  | 'rollout-step'
  | 'rollback'
  | 'automatic-rollback';

/**
 * An immutable entry in a deployment's history: which versions get which share of requests, which
 * tags reach one version directly, what is mirrored, who made it and why. The newest revision of a
 * deployment is the one in force; history is never edited, only appended to.
 */
export interface Revision {
  readonly model: string;
  readonly environment: string;
  /** 1, 2, 3… within the deployment. */
  readonly number: number;
  readonly traffic: readonly TrafficShare[];
  readonly tags: Readonly<Record<string, number>>;
  readonly shadow: Shadow | null;
  readonly kind: RevisionKind;
  readonly actor: string;
  readonly reason: string;
  readonly promotionId: string | null;
  readonly requestId: string | null;
  readonly createdAt: string;
}

/** A deployment is one model in one environment, named `{model}-{env}`. */
export const deploymentName = (model: string, environment: string): string => `${model}-${environment}`;

/** Checks a traffic split: whole percents from 0 to 100, each version once, summing to 100. */
export function assertTraffic(traffic: readonly TrafficShare[], field = 'traffic'): void {
  if (traffic.length === 0) {
    throw new SlipwayError('INVALID_ARGUMENT', `${field}: at least one version must receive traffic.`, {
      field,
    });
  }
  const seen = new Set<number>();
  for (const [index, share] of traffic.entries()) {
    if (!Number.isInteger(share.percent) || share.percent < 0 || share.percent > 100) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${field}[${index}].percent: ${share.percent} is not a whole percent from 0 to 100.`,
        { field: `${field}[${index}].percent` },
      );
    }
    if (seen.has(share.version)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${field}[${index}].version: version ${share.version} is listed twice.`,
        { field: `${field}[${index}].version` },
      );
    }
    seen.add(share.version);
  }
  const total = traffic.reduce((sum, share) => sum + share.percent, 0);
  if (total !== 100) {
    throw new SlipwayError('INVALID_ARGUMENT', `${field}: percents sum to ${total}; they must sum to 100.`, {
      field,
      total,
    });
  }
}

/** Every version a revision can send a request to: traffic (with a share), tags and shadow. */
export function versionsOf(revision: Pick<Revision, 'traffic' | 'tags' | 'shadow'>): number[] {
  const versions = new Set<number>();
  for (const share of revision.traffic) if (share.percent > 0) versions.add(share.version);
  for (const version of Object.values(revision.tags)) versions.add(version);
  if (revision.shadow) versions.add(revision.shadow.version);
  return [...versions].sort((a, b) => a - b);
}

/**
 * "The version in service": the one definition every part uses (the schema and validation gates'
 * incumbent, the version a batch job scores with when it names an environment). It is the version with
 * the largest share. On a tie (a 50/50 step) it is the stable one: a rollout step lists its canary first
 * (`withCanary`), so the canary loses a tie; in any other split the lowest version number wins.
 */
export function versionInService(revision: Pick<Revision, 'traffic' | 'kind'>): number {
  const canary = revision.kind === 'rollout-step' ? revision.traffic[0]?.version : undefined;
  const ranked = [...revision.traffic].sort(
    (a, b) =>
      b.percent - a.percent ||
      Number(a.version === canary) - Number(b.version === canary) ||
      a.version - b.version,
  );
  return (ranked[0] as TrafficShare).version;
}

/** Two splits send the same share to the same versions. */
export function sameTraffic(a: readonly TrafficShare[], b: readonly TrafficShare[]): boolean {
  const shares = (t: readonly TrafficShare[]) =>
    t
      .filter((s) => s.percent > 0)
      .map((s) => `${s.version}:${s.percent}`)
      .sort()
      .join(',');
  return shares(a) === shares(b);
}

/**
 * A bucket from 0 to 99 for a request. With a key (a user id, a session), the bucket is a hash of
 * the key and the deployment, so one key keeps one version for as long as the split does; without
 * one, it is random.
 */
export function bucketOf(key: string | undefined, deployment: string): number {
  if (key === undefined) return Math.floor(Math.random() * 100);
  return createHash('sha256').update(deployment).update('\0').update(key).digest().readUInt32BE(0) % 100;
}

/**
 * The version a bucket lands on: shares are laid end to end in the order listed, so a canary listed
 * first keeps its lowest buckets as it grows, and a sticky key that reached it stays on it.
 */
export function pickVersion(traffic: readonly TrafficShare[], bucket: number): number {
  let upper = 0;
  for (const share of traffic) {
    upper += share.percent;
    if (bucket < upper) return share.version;
  }
  return (traffic.at(-1) as TrafficShare).version;
}
