import { useMemo, useState } from 'preact/hooks';
import { call, enc, query, storedToken } from '../api.js';
import { LIVE_INTERVAL_MS, useLoad } from '../hooks.js';
import { LineChart, type Series } from '../lazy-chart.js';
import { go, href } from '../router.js';
import { Badge, ErrorNote, Head, KeyValues, Loading, num, TableBox, usePages, When } from '../ui.js';

/** The MLflow tracking side, read through Slipway's MLflow REST API (/api/2.0/mlflow). */
const MLFLOW = '/api/2.0/mlflow';

interface Experiment {
  experiment_id: string;
  name: string;
  lifecycle_stage: string;
  creation_time?: number;
  last_update_time?: number;
}

interface KeyValue {
  key: string;
  value: string;
}

interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

interface Run {
  info: {
    run_id: string;
    run_name?: string;
    experiment_id: string;
    status: string;
    start_time?: number;
    end_time?: number;
    user_id?: string;
    artifact_uri?: string;
  };
  data: { metrics?: Metric[]; params?: KeyValue[]; tags?: KeyValue[] };
}

const millis = (t: number | undefined) => (t ? new Date(Number(t)).toISOString() : null);
const runName = (run: Run) => run.info.run_name || run.info.run_id.slice(0, 8);
const asRecord = (items: { key: string; value: unknown }[] | undefined) =>
  Object.fromEntries((items ?? []).map((i) => [i.key, i.value]));
/** MLflow's own tags (`mlflow.*`) are shown apart from the user's. */
const userTags = (run: Run) => (run.data.tags ?? []).filter((t) => !t.key.startsWith('mlflow.'));

export function ExperimentsScreen({ parts, params }: { parts: readonly string[]; params: URLSearchParams }) {
  const [section, id, sub, runId] = parts;
  if (section === 'compare-runs')
    return <CompareRuns ids={(params.get('runs') ?? '').split(',').filter(Boolean)} />;
  if (section === 'runs' && id) return <RunDetail runId={id} />;
  // `#/experiments/<id>/runs/<run>`: the link the mlflow client prints for a run.
  if (id && sub === 'runs' && runId) return <RunDetail runId={runId} />;
  if (id) return <ExperimentRuns experimentId={id} />;
  return <ExperimentList />;
}

