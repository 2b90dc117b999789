import { useState } from 'preact/hooks';
import { ApiError, call, enc } from '../api.js';
import { LIVE_INTERVAL_MS, useAction, useLoad } from '../hooks.js';
import { figureKey, useLiveFigures, type VersionFigures } from '../live.js';
import { go, href } from '../router.js';
import type { Deployment, Environment, Promotion } from '../types.js';
import { Badge, ConfirmField, ErrorNote, Head, Loading, num, RoleButton, Split } from '../ui.js';

export function loadEnvironments(): Promise<Environment[]> {
  return call<{ environments: Environment[] }>('GET', '/api/v1/environments').then((r) => r.environments);
}

/** The environments board: a column per environment, a card per deployment, refreshed live. */
export function EnvironmentsBoard() {
  const environments = useLoad(loadEnvironments, 'environments');
  const deployments = useLoad(
    () => call<{ deployments: Deployment[] }>('GET', '/api/v1/deployments').then((r) => r.deployments),
    'deployments',
    LIVE_INTERVAL_MS,
  );
  const figures = useLiveFigures();
  return (
    <main id="main" tabIndex={-1}>
      <h1>Environments</h1>
      <ErrorNote error={environments.error ?? deployments.error} />
      {!environments.data || !deployments.data ? (
        <Loading />
      ) : (
        <div class="board">
          {environments.data.map((environment) => {
            const next = environments.data!.find((e) => e.promotes_from === environment.name);
            const here = deployments.data!.filter((d) => d.environment === environment.name);
            return (
              <section class="column" key={environment.name} aria-labelledby={`env-${environment.name}`}>
                <h2 id={`env-${environment.name}`}>{environment.name}</h2>
                <p class="muted small">
                  {environment.auto_deploy ? 'deploys every push · ' : ''}
                  changes need {environment.role}
                  {environment.approval ? ` · approval by ${environment.approval.role}` : ''}
                  {environment.rollout ? ` · canary ${environment.rollout.steps.join('→')}%` : ''}
                </p>
                {here.length === 0 ? <p class="muted">Nothing deployed.</p> : null}
                {here.map((deployment) => (
                  <DeploymentCard
                    key={deployment.name}
                    deployment={deployment}
                    environment={environment}
                    next={next}
                    figures={figures}
                    reload={deployments.reload}
                  />
                ))}
              </section>
            );
          })}
        </div>
      )}
    </main>
  );
}

function DeploymentCard({
  deployment,
  environment,
  next,
  figures,
  reload,
}: {
  deployment: Deployment;
  environment: Environment;
  next: Environment | undefined;
  figures: Map<string, VersionFigures>;
  reload: () => void;
}) {
  const [promoting, setPromoting] = useState(false);
  const { revision } = deployment;
  const serving = revision.traffic.filter((t) => t.percent > 0).map((t) => t.version);
  return (
    <article class="card" aria-label={`${deployment.model} in ${deployment.environment}`}>
      <header>
        <h3>
          <a href={href(['deployments', deployment.environment, deployment.model])}>{deployment.model}</a>
        </h3>
        <Badge value={deployment.health} />
      </header>
      <p class="small">
        revision {revision.number} · {revision.kind} by {revision.actor}
      </p>
      <Split traffic={revision.traffic} />
      {Object.keys(revision.tags).length > 0 ? (
        <p class="small muted">
          tags{' '}
          {Object.entries(revision.tags)
            .map(([tag, v]) => `${tag}→v${v}`)
            .join(', ')}
        </p>
      ) : null}
      {revision.shadow ? (
        <p class="small muted">
          shadow v{revision.shadow.version} at {revision.shadow.percent}%
        </p>
      ) : null}
      <FiguresTable
        environment={deployment.environment}
        model={deployment.model}
        versions={revision.traffic.map((t) => t.version)}
        figures={figures}
      />
      {deployment.promotions.map((p) => (
        <PromotionLine key={p.id} promotion={p} environment={environment} />
      ))}
      {next ? (
        promoting ? (
          <PromoteForm
            model={deployment.model}
            versions={serving}
            target={next}
            onCancel={() => setPromoting(false)}
            onDone={(promotion) => {
              setPromoting(false);
              reload();
              go(['promotions', promotion.id]);
            }}
          />
        ) : (
          <RoleButton needs={next.role} onClick={() => setPromoting(true)}>
            Promote to {next.name}
          </RoleButton>
        )
      ) : null}
    </article>
  );
}

