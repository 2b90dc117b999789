import { useState } from 'preact/hooks';
import { call, enc, query } from '../api.js';
import { useLoad } from '../hooks.js';
import { go } from '../router.js';
import type { Deployment } from '../types.js';
import { Badge, ErrorNote, Head, Loading, num, TableBox, When } from '../ui.js';

interface Feature {
  name: string;
  kind: 'numerical' | 'categorical';
  method: string | null;
  statistic: number | null;
  threshold: number | null;
  drifted: boolean;
  reference_rows: number;
  current_rows: number;
  current_null_share: number;
  skipped?: string;
}

interface Report {
  model: string;
  version: number;
  environment: string | null;
  window: { from: string; to: string } | null;
  reference: { source: string; rows: number };
  current_rows: number;
  dataset_drift: boolean;
  drift_share: number;
  share_threshold: number;
  features: Feature[];
}

interface Profile {
  features: {
    name: string;
    kind: string;
    null_share: number;
    summary?: Record<string, number>;
    categories?: Record<string, number>;
  }[];
}

interface Check {
  name: string;
  model: string;
  environment: string;
  schedule: string;
  next_run: string | null;
  last: { at: string; status: string; message: string } | null;
}

const WINDOWS = [
  { hours: 1, label: 'last hour' },
  { hours: 24, label: 'last 24 hours' },
  { hours: 168, label: 'last 7 days' },
];

/** What the reference looks like for one feature: its quartiles, or its most common categories. */
function referenceText(feature: Profile['features'][number] | undefined): string {
  if (!feature) return '—';
  if (feature.summary) {
    const s = feature.summary;
    return `p25 ${num(s.p25)} · p50 ${num(s.p50)} · p75 ${num(s.p75)}`;
  }
  if (feature.categories) {
    return Object.entries(feature.categories)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([c, share]) => `${c} ${num(share * 100, 2)}%`)
      .join(' · ');
  }
  return '—';
}

/** Drift per feature: a deployment's logged requests in a window against its version's reference. */
export function DriftScreen({ params }: { params: URLSearchParams }) {
  const deployments = useLoad(
    () => call<{ deployments: Deployment[] }>('GET', '/api/v1/deployments').then((r) => r.deployments),
    'deployments',
  );
  const checks = useLoad(
    () => call<{ checks: Check[] }>('GET', '/api/v1/drift/checks').then((r) => r.checks),
    'checks',
  );
  const chosen = params.get('deployment') ?? '';
  const hours = Number(params.get('hours') ?? 24);
  const [model, environment] = chosen.split('@');
  const [draft, setDraft] = useState(chosen);
  const [draftHours, setDraftHours] = useState(hours);
  const report = useLoad(
    () =>
      model && environment
        ? call<Report>(
            'GET',
            `/api/v1/models/${enc(model)}/drift${query({
              environment,
              from: new Date(Date.now() - hours * 3_600_000).toISOString(),
            })}`,
          )
        : Promise.resolve(null),
    `${chosen}:${hours}`,
  );
  const profile = useLoad(
    () =>
      report.data
        ? call<Profile>(
            'GET',
            `/api/v1/models/${enc(report.data.model)}/versions/${report.data.version}/profile`,
          )
        : Promise.resolve(null),
    `${report.data?.model}:${report.data?.version}`,
  );
  const options = (deployments.data ?? []).map((d) => `${d.model}@${d.environment}`);
  return (
    <main id="main" tabIndex={-1}>
      <h1>Drift</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          go(['drift'], { deployment: draft || options[0] || '', hours: draftHours });
        }}
      >
        <div>
          <label for="drift-deployment">Deployment</label>
          <select id="drift-deployment" value={draft} onChange={(e) => setDraft(e.currentTarget.value)}>
            <option value="">choose…</option>
            {options.map((o) => (
              <option key={o} value={o}>
                {o.replace('@', ' in ')}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="drift-window">Window</label>
          <select
            id="drift-window"
            value={draftHours}
            onChange={(e) => setDraftHours(Number(e.currentTarget.value))}
          >
            {WINDOWS.map((w) => (
              <option key={w.hours} value={w.hours}>
                {w.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary">
          Compare
        </button>
      </form>
      <ErrorNote error={deployments.error ?? report.error} />
      {model && !report.data && !report.error ? <Loading /> : null}
      {report.data ? (
        <section aria-labelledby="report">
          <h2 id="report">
            {report.data.model} v{report.data.version} in {report.data.environment}:{' '}
            <Badge value={report.data.dataset_drift ? 'drift' : 'ok'} />
          </h2>
          <p>
            {report.data.current_rows.toLocaleString()} logged rows against{' '}
            {report.data.reference.rows.toLocaleString()} reference rows ({report.data.reference.source});{' '}
            {num(report.data.drift_share * 100, 3)}% of features drifted (the data set drifts at{' '}
            {num(report.data.share_threshold * 100, 3)}%).
          </p>
          <TableBox label="Drift per feature">
            <table>
              <Head
                columns={[
                  'feature',
                  'kind',
                  'reference',
                  'test',
                  '#statistic',
                  '#threshold',
                  'verdict',
                  '#window rows',
                  '#missing',
                ]}
              />
              <tbody>
                {report.data.features.map((f) => (
                  <tr key={f.name}>
                    <th scope="row">{f.name}</th>
                    <td>{f.kind}</td>
                    <td class="small">
                      {referenceText(profile.data?.features.find((p) => p.name === f.name))}
                    </td>
                    <td>{f.method ?? '—'}</td>
                    <td class="num">{num(f.statistic, 3)}</td>
                    <td class="num">{num(f.threshold, 3)}</td>
                    <td>
                      {f.skipped ? (
                        <span class="muted">skipped: {f.skipped}</span>
                      ) : (
                        <Badge value={f.drifted ? 'drift' : 'ok'} />
                      )}
                    </td>
                    <td class="num">{num(f.current_rows)}</td>
                    <td class="num">{num(f.current_null_share * 100, 2)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        </section>
      ) : null}
      <h2>Scheduled checks</h2>
      <ErrorNote error={checks.error} />
      {checks.data ? (
        checks.data.length === 0 ? (
          <p class="muted">
            None; <code>drift_checks:</code> in slipway.yaml schedules them.
          </p>
        ) : (
          <TableBox label="Scheduled drift checks">
            <table>
              <Head columns={['check', 'deployment', 'schedule', 'last', 'next']} />
              <tbody>
                {checks.data.map((c) => (
                  <tr key={c.name}>
                    <td>{c.name}</td>
                    <td>
                      {c.model} in {c.environment}
                    </td>
                    <td class="mono">{c.schedule}</td>
                    <td>
                      {c.last ? (
                        <>
                          <Badge value={c.last.status} /> {c.last.message}
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td>
                      <When at={c.next_run} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )
      ) : (
        <Loading />
      )}
    </main>
  );
}