function ExperimentList() {
  const pages = usePages();
  const experiments = useLoad(
    () =>
      call<{ experiments?: Experiment[]; next_page_token?: string }>('POST', `${MLFLOW}/experiments/search`, {
        max_results: 100,
        ...(pages.token ? { page_token: pages.token } : {}),
      }),
    pages.token ?? '',
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Experiments</h1>
      <p class="muted">
        Runs logged with the <code>mlflow</code> client (<code>MLFLOW_TRACKING_URI={location.origin}</code>).
      </p>
      <ErrorNote error={experiments.error} />
      {experiments.data ? (
        <>
          <TableBox label="Experiments">
            <table>
              <Head columns={['id', 'name', 'created', 'updated']} />
              <tbody>
                {(experiments.data.experiments ?? []).map((e) => (
                  <tr key={e.experiment_id}>
                    <td>{e.experiment_id}</td>
                    <td>
                      <a href={href(['experiments', e.experiment_id])}>{e.name}</a>
                    </td>
                    <td>
                      <When at={millis(e.creation_time)} />
                    </td>
                    <td>
                      <When at={millis(e.last_update_time)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {pages.pager(experiments.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

/** How many param, metric and tag columns the runs table shows at most (the rest are on each run's page). */
const COLUMNS = 6;

function ExperimentRuns({ experimentId }: { experimentId: string }) {
  const pages = usePages();
  const [filter, setFilter] = useState('');
  const [applied, setApplied] = useState('');
  const experiment = useLoad(
    () =>
      call<{ experiment: Experiment }>(
        'GET',
        `${MLFLOW}/experiments/get${query({ experiment_id: experimentId })}`,
      ),
    experimentId,
  );
  const runs = useLoad(
    () =>
      call<{ runs?: Run[]; next_page_token?: string }>('POST', `${MLFLOW}/runs/search`, {
        experiment_ids: [experimentId],
        max_results: 100,
        order_by: ['attributes.start_time DESC'],
        ...(applied ? { filter: applied } : {}),
        ...(pages.token ? { page_token: pages.token } : {}),
      }),
    `${experimentId}:${applied}:${pages.token ?? ''}`,
    LIVE_INTERVAL_MS * 5,
  );
  const [picked, setPicked] = useState<string[]>([]);
  const list = runs.data?.runs ?? [];
  const keys = (pick: (r: Run) => { key: string }[] | undefined) =>
    [...new Set(list.flatMap((r) => (pick(r) ?? []).map((i) => i.key)))].sort().slice(0, COLUMNS);
  const paramKeys = keys((r) => r.data.params);
  const metricKeys = keys((r) => r.data.metrics);
  const tagKeys = keys(userTags);
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/experiments">Experiments</a> / {experiment.data?.experiment.name ?? experimentId}
      </p>
      <h1>{experiment.data?.experiment.name ?? `Experiment ${experimentId}`}</h1>
      <ErrorNote error={experiment.error} />
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          pages.reset();
          setApplied(filter);
        }}
      >
        <div>
          <label for="run-filter">Filter (MLflow search syntax)</label>
          <input
            id="run-filter"
            value={filter}
            placeholder="metrics.accuracy > 0.9"
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </div>
        <button type="submit">Search</button>
        <button
          type="button"
          disabled={picked.length < 2}
          onClick={() => go(['compare-runs'], { runs: picked.join(',') })}
        >
          Compare {picked.length >= 2 ? `${picked.length} runs` : 'runs'}
        </button>
      </form>
      <ErrorNote error={runs.error} />
      {runs.data ? (
        <>
          <TableBox label="Runs">
            <table>
              <thead>
                <tr>
                  <th scope="col">compare</th>
                  <th scope="col">run</th>
                  <th scope="col">status</th>
                  <th scope="col">started</th>
                  <th scope="col">user</th>
                  {paramKeys.map((k) => (
                    <th scope="col" key={`p${k}`}>
                      {k}
                    </th>
                  ))}
                  {metricKeys.map((k) => (
                    <th scope="col" class="num" key={`m${k}`}>
                      {k}
                    </th>
                  ))}
                  {tagKeys.map((k) => (
                    <th scope="col" key={`t${k}`}>
                      #{k}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {list.map((run) => {
                  const p = asRecord(run.data.params);
                  const m = asRecord(run.data.metrics);
                  const t = asRecord(userTags(run));
                  const id = run.info.run_id;
                  return (
                    <tr key={id}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`Compare ${runName(run)}`}
                          checked={picked.includes(id)}
                          onChange={() =>
                            setPicked(picked.includes(id) ? picked.filter((x) => x !== id) : [...picked, id])
                          }
                        />
                      </td>
                      <td>
                        <a href={href(['experiments', experimentId, 'runs', id])}>{runName(run)}</a>
                      </td>
                      <td>
                        <Badge value={run.info.status} />
                      </td>
                      <td>
                        <When at={millis(run.info.start_time)} />
                      </td>
                      <td>{run.info.user_id ?? ''}</td>
                      {paramKeys.map((k) => (
                        <td key={`p${k}`}>{String(p[k] ?? '')}</td>
                      ))}
                      {metricKeys.map((k) => (
                        <td class="num" key={`m${k}`}>
                          {num(m[k] as number | undefined, 4)}
                        </td>
                      ))}
                      {tagKeys.map((k) => (
                        <td key={`t${k}`}>{String(t[k] ?? '')}</td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableBox>
          {list.length === 0 ? <p class="muted">No runs.</p> : null}
          {pages.pager(runs.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

function loadRun(runId: string): Promise<Run> {
  return call<{ run: Run }>('GET', `${MLFLOW}/runs/get${query({ run_id: runId })}`).then((r) => r.run);
}

function loadHistory(runId: string, key: string): Promise<Metric[]> {
  return call<{ metrics?: Metric[] }>(
    'GET',
    `${MLFLOW}/metrics/get-history${query({ run_id: runId, metric_key: key, max_results: 25000 })}`,
  ).then((r) => r.metrics ?? []);
}

function RunDetail({ runId }: { runId: string }) {
  const run = useLoad(() => loadRun(runId), runId, LIVE_INTERVAL_MS * 2);
  const r = run.data;
  const metricKeys = (r?.data.metrics ?? []).map((m) => m.key).sort();
  const histories = useLoad(
    () => Promise.all(metricKeys.map((k) => loadHistory(runId, k).then((h) => [k, h] as const))),
    `${runId}:${metricKeys.join(',')}:${r?.info.end_time ?? ''}`,
  );
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/experiments">Experiments</a> /{' '}
        {r ? (
          <a href={href(['experiments', r.info.experiment_id])}>experiment {r.info.experiment_id}</a>
        ) : (
          '…'
        )}{' '}
        / run
      </p>
      <h1>{r ? `Run ${runName(r)}` : 'Run'}</h1>
      <ErrorNote error={run.error} />
      {!r ? (
        <Loading />
      ) : (
        <>
          <p>
            <Badge value={r.info.status} /> <span class="mono">{r.info.run_id}</span> · started{' '}
            <When at={millis(r.info.start_time)} />
            {r.info.user_id ? ` by ${r.info.user_id}` : ''}
          </p>
          <div class="grid2">
            <section aria-labelledby="params">
              <h2 id="params">Parameters</h2>
              <KeyValues label="Parameters" values={asRecord(r.data.params)} />
            </section>
            <section aria-labelledby="latest">
              <h2 id="latest">Metrics (latest)</h2>
              <KeyValues label="Metrics" values={asRecord(r.data.metrics)} />
            </section>
            <section aria-labelledby="tags">
              <h2 id="tags">Tags</h2>
              <KeyValues label="Tags" values={asRecord(r.data.tags)} />
            </section>
          </div>
          <h2>Metric charts</h2>
          <ErrorNote error={histories.error} />
          {(histories.data ?? []).map(([key, history]) => (
            <section key={key} aria-label={`Metric ${key}`}>
              <h3>{key}</h3>
              <LineChart
                xLabel="step"
                series={[{ label: key, points: history.map((m) => [m.step, m.value] as const) }]}
                summary={`${key} over ${history.length} steps, last ${num(history[history.length - 1]?.value, 4)}`}
              />
            </section>
          ))}
          <Artifacts run={r} />
        </>
      )}
    </main>
  );
}

interface ArtifactFile {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

function Artifacts({ run }: { run: Run }) {
  const [path, setPath] = useState('');
  const listing = useLoad(
    () =>
      call<{ files?: ArtifactFile[] }>(
        'GET',
        `${MLFLOW}/artifacts/list${query({ run_id: run.info.run_id, path: path || undefined })}`,
      ),
    `${run.info.run_id}:${path}`,
  );
  // Files are fetched with the session's token, then handed to the browser as a download.
  const download = async (file: ArtifactFile) => {
    const root = (run.info.artifact_uri ?? '').replace(/^mlflow-artifacts:\/?/, '');
    const token = storedToken();
    const response = await fetch(
      `/api/2.0/mlflow-artifacts/artifacts/${root.split('/').filter(Boolean).map(enc).join('/')}/${file.path
        .split('/')
        .map(enc)
        .join('/')}`,
      { headers: token ? { authorization: `Bearer ${token}` } : {} },
    );
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = file.path.split('/').pop() ?? 'artifact';
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return (
    <section aria-labelledby="artifacts">
      <h2 id="artifacts">Artifacts{path ? `: ${path}` : ''}</h2>
      {path ? (
        <button type="button" onClick={() => setPath(path.split('/').slice(0, -1).join('/'))}>
          Up
        </button>
      ) : null}
      <ErrorNote error={listing.error} />
      {listing.data ? (
        (listing.data.files ?? []).length === 0 ? (
          <p class="muted">No artifacts.</p>
        ) : (
          <ul class="plain">
            {(listing.data.files ?? []).map((f) => (
              <li key={f.path}>
                {f.is_dir ? (
                  <button type="button" class="link" onClick={() => setPath(f.path)}>
                    {f.path}/
                  </button>
                ) : (
                  <>
                    <button type="button" class="link" onClick={() => void download(f)}>
                      {f.path}
                    </button>{' '}
                    <span class="muted small">{f.file_size?.toLocaleString()} bytes</span>
                  </>
                )}
              </li>
            ))}
          </ul>
        )
      ) : (
        <Loading />
      )}
    </section>
  );
}

/** Runs side by side: every param and latest metric, and each metric's history on one chart. */
function CompareRuns({ ids }: { ids: string[] }) {
  const runs = useLoad(() => Promise.all(ids.map(loadRun)), ids.join(','));
  const list = runs.data ?? [];
  const metricKeys = useMemo(
    () => [...new Set(list.flatMap((r) => (r.data.metrics ?? []).map((m) => m.key)))].sort(),
    [list],
  );
  const paramKeys = [...new Set(list.flatMap((r) => (r.data.params ?? []).map((m) => m.key)))].sort();
  const histories = useLoad(
    () =>
      Promise.all(
        metricKeys.map(async (key) => {
          const series: Series[] = await Promise.all(
            list.map(async (r) => ({
              label: runName(r),
              points: (await loadHistory(r.info.run_id, key)).map((m) => [m.step, m.value] as const),
            })),
          );
          return [key, series] as const;
        }),
      ),
    `${ids.join(',')}:${metricKeys.join(',')}`,
  );
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/experiments">Experiments</a> / compare runs
      </p>
      <h1>Compare {ids.length} runs</h1>
      <ErrorNote error={runs.error} />
      {!runs.data ? (
        <Loading />
      ) : (
        <>
          <TableBox label="Runs side by side">
            <table>
              <thead>
                <tr>
                  <th scope="col">
                    <span class="visually-hidden">field</span>
                  </th>
                  {list.map((r) => (
                    <th scope="col" key={r.info.run_id}>
                      <a href={href(['experiments', r.info.experiment_id, 'runs', r.info.run_id])}>
                        {runName(r)}
                      </a>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {paramKeys.map((k) => (
                  <tr key={`p${k}`}>
                    <th scope="row">{k}</th>
                    {list.map((r) => (
                      <td key={r.info.run_id}>{String(asRecord(r.data.params)[k] ?? '')}</td>
                    ))}
                  </tr>
                ))}
                {metricKeys.map((k) => (
                  <tr key={`m${k}`}>
                    <th scope="row">{k}</th>
                    {list.map((r) => (
                      <td class="num" key={r.info.run_id}>
                        {num(asRecord(r.data.metrics)[k] as number | undefined, 4)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {(histories.data ?? []).map(([key, series]) => (
            <section key={key} aria-label={`Metric ${key}`}>
              <h2>{key}</h2>
              <LineChart xLabel="step" series={series} summary={`${key} by step for ${series.length} runs`} />
            </section>
          ))}
        </>
      )}
    </main>
  );
}