/** A promotion in progress on its deployment's card: its status and, for a canary, its step. */
function PromotionLine({ promotion, environment }: { promotion: Promotion; environment: Environment }) {
  const steps = environment.rollout?.steps ?? [];
  const step = promotion.rollout ? promotion.rollout.step : null;
  return (
    <p class="promotion-line">
      <a href={href(['promotions', promotion.id])}>
        v{promotion.version} <Badge value={promotion.status} />
      </a>
      {step !== null && steps.length > 0 ? (
        <span class="small">
          {' '}
          step {step + 1} of {steps.length} ({steps[step]}%)
        </span>
      ) : null}
    </p>
  );
}

/** Requests per second, server error share and p99 of each version, over the last few seconds. */
export function FiguresTable({
  environment,
  model,
  versions,
  figures,
}: {
  environment: string;
  model: string;
  versions: readonly number[];
  figures: Map<string, VersionFigures>;
}) {
  return (
    <table class="figures">
      <caption class="visually-hidden">
        Live figures of {model} in {environment}
      </caption>
      <Head columns={['version', 'req/s', 'errors', 'p99']} />
      <tbody>
        {versions.map((version) => {
          const f = figures.get(figureKey(environment, model, version));
          return (
            <tr key={version}>
              <th scope="row">v{version}</th>
              <td>{f ? num(f.requestsPerSecond, 3) : '—'}</td>
              <td>{f && f.errorRate !== null ? `${num(f.errorRate * 100, 2)}%` : '—'}</td>
              <td>{f && f.p99Ms !== null ? `${num(f.p99Ms, 3)} ms` : '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/**
 * Promotes a version into `target` through its gates: a canary where the target has a rollout plan, and
 * the target's name typed where its policy asks for a confirmation.
 */
export function PromoteForm({
  model,
  versions,
  target,
  onCancel,
  onDone,
}: {
  model: string;
  versions: readonly number[];
  target: Environment;
  onCancel: () => void;
  onDone: (promotion: Promotion) => void;
}) {
  const [version, setVersion] = useState(versions[0] ?? 0);
  const [canary, setCanary] = useState(target.rollout?.by_default ?? false);
  const [reason, setReason] = useState('');
  const [confirm, setConfirm] = useState('');
  const action = useAction();
  const [failed, setFailed] = useState<string | null>(null);
  const id = `promote-${model}-${target.name}`;
  const ready = version > 0 && (!target.confirm || confirm === target.name);
  return (
    <form
      class="panel"
      aria-label={`Promote ${model} to ${target.name}`}
      onSubmit={async (event) => {
        event.preventDefault();
        setFailed(null);
        await action.run(async () => {
          try {
            const promotion = await call<Promotion>(
              'POST',
              `/api/v1/environments/${enc(target.name)}/promotions`,
              {
                model,
                version,
                ...(target.rollout ? { canary } : {}),
                ...(reason ? { reason } : {}),
                ...(target.confirm ? { confirm } : {}),
              },
            );
            onDone(promotion);
          } catch (e) {
            // A failed gate keeps its promotion, with every gate's figures: link to it.
            const kept =
              e instanceof ApiError ? (e.details.promotion as { id?: string } | undefined) : undefined;
            if (kept?.id) setFailed(kept.id);
            throw e;
          }
        });
      }}
    >
      <label for={`${id}-version`}>Version</label>
      <select
        id={`${id}-version`}
        value={version}
        onChange={(e) => setVersion(Number(e.currentTarget.value))}
      >
        {versions.map((v) => (
          <option key={v} value={v}>
            v{v}
          </option>
        ))}
      </select>
      {target.rollout ? (
        <label class="check">
          <input type="checkbox" checked={canary} onChange={(e) => setCanary(e.currentTarget.checked)} />{' '}
          Canary ({target.rollout.steps.join('→')}%)
        </label>
      ) : null}
      <label for={`${id}-reason`}>Reason</label>
      <input id={`${id}-reason`} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      {target.confirm ? (
        <ConfirmField id={`${id}-confirm`} name={target.name} value={confirm} onInput={setConfirm} />
      ) : null}
      <div class="actions">
        <RoleButton needs={target.role} type="submit" class="primary" disabled={!ready || action.busy}>
          Promote v{version} to {target.name}
        </RoleButton>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorNote error={action.error} />
      {failed ? (
        <p>
          <a href={href(['promotions', failed])}>See the gates of the failed promotion</a>
        </p>
      ) : null}
    </form>
  );
}
