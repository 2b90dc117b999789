import { useState } from 'preact/hooks';
import { call, enc, query } from '../api.js';
import { LIVE_INTERVAL_MS, useAction, useLoad } from '../hooks.js';
import { useLiveFigures } from '../live.js';
import { revisionDiff } from '../revision-diff.js';
import { href } from '../router.js';
import { satisfies } from '../session.js';
import type { Environment, ModelVersion, Revision, Role, Split as SplitShare } from '../types.js';
import { Badge, ErrorNote, Loading, RoleButton, Split, TableBox, usePages, When } from '../ui.js';
import { FiguresTable, loadEnvironments } from './environments.js';

interface DeploymentView {
  revision: Revision;
  shadow: { requests: number; failures: number; agreed: number; max_abs_diff: number } | null;
}

/** Traffic and rollback: a deployment's split, tags and shadow, its revision history, and rollback. */
export function DeploymentScreen({ environment, model }: { environment: string; model: string }) {
  const key = `${environment}/${model}`;
  const base = `/api/v1/environments/${enc(environment)}/deployments/${enc(model)}`;
  const current = useLoad(() => call<DeploymentView>('GET', base), key, LIVE_INTERVAL_MS);
  const environments = useLoad(loadEnvironments, 'environments');
  const pages = usePages();
  const history = useLoad(
    () =>
      call<{ revisions: Revision[]; next_page_token: string | null }>(
        'GET',
        `${base}/revisions${query({ limit: 20, page_token: pages.token })}`,
      ),
    `${key}:${pages.token ?? ''}:${current.data?.revision.number ?? 0}`,
  );
  const figures = useLiveFigures();
  const policy = environments.data?.find((e) => e.name === environment);
  const reload = () => {
    current.reload();
    pages.reset();
  };
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/">Environments</a> / {environment} / <a href={href(['models', model])}>{model}</a>
      </p>
      <h1>
        {model} in {environment}
      </h1>
      <ErrorNote error={current.error ?? environments.error} />
      {!current.data || !policy ? (
        <Loading />
      ) : (
        <>
          <section aria-labelledby="in-force">
            <h2 id="in-force">Revision {current.data.revision.number} in force</h2>
            <p>
              <Split traffic={current.data.revision.traffic} /> · {current.data.revision.kind} by{' '}
              {current.data.revision.actor} <When at={current.data.revision.created_at} />
            </p>
            <FiguresTable
              environment={environment}
              model={model}
              versions={current.data.revision.traffic.map((t) => t.version)}
              figures={figures}
            />
            {current.data.shadow ? (
              <p class="small">
                Shadow: {current.data.shadow.requests} mirrored, {current.data.shadow.agreed} agreed,{' '}
                {current.data.shadow.failures} failed, largest difference {current.data.shadow.max_abs_diff}
              </p>
            ) : null}
          </section>
          <TrafficForm
            base={base}
            model={model}
            policy={policy}
            revision={current.data.revision}
            onDone={reload}
          />
          <section aria-labelledby="history">
            <h2 id="history">History</h2>
            <ErrorNote error={history.error} />
            {history.data ? (
              <>
                <RevisionTable
                  base={base}
                  policy={policy}
                  revisions={history.data.revisions}
                  inForce={current.data.revision.number}
                  onDone={reload}
                />
                {pages.pager(history.data.next_page_token)}
              </>
            ) : (
              <Loading />
            )}
          </section>
        </>
      )}
    </main>
  );
}

