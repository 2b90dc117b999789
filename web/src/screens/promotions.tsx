import { useState } from 'preact/hooks';
import { call, enc, query } from '../api.js';
import { LIVE_INTERVAL_MS, useAction, useLoad } from '../hooks.js';
import { figureKey, useLiveFigures } from '../live.js';
import { href } from '../router.js';
import type { Environment, Promotion } from '../types.js';
import {
  Badge,
  ConfirmField,
  ErrorNote,
  Head,
  KeyValues,
  Loading,
  num,
  RoleButton,
  Split,
  TableBox,
  usePages,
  When,
} from '../ui.js';
import { FiguresTable, loadEnvironments } from './environments.js';

export function PromotionsScreen({ parts }: { parts: readonly string[] }) {
  return parts[0] ? <PromotionDetail id={parts[0]} /> : <PromotionList />;
}

const OPEN = 'GATING,AWAITING_APPROVAL,ROLLING_OUT,PAUSED';

function PromotionList() {
  const pages = usePages();
  const open = useLoad(
    () =>
      call<{ promotions: Promotion[] }>('GET', `/api/v1/promotions${query({ status: OPEN, limit: 100 })}`),
    'open',
    LIVE_INTERVAL_MS,
  );
  const all = useLoad(
    () =>
      call<{ promotions: Promotion[]; next_page_token: string | null }>(
        'GET',
        `/api/v1/promotions${query({ limit: 50, page_token: pages.token })}`,
      ),
    `all:${pages.token ?? ''}`,
    LIVE_INTERVAL_MS,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Promotions</h1>
      <h2>In progress</h2>
      <ErrorNote error={open.error} />
      {open.data ? (
        <PromotionTable label="Promotions in progress" promotions={open.data.promotions} />
      ) : (
        <Loading />
      )}
      <h2>All</h2>
      <ErrorNote error={all.error} />
      {all.data ? (
        <>
          <PromotionTable label="All promotions" promotions={all.data.promotions} />
          {pages.pager(all.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

function PromotionTable({ promotions, label }: { promotions: Promotion[]; label: string }) {
  if (promotions.length === 0) return <p class="muted">None.</p>;
  return (
    <TableBox label={label}>
      <table>
        <Head columns={['promotion', 'model', 'to', 'status', 'by', 'when']} />
        <tbody>
          {promotions.map((p) => (
            <tr key={p.id}>
              <td>
                <a href={href(['promotions', p.id])}>{p.id}</a>
              </td>
              <td>
                {p.model} v{p.version}
              </td>
              <td>{p.environment}</td>
              <td>
                <Badge value={p.status} />
              </td>
              <td>{p.requested_by}</td>
              <td>
                <When at={p.created_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

function PromotionDetail({ id }: { id: string }) {
  const promotion = useLoad(
    () => call<Promotion>('GET', `/api/v1/promotions/${enc(id)}`),
    id,
    LIVE_INTERVAL_MS,
  );
  const environments = useLoad(loadEnvironments, 'environments');
  const p = promotion.data;
  const environment = environments.data?.find((e) => e.name === p?.environment);
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/promotions">Promotions</a> / {id}
      </p>
      <ErrorNote error={promotion.error ?? environments.error} />
      {!p || !environment ? (
        <Loading />
      ) : (
        <>
          <h1>
            {p.model} v{p.version} → {p.environment} <Badge value={p.status} />
          </h1>
          <p>
            Requested by <strong>{p.requested_by}</strong> <When at={p.created_at} />
            {p.reason ? ` · “${p.reason}”` : ''}
            {p.canary ? ' · canary' : ''} ·{' '}
            <a href={href(['deployments', p.environment, p.model])}>traffic and history</a>
          </p>
          {p.failure ? (
            <p class="error" role="status">
              {p.failure}
            </p>
          ) : null}
          {p.approval ? (
            <p>
              Approved by <strong>{p.approval.by}</strong> <When at={p.approval.at} />
              {p.approval.reason ? `: ${p.approval.reason}` : ''}
            </p>
          ) : null}
          <Decision promotion={p} environment={environment} reload={promotion.reload} />
          <h2>Gates</h2>
          <TableBox label="Gates">
            <table>
              <Head columns={['gate', 'result', 'message', 'figures']} />
              <tbody>
                {p.gates.map((g) => (
                  <tr key={g.gate}>
                    <th scope="row">{g.gate}</th>
                    <td>
                      <Badge value={g.status} />
                    </td>
                    <td>{g.message}</td>
                    <td>
                      {g.measurements ? (
                        <KeyValues label={`${g.gate} figures`} values={g.measurements} />
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {p.canary || p.rollout ? (
            <Rollout promotion={p} environment={environment} reload={promotion.reload} />
          ) : null}
          {p.baseline ? (
            <p>
              Before this promotion: <Split traffic={p.baseline} />
            </p>
          ) : null}
        </>
      )}
    </main>
  );
}

/** Approve or reject a promotion that waits for approval; where the policy confirms, its name is typed. */
function Decision({
  promotion,
  environment,
  reload,
}: {
  promotion: Promotion;
  environment: Environment;
  reload: () => void;
}) {
  const [reason, setReason] = useState('');
  const [confirm, setConfirm] = useState('');
  const action = useAction();
  if (promotion.status !== 'AWAITING_APPROVAL' || !environment.approval) return null;
  const role = environment.approval.role;
  const confirmed = !environment.confirm || confirm === environment.name;
  const act = (verb: 'approve' | 'reject') =>
    action.run(
      () => call('POST', `/api/v1/promotions/${enc(promotion.id)}/${verb}`, reason ? { reason } : {}),
      reload,
    );
  return (
    <section class="panel" aria-labelledby="decision">
      <h2 id="decision">Awaiting approval</h2>
      <p>
        An {role} other than {promotion.requested_by} decides
        {environment.approval.allow_self ? ' (or the requester: this environment allows it)' : ''}.
      </p>
      <label for="decision-reason">Reason</label>
      <input id="decision-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      {environment.confirm ? (
        <ConfirmField id="decision-confirm" name={environment.name} value={confirm} onInput={setConfirm} />
      ) : null}
      <div class="actions">
        <RoleButton
          needs={role}
          class="primary"
          disabled={!confirmed || action.busy}
          onClick={() => act('approve')}
        >
          Approve
        </RoleButton>
        <RoleButton needs={role} class="danger" disabled={action.busy} onClick={() => act('reject')}>
          Reject
        </RoleButton>
      </div>
      <ErrorNote error={action.error} />
    </section>
  );
}

/** A canary's steps, where it is, the live figures of its versions against the plan's limits, and its controls. */
function Rollout({
  promotion,
  environment,
  reload,
}: {
  promotion: Promotion;
  environment: Environment;
  reload: () => void;
}) {
  const plan = environment.rollout;
  const figures = useLiveFigures();
  const action = useAction();
  const deployment = useLoad(
    () =>
      call<{ revision: { traffic: { version: number; percent: number }[] } }>(
        'GET',
        `/api/v1/environments/${enc(promotion.environment)}/deployments/${enc(promotion.model)}`,
      ),
    `${promotion.environment}/${promotion.model}/${promotion.updated_at}`,
  );
  if (!plan) return null;
  const step = promotion.rollout?.step ?? -1;
  const live = ['ROLLING_OUT', 'PAUSED'].includes(promotion.status);
  const candidate = figures.get(figureKey(promotion.environment, promotion.model, promotion.version));
  const act = (verb: 'pause' | 'resume' | 'abort') =>
    action.run(() => call('POST', `/api/v1/promotions/${enc(promotion.id)}/${verb}`, {}), reload);
  return (
    <section aria-labelledby="rollout">
      <h2 id="rollout">Canary</h2>
      <ol class="steps" aria-label="Canary steps">
        {plan.steps.map((share, i) => (
          <li
            key={share}
            class={i < step || promotion.status === 'SUCCEEDED' ? 'done' : i === step ? 'current' : ''}
            aria-current={i === step && live ? 'step' : undefined}
          >
            step {i + 1}: {share}%
          </li>
        ))}
      </ol>
      {promotion.rollout ? (
        <p role="status">
          {live
            ? `Step ${step + 1} of ${plan.steps.length} (${plan.steps[step]}%)`
            : `Ended at step ${step + 1}`}
          , started <When at={promotion.rollout.step_started_at} />; each step bakes {plan.bake_seconds} s.
          {promotion.rollout.note ? ` ${promotion.rollout.note}` : ''}
        </p>
      ) : null}
      <h3>Analysis</h3>
      <TableBox label="Canary analysis">
        <table>
          <thead>
            <tr>
              <th scope="col">figure</th>
              <th scope="col">candidate v{promotion.version}, now</th>
              <th scope="col">limit</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">error rate</th>
              <td>{candidate?.errorRate != null ? `${num(candidate.errorRate * 100, 2)}%` : '—'}</td>
              <td>{num(plan.max_error_rate * 100, 2)}%</td>
            </tr>
            <tr>
              <th scope="row">p99</th>
              <td>{candidate?.p99Ms != null ? `${num(candidate.p99Ms)} ms` : '—'}</td>
              <td>{plan.max_p99_ms} ms</td>
            </tr>
            <tr>
              <th scope="row">requests</th>
              <td>{candidate ? `${num(candidate.requestsPerSecond)} per second` : '—'}</td>
              <td>at least {plan.min_requests} per step</td>
            </tr>
          </tbody>
        </table>
      </TableBox>
      {deployment.data ? (
        <FiguresTable
          environment={promotion.environment}
          model={promotion.model}
          versions={deployment.data.revision.traffic.map((t) => t.version)}
          figures={figures}
        />
      ) : null}
      {live ? (
        <div class="actions">
          {promotion.status === 'ROLLING_OUT' ? (
            <RoleButton needs={environment.role} disabled={action.busy} onClick={() => act('pause')}>
              Pause
            </RoleButton>
          ) : (
            <RoleButton needs={environment.role} disabled={action.busy} onClick={() => act('resume')}>
              Resume
            </RoleButton>
          )}
          <RoleButton
            needs={environment.role}
            class="danger"
            disabled={action.busy}
            onClick={() => act('abort')}
          >
            Abort
          </RoleButton>
        </div>
      ) : null}
      <ErrorNote error={action.error} />
    </section>
  );
}
