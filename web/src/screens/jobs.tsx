import { useEffect, useRef, useState } from 'preact/hooks';
import { call, enc, query } from '../api.js';
import { LIVE_INTERVAL_MS, useAction, useLoad } from '../hooks.js';
import { href } from '../router.js';
import type { Job, JobRun, RunLogLine } from '../types.js';
import {
  Badge,
  ErrorNote,
  Head,
  KeyValues,
  Loading,
  num,
  RoleButton,
  TableBox,
  usePages,
  When,
} from '../ui.js';

export function JobsScreen({ parts }: { parts: readonly string[] }) {
  const [name, sub, run] = parts;
  if (name && sub === 'runs' && run) return <RunDetail job={name} run={run} />;
  if (name) return <JobDetail name={name} />;
  return <JobList />;
}

function JobList() {
  const jobs = useLoad(
    () => call<{ jobs: Job[] }>('GET', '/api/v1/jobs').then((r) => r.jobs),
    'jobs',
    LIVE_INTERVAL_MS * 5,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>Jobs</h1>
      <ErrorNote error={jobs.error} />
      {jobs.data ? (
        <TableBox label="Jobs">
          <table>
            <Head columns={['job', 'model', 'schedule', 'next run', 'writes to']} />
            <tbody>
              {jobs.data.map((j) => (
                <tr key={j.name}>
                  <td>
                    <a href={href(['jobs', j.name])}>{j.name}</a>
                  </td>
                  <td>
                    {j.model}
                    {j.environment ? ` (${j.environment})` : ''}
                  </td>
                  <td>
                    {j.schedule ? `${j.schedule} ${j.timezone}` : 'on demand'}
                    {j.paused ? ' · paused' : ''}
                  </td>
                  <td>
                    <When at={j.next_run_at} />
                  </td>
                  <td class="mono">{j.sink.table}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      ) : (
        <Loading />
      )}
      {jobs.data?.length === 0 ? <p class="muted">No jobs.</p> : null}
    </main>
  );
}

/** Rows per second of a run: over its whole duration once finished, or so far while it runs. */
function rowsPerSecond(run: JobRun): number | null {
  if (!run.started_at) return null;
  const ms = run.duration_ms ?? Date.now() - Date.parse(run.started_at);
  return ms > 0 ? run.rows_read / (ms / 1000) : null;
}

function JobDetail({ name }: { name: string }) {
  const base = `/api/v1/jobs/${enc(name)}`;
  const job = useLoad(() => call<Job>('GET', base), name);
  const pages = usePages();
  const runs = useLoad(
    () =>
      call<{ runs: JobRun[]; next_page_token: string | null }>(
        'GET',
        `${base}/runs${query({ limit: 25, page_token: pages.token })}`,
      ),
    `${name}:${pages.token ?? ''}`,
    LIVE_INTERVAL_MS,
  );
  const today = new Date().toISOString().slice(0, 10);
  const [date, setDate] = useState(today);
  const [from, setFrom] = useState(today);
  const [to, setTo] = useState(today);
  const [reprocess, setReprocess] = useState('none');
  const action = useAction();
  const [note, setNote] = useState('');
  const refresh = () => {
    pages.reset();
    runs.reload();
    job.reload();
  };
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / {name}
      </p>
      <h1>{name}</h1>
      <ErrorNote error={job.error} />
      {job.data ? (
        <>
          <p>{job.data.description}</p>
          <KeyValues
            label="Job"
            values={{
              model: job.data.model + (job.data.environment ? ` in ${job.data.environment}` : ''),
              schedule: job.data.schedule ? `${job.data.schedule} (${job.data.timezone})` : 'on demand',
              'next run': job.data.next_run_at ?? '—',
              table: job.data.sink.table,
              paused: job.data.paused ? 'yes' : 'no',
            }}
          />
          <div class="actions">
            <RoleButton
              needs="deployer"
              onClick={() =>
                action.run(
                  () => call('POST', `${base}/${job.data!.paused ? 'resume' : 'pause'}`, {}),
                  refresh,
                )
              }
            >
              {job.data.paused ? 'Resume schedule' : 'Pause schedule'}
            </RoleButton>
          </div>
        </>
      ) : null}
      <div class="grid2">
        <form
          class="panel"
          aria-label="Run a date"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              const run = await call<JobRun>('POST', `${base}/runs`, { logical_date: date });
              setNote(`Queued run ${run.number} for ${run.logical_date}.`);
            }, refresh);
          }}
        >
          <h2>Run a date</h2>
          <label for="run-date">Logical date</label>
          <input id="run-date" type="date" value={date} onInput={(e) => setDate(e.currentTarget.value)} />
          <div class="actions">
            <RoleButton needs="deployer" type="submit" disabled={action.busy}>
              Run {date}
            </RoleButton>
          </div>
        </form>
        <form
          class="panel"
          aria-label="Backfill a range"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              const result = await call<{ queued: JobRun[]; skipped: { date: string; reason: string }[] }>(
                'POST',
                `${base}/backfill`,
                { from, to, reprocess },
              );
              setNote(`Queued ${result.queued.length} runs; skipped ${result.skipped.length}.`);
            }, refresh);
          }}
        >
          <h2>Backfill a range</h2>
          <div class="row">
            <div>
              <label for="backfill-from">From</label>
              <input
                id="backfill-from"
                type="date"
                value={from}
                onInput={(e) => setFrom(e.currentTarget.value)}
              />
            </div>
            <div>
              <label for="backfill-to">To</label>
              <input id="backfill-to" type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
            </div>
          </div>
          <label for="backfill-reprocess">Run again dates that already ran</label>
          <select
            id="backfill-reprocess"
            value={reprocess}
            onChange={(e) => setReprocess(e.currentTarget.value)}
          >
            <option value="none">none</option>
            <option value="failed">failed or cancelled</option>
            <option value="completed">all</option>
          </select>
          <div class="actions">
            <RoleButton needs="deployer" type="submit" disabled={action.busy}>
              Backfill
            </RoleButton>
          </div>
        </form>
      </div>
      <ErrorNote error={action.error} />
      {note ? <p role="status">{note}</p> : null}
      <h2>Runs</h2>
      <ErrorNote error={runs.error} />
      {runs.data ? (
        <>
          <TableBox label="Runs">
            <table>
              <Head
                columns={[
                  'run',
                  'date',
                  'status',
                  'trigger',
                  '#rows',
                  '#rows/s',
                  '#rejected',
                  'started',
                  'model',
                ]}
              />
              <tbody>
                {runs.data.runs.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <a href={href(['jobs', name, 'runs', r.number])}>#{r.number}</a>
                    </td>
                    <td>{r.logical_date}</td>
                    <td>
                      <Badge value={r.status} />
                    </td>
                    <td>{r.trigger}</td>
                    <td class="num">{num(r.rows_written)}</td>
                    <td class="num">{num(rowsPerSecond(r), 3)}</td>
                    <td class="num">{num(r.rows_failed)}</td>
                    <td>
                      <When at={r.started_at} />
                    </td>
                    <td>{r.model ? `${r.model.name} v${r.model.version}` : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {runs.data.runs.length === 0 ? <p class="muted">No runs yet.</p> : null}
          {pages.pager(runs.data.next_page_token)}
        </>
      ) : (
        <Loading />
      )}
    </main>
  );
}