function RevisionTable({
  base,
  policy,
  revisions,
  inForce,
  onDone,
}: {
  base: string;
  policy: Environment;
  revisions: Revision[];
  inForce: number;
  onDone: () => void;
}) {
  const action = useAction();
  return (
    <>
      <TableBox label="Revision history">
        <table>
          <thead>
            <tr>
              <th scope="col">revision</th>
              <th scope="col">traffic</th>
              <th scope="col">change from the one before</th>
              <th scope="col">kind</th>
              <th scope="col">by</th>
              <th scope="col">reason</th>
              <th scope="col">when</th>
              <th scope="col">
                <span class="visually-hidden">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {revisions.map((r, i) => (
              <tr key={r.number}>
                <th scope="row">{r.number}</th>
                <td>
                  <Split traffic={r.traffic} />
                </td>
                <td class="small">{revisionDiff(revisions[i + 1], r).join('; ')}</td>
                <td>{r.kind}</td>
                <td>{r.actor}</td>
                <td class="small">
                  {r.reason}
                  {r.promotion_id ? (
                    <>
                      {' '}
                      <a href={href(['promotions', r.promotion_id])}>promotion</a>
                    </>
                  ) : null}
                </td>
                <td>
                  <When at={r.created_at} />
                </td>
                <td>
                  {r.number === inForce ? (
                    <Badge value="in force" />
                  ) : (
                    <RoleButton
                      needs={policy.role}
                      disabled={action.busy}
                      onClick={() =>
                        action.run(() => call('POST', `${base}/rollback`, { to_revision: r.number }), onDone)
                      }
                    >
                      Roll back to revision {r.number}
                    </RoleButton>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
      <ErrorNote error={action.error} />
    </>
  );
}

/** The role that may set traffic by hand: the environment's, and the approver's where promotions need one. */
function trafficRole(policy: Environment): Role {
  const approval = policy.approval?.role;
  return approval && satisfies(approval, policy.role) ? approval : policy.role;
}

function TrafficForm({
  base,
  model,
  policy,
  revision,
  onDone,
}: {
  base: string;
  model: string;
  policy: Environment;
  revision: Revision;
  onDone: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [rows, setRows] = useState<SplitShare[]>(revision.traffic);
  const [tags, setTags] = useState(
    Object.entries(revision.tags)
      .map(([t, v]) => `${t}=${v}`)
      .join(', '),
  );
  const [shadow, setShadow] = useState(
    revision.shadow ? `${revision.shadow.version}:${revision.shadow.percent}` : '',
  );
  const [reason, setReason] = useState('');
  const versions = useLoad(
    () =>
      call<{ versions: ModelVersion[] }>(
        'GET',
        `/api/v1/models/${enc(model)}/versions${query({ status: 'READY', limit: 100 })}`,
      ),
    `ready:${model}`,
  );
  const action = useAction();
  const role = trafficRole(policy);
  const total = rows.reduce((sum, r) => sum + r.percent, 0);
  if (!open) {
    return (
      <RoleButton
        needs={role}
        onClick={() => {
          setRows(revision.traffic);
          setOpen(true);
        }}
      >
        Set traffic
      </RoleButton>
    );
  }
  const parseTags = (): Record<string, number> =>
    Object.fromEntries(
      tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
        .map((t) => {
          const [name, version] = t.split('=');
          return [name!.trim(), Number(version)];
        }),
    );
  const parseShadow = () => {
    if (shadow.trim() === '') return null;
    const [version, percent] = shadow.split(':');
    return { version: Number(version), percent: Number(percent ?? 100) };
  };
  return (
    <form
      class="panel"
      aria-label="Set traffic"
      onSubmit={(event) => {
        event.preventDefault();
        void action.run(
          () =>
            call('PUT', `${base}/traffic`, {
              traffic: rows,
              tags: parseTags(),
              shadow: parseShadow(),
              ...(reason ? { reason } : {}),
            }),
          () => {
            setOpen(false);
            onDone();
          },
        );
      }}
    >
      <h2>Set traffic</h2>
      {rows.map((row, i) => (
        <div class="row" key={i}>
          <label for={`split-version-${i}`}>Version</label>
          <select
            id={`split-version-${i}`}
            value={row.version}
            onChange={(e) =>
              setRows(rows.map((r, j) => (j === i ? { ...r, version: Number(e.currentTarget.value) } : r)))
            }
          >
            {(versions.data?.versions.map((v) => v.version) ?? [row.version]).map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
          <label for={`split-percent-${i}`}>Percent</label>
          <input
            id={`split-percent-${i}`}
            type="number"
            min={0}
            max={100}
            value={row.percent}
            onInput={(e) =>
              setRows(rows.map((r, j) => (j === i ? { ...r, percent: Number(e.currentTarget.value) } : r)))
            }
          />
          <button
            type="button"
            disabled={rows.length === 1}
            onClick={() => setRows(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button
        type="button"
        onClick={() => setRows([...rows, { version: versions.data?.versions[0]?.version ?? 1, percent: 0 }])}
      >
        Add a version
      </button>
      <p class={total === 100 ? 'muted' : 'error'}>Total {total}% (must be 100%)</p>
      <label for="split-tags">Tags (name=version, comma-separated)</label>
      <input id="split-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
      <label for="split-shadow">Shadow (version:percent, empty for none)</label>
      <input id="split-shadow" value={shadow} onInput={(e) => setShadow(e.currentTarget.value)} />
      <label for="split-reason">Reason</label>
      <input id="split-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <div class="actions">
        <RoleButton needs={role} type="submit" class="primary" disabled={total !== 100 || action.busy}>
          Apply as a new revision
        </RoleButton>
        <button type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorNote error={action.error} />
    </form>
  );
}
