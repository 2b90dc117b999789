import type {
  WireDeploymentSummary,
  WireEnvironment,
  WireGate,
  WirePromotion,
  WireRevision,
  WireShare,
} from '../http/wire/deployments.js';
import { table } from './output.js';

/* How the CLI prints the control API's deployment objects (src/http/wire/deployments.ts) for people. */

export type { WireDeploymentSummary, WireEnvironment, WireGate, WirePromotion, WireRevision, WireShare };

/** `v3 90%, v4 10%`, then `; tags beta=v4` and `; shadow v5 5%` when the revision has them. */
export function trafficOf(revision: Pick<WireRevision, 'traffic' | 'tags' | 'shadow'>): string {
  const parts = [revision.traffic.map(share).join(', ')];
  const tags = Object.entries(revision.tags ?? {});
  if (tags.length > 0) parts.push(`tags ${tags.map(([tag, version]) => `${tag}=v${version}`).join(', ')}`);
  if (revision.shadow) parts.push(`shadow ${share(revision.shadow)}`);
  return parts.join('; ');
}

/** `an approver`, `a deployer`. */
export const withArticle = (role: string): string => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;

export const shareList = (shares: readonly WireShare[]): string => shares.map(share).join(', ');
const share = (s: WireShare) => `v${s.version} ${s.percent}%`;

export function gateTable(gates: readonly WireGate[]): string {
  return gates.length === 0
    ? 'No gates ran.'
    : table(
        ['GATE', 'STATUS', 'MESSAGE'],
        gates.map((g) => [g.gate, g.status, g.message]),
      );
}

/** `step 1 of 3 (10%)` for a rollout, when the environment's plan is known. */
export function stepOf(promotion: WirePromotion, policy: WireEnvironment | undefined): string {
  if (!promotion.rollout) return '';
  const steps = policy?.rollout?.steps;
  const step = promotion.rollout.step;
  return steps ? `step ${step + 1} of ${steps.length} (${steps[step]}%)` : `step ${step + 1}`;
}

/** `ROLLING_OUT v4 step 1 of 3 (10%)`: a promotion in progress, for the status table. */
export function progressOf(promotion: WirePromotion, policy: WireEnvironment | undefined): string {
  return [promotion.status, `v${promotion.version}`, stepOf(promotion, policy), promotion.id]
    .filter((part) => part !== '')
    .join(' ');
}

/** One or two sentences on where a promotion stands and what can be done next. */
export function outcomeOf(promotion: WirePromotion, policy: WireEnvironment | undefined): string {
  const { id, model, version, environment: env } = promotion;
  const why = promotion.failure ? `: ${promotion.failure.replace(/\.$/, '')}` : '';
  switch (promotion.status) {
    case 'SUCCEEDED':
      return `${model} version ${version} now serves all traffic in ${env} (promotion ${id}).`;
    case 'AWAITING_APPROVAL':
      return [
        `Promotion ${id} passed its gates and awaits approval${policy?.approval ? ` by ${withArticle(policy.approval.role)}` : ''} before ${model} version ${version} takes traffic in ${env}${promotion.canary ? ' as a canary' : ''}. To approve:`,
        `  slipway approve ${id}`,
      ].join('\n');
    case 'ROLLING_OUT':
      return [
        `${model} version ${version} is rolling out in ${env} as a canary: ${stepOf(promotion, policy)}${policy?.rollout ? `, ${policy.rollout.bake_seconds} s bake per step` : ''}.`,
        `Follow it with \`slipway status --env ${env}\`; stop it with \`slipway rollout pause ${id}\` or \`slipway rollout abort ${id}\`.`,
      ].join('\n');
    case 'PAUSED':
      return `The rollout ${id} of ${model} version ${version} in ${env} is paused at ${stepOf(promotion, policy)}${promotion.rollout?.note ? `: ${promotion.rollout.note}` : ''}. Resume with \`slipway rollout resume ${id}\`.`;
    case 'ABORTED':
    case 'ROLLED_BACK':
      return `The rollout ${id} of ${model} version ${version} in ${env} is ${promotion.status}${why}.${promotion.baseline ? ` ${env} serves ${shareList(promotion.baseline)} again.` : ''}`;
    default:
      return `Promotion ${id} of ${model} version ${version} to ${env} is ${promotion.status}${why}.`;
  }
}

/** The full story of one promotion, for `slipway promotions show`. */
export function describePromotion(p: WirePromotion, policy: WireEnvironment | undefined): string {
  const facts = [
    `${p.id}: ${p.model} version ${p.version} to ${p.environment} (${p.status})`,
    `  requested  ${p.created_at} by ${p.requested_by}${p.reason ? `: ${p.reason}` : ''}`,
    `  options    ${p.canary ? 'canary' : 'all at once'}${p.allow_schema_change ? ', schema change allowed' : ''}`,
    p.approval &&
      `  approved   ${p.approval.at} by ${p.approval.by}${p.approval.reason ? `: ${p.approval.reason}` : ''}`,
    p.rollout && `  rollout    ${stepOf(p, policy)}${p.rollout.note ? `, ${p.rollout.note}` : ''}`,
    p.baseline && `  baseline   ${shareList(p.baseline)}`,
    p.failure && `  failure    ${p.failure}`,
    `  updated    ${p.updated_at}`,
  ];
  return [...facts.filter((line) => typeof line === 'string' && line !== ''), '', gateTable(p.gates)].join(
    '\n',
  );
}