/** A run and its log, followed while it runs (`?after=<seq>` brings only the new lines). */
function RunDetail({ job, run }: { job: string; run: string }) {
  const base = `/api/v1/jobs/${enc(job)}/runs/${enc(run)}`;
  const [state, setState] = useState<{ run: JobRun | null; lines: RunLogLine[]; error?: Error }>({
    run: null,
    lines: [],
  });
  const last = useRef(0);
  const box = useRef<HTMLPreElement>(null);
  const action = useAction();
  useEffect(() => {
    last.current = 0;
    setState({ run: null, lines: [] });
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const follow = async () => {
      try {
        const answer = await call<{ run: JobRun; lines: RunLogLine[] }>(
          'GET',
          `${base}/logs${query({ after: last.current || undefined })}`,
        );
        if (stopped) return;
        const fresh = answer.lines.filter((l) => l.seq > last.current);
        if (fresh.length > 0) last.current = fresh[fresh.length - 1]!.seq;
        setState((s) => ({ run: answer.run, lines: [...s.lines, ...fresh] }));
        const finished = ['succeeded', 'failed', 'cancelled'].includes(answer.run.status);
        if (!finished) timer = setTimeout(follow, 1000);
      } catch (error) {
        if (!stopped) setState((s) => ({ ...s, error: error as Error }));
      }
    };
    void follow();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [base]);
  useEffect(() => {
    const element = box.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [state.lines.length]);
  const r = state.run;
  const progress = r?.rows_expected ? Math.min(1, r.rows_read / r.rows_expected) : null;
  return (
    <main id="main" tabIndex={-1}>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / <a href={href(['jobs', job])}>{job}</a> / run {run}
      </p>
      <h1>
        {job} run {r ? `#${r.number}` : run} {r ? <Badge value={r.status} /> : null}
      </h1>
      <ErrorNote error={state.error} />
      {!r ? (
        <Loading />
      ) : (
        <>
          <KeyValues
            label="Run"
            values={{
              'logical date': r.logical_date,
              trigger: `${r.trigger} by ${r.actor}`,
              model: r.model ? `${r.model.name} v${r.model.version}` : '—',
              'rows read': r.rows_read,
              'rows written': r.rows_written,
              rejected: r.rows_failed,
              'rows/s': num(rowsPerSecond(r), 3),
              duration: r.duration_ms !== null ? `${num(r.duration_ms / 1000, 3)} s` : '—',
              error: r.error ?? '—',
            }}
          />
          {progress !== null ? (
            <div
              class="bar"
              role="progressbar"
              aria-label="Rows read"
              aria-valuenow={Math.round(progress * 100)}
              aria-valuemin={0}
              aria-valuemax={100}
            >
              <span class={`w${Math.round(progress * 20) * 5}`} />
            </div>
          ) : null}
          {r.status === 'queued' || r.status === 'running' ? (
            <div class="actions">
              <RoleButton
                needs="deployer"
                class="danger"
                onClick={() => action.run(() => call('POST', `${base}/cancel`, {}))}
              >
                Cancel run
              </RoleButton>
            </div>
          ) : null}
          <ErrorNote error={action.error} />
        </>
      )}
      <h2>Log</h2>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls; a keyboard must reach it. */}
      <pre class="log" ref={box} tabIndex={0} role="log" aria-label="Run log">
        {state.lines.map((l) => (
          <div key={l.seq} class={l.level}>
            {l.at.slice(11, 19)} {l.level.padEnd(5)} {l.message}
          </div>
        ))}
      </pre>
    </main>
  );
}
