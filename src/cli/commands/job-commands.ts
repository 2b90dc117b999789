import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { assertDate, FINISHED, REPROCESS, RUN_STATUSES } from '../../jobs/job.js';
import type {
  WireBackfillResult,
  WireJob,
  WireJobList,
  WireLogLine,
  WireRun,
  WireRunLogs,
  WireRunPage,
} from '../../jobs/wire.js';
import { type ApiClient, queryOf } from '../api-client.js';
import { wholeNumber } from '../arguments.js';
import type { CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { type Output, table } from '../output.js';

const enc = encodeURIComponent;
/** How often `run --wait` and `logs --follow` ask the server; runs report progress once a second. */
const POLL_MS = 500;

/**
 * `jobs create | ls | show | run | backfill | runs | logs | cancel | pause | resume | delete`: batch
 * scoring jobs and their runs. Runs are named by their number within the job (`12` or `#12`) or id.
 */
export function addJobCommands(program: Command, cli: CliContext): void {
  const jobs = program
    .command('jobs')
    .description('batch scoring jobs: score the rows of a query with a model and write them to a table');

  jobs
    .command('create')
    .description('create a job from a YAML or JSON file holding one spec (as in slipway.yaml `jobs:`)')
    .argument('<file>', 'the spec: name, model, source.query, sink.table, and optional settings')
    .option('--replace', 'create the job, or replace the one of that name')
    .action(async (file: string, options: { replace?: boolean }) => {
      const spec = readSpec(file);
      const api = cli.client();
      const job = options.replace
        ? await api.put<WireJob>(`/api/v1/jobs/${enc(nameOf(spec, file))}`, spec)
        : await api.post<WireJob>('/api/v1/jobs', spec);
      // A job made by this request has not been updated since: both times are the same instant.
      const verb = job.created_at === job.updated_at ? 'Created' : 'Replaced';
      cli
        .output()
        .result(job, () =>
          [
            `${verb} job ${job.name}.`,
            `  model     ${modelOf(job)}`,
            `  schedule  ${scheduleOf(job)}`,
            `  next run  ${nextRunOf(job)}`,
            `  writes    ${job.sink.table} (${job.write_mode}) in ${job.sink.warehouse}`,
          ].join('\n'),
        );
    });

  jobs
    .command('ls')
    .description('list jobs')
    .action(async () => {
      const page = await cli.client().get<WireJobList>('/api/v1/jobs');
      cli.output().result(page, () =>
        page.jobs.length === 0
          ? 'No jobs yet. Create one with: slipway jobs create job.yaml'
          : table(
              ['JOB', 'MODEL', 'SCHEDULE', 'PAUSED', 'SINK', 'NEXT RUN'],
              page.jobs.map((j) => [
                j.name,
                modelOf(j),
                j.schedule === null ? 'manual' : `${j.schedule} (${j.timezone})`,
                j.paused ? 'yes' : 'no',
                j.sink.table,
                j.next_run_at,
              ]),
            ),
      );
    });

  jobs
    .command('show')
    .description('show a job: its spec, when it runs next, and its latest runs')
    .argument('<job>', 'job name')
    .action(async (name: string) => {
      const api = cli.client();
      const [job, page] = await Promise.all([
        api.get<WireJob>(`/api/v1/jobs/${enc(name)}`),
        api.get<WireRunPage>(`/api/v1/jobs/${enc(name)}/runs${queryOf({ limit: 5 })}`),
      ]);
      const { origin, created_by, created_at, updated_at, next_run_at: _, ...spec } = job;
      // The spec as YAML, the rest as YAML comments: the whole is what `jobs create --replace` reads
      // back (but a redacted password in a postgres:// URI must be put back first).
      cli.output().result({ job, runs: page.runs }, () =>
        [
          toYaml(spec, { lineWidth: 0 }).trimEnd(),
          '',
          ...[
            `origin    ${origin === 'config' ? 'slipway.yaml' : 'API'}; created ${created_at} by ${created_by}, updated ${updated_at}`,
            `schedule  ${scheduleOf(job)}`,
            `next run  ${nextRunOf(job)}`,
            '',
            ...(page.runs.length === 0 ? ['No runs yet.'] : ['Latest runs:', runTable(page.runs)]),
          ]
            .join('\n')
            .split('\n')
            .map((line) => `# ${line}`.trimEnd()),
        ].join('\n'),
      );
    });

  jobs
    .command('run')
    .description('queue a run of one logical date; with --wait, follow it to the end')
    .argument('<job>', 'job name')
    .option('--date <YYYY-MM-DD>', "the logical date (default: today in the job's time zone)")
    .option(
      '--wait',
      `wait for the run to finish (Ctrl-C stops waiting, not the run); exit ${EXIT.RUN_FAILED} unless it succeeds`,
    )
    .action(async (name: string, options: { date?: string; wait?: boolean }) => {
      const api = cli.client();
      const out = cli.output();
      const queued = await api.post<WireRun>(`/api/v1/jobs/${enc(name)}/runs`, {
        logical_date: options.date === undefined ? undefined : assertDate(options.date, '--date'),
      });
      if (!options.wait) {
        out.result(
          queued,
          () =>
            `Queued run #${queued.number} of ${name} for ${queued.logical_date} (${queued.id}).\nFollow it with: slipway jobs logs ${name} ${queued.number} --follow`,
        );
        return;
      }
      // The bar goes to stderr; with output redirected or --json, only the outcome is printed.
      const progress =
        !out.json && process.stdout.isTTY && process.stderr.isTTY ? new RunProgressBar(queued) : undefined;
      let run = queued;
      try {
        while (!FINISHED.has(run.status)) {
          await sleep(POLL_MS);
          run = await api.get<WireRun>(runPath(name, run.id));
          progress?.update(run);
        }
      } finally {
        progress?.stop();
      }
      out.result(run, () => outcomeOf(run));
      if (run.status !== 'succeeded') process.exitCode = EXIT.RUN_FAILED;
    });

  jobs
    .command('backfill')
    .description(
      'queue one run per logical date of a range; dates that already ran are skipped unless reprocessed',
    )
    .argument('<job>', 'job name')
    .requiredOption('--from <YYYY-MM-DD>', 'the first logical date')
    .requiredOption('--to <YYYY-MM-DD>', 'the last logical date (included)')
    .addOption(
      new Option('--reprocess <which>', 'dates that already ran to run again (default: none)').choices(
        REPROCESS,
      ),
    )
    .option('--backwards', 'newest date first')
    .action(
      async (
        name: string,
        options: { from: string; to: string; reprocess?: string; backwards?: boolean },
      ) => {
        const result = await cli.client().post<WireBackfillResult>(`/api/v1/jobs/${enc(name)}/backfill`, {
          from: assertDate(options.from, '--from'),
          to: assertDate(options.to, '--to'),
          reprocess: options.reprocess,
          backwards: options.backwards,
        });
        const rows = [
          ...result.queued.map((r) => [r.logical_date, `#${r.number}`, 'queued']),
          ...result.skipped.map((s) => [s.date, undefined, `skipped: ${s.reason}`]),
        ].sort(([a], [b]) => (options.backwards ? -1 : 1) * String(a).localeCompare(String(b)));
        cli
          .output()
          .result(result, () =>
            [
              table(['DATE', 'RUN', 'RESULT'], rows),
              '',
              `Queued ${plural(result.queued.length, 'run')}, skipped ${plural(result.skipped.length, 'date')}.${result.queued.length > 0 ? ` Follow them with: slipway jobs runs ${name}` : ''}`,
            ].join('\n'),
          );
      },
    );

  jobs
    .command('runs')
    .description("a job's runs, newest first")
    .argument('<job>', 'job name')
    .addOption(new Option('--status <status>', 'only runs in this status').choices(RUN_STATUSES))
    .option('--limit <n>', 'how many runs (default 20)')
    .action(async (name: string, options: { status?: string; limit?: string }) => {
      const limit = options.limit === undefined ? 20 : wholeNumber(options.limit, '--limit');
      const out = cli.output();
      const page = await cli
        .client()
        .get<WireRunPage>(`/api/v1/jobs/${enc(name)}/runs${queryOf({ status: options.status, limit })}`);
      out.result(page, () =>
        page.runs.length === 0 ? `No runs. Start one with: slipway jobs run ${name}` : runTable(page.runs),
      );
      if (page.next_page_token) out.info(`(the newest ${limit}; --limit shows more)`);
    });

  jobs
    .command('logs')
    .description("a run's log lines (default: the latest run); --follow prints new ones until it ends")
    .argument('<job>', 'job name')
    .argument('[run]', 'run number (12 or #12) or id')
    .option('--follow', 'keep printing lines until the run finishes')
    .action(async (name: string, reference: string | undefined, options: { follow?: boolean }) => {
      const api = cli.client();
      const out = cli.output();
      const run = reference === undefined ? await latestRun(api, name) : runOf(reference);
      if (run === undefined) {
        out.result(
          { run: null, lines: [] },
          () => `${name} has no runs yet. Start one with: slipway jobs run ${name}`,
        );
        return;
      }
      await printLogs(api, out, name, run, options.follow === true);
    });

  jobs
    .command('cancel')
    .description('cancel a run: a queued one at once, a running one within a batch (it publishes nothing)')
    .argument('<job>', 'job name')
    .argument('<run>', 'run number (12 or #12) or id')
    .action(async (name: string, reference: string) => {
      const run = await cli.client().post<WireRun>(`${runPath(name, runOf(reference))}/cancel`, {});
      cli
        .output()
        .result(run, () =>
          run.status === 'cancelled'
            ? `Cancelled run #${run.number} of ${name} (${run.logical_date}).`
            : `Asked run #${run.number} of ${name} (${run.logical_date}) to stop: it stops within a batch and publishes nothing.`,
        );
    });

  jobs
    .command('pause')
    .description('pause a job: its schedule starts no runs until resumed (runs asked for still run)')
    .argument('<job>', 'job name')
    .action(async (name: string) => {
      const job = await cli.client().post<WireJob>(`/api/v1/jobs/${enc(name)}/pause`, {});
      cli
        .output()
        .result(
          job,
          () => `Paused job ${job.name}; its schedule starts no runs until: slipway jobs resume ${job.name}`,
        );
    });

  jobs
    .command('resume')
    .description("resume a paused job's schedule")
    .argument('<job>', 'job name')
    .action(async (name: string) => {
      const job = await cli.client().post<WireJob>(`/api/v1/jobs/${enc(name)}/resume`, {});
      cli.output().result(job, () => `Resumed job ${job.name}; next run ${nextRunOf(job)}.`);
    });

  jobs
    .command('delete')
    .description('delete a job and its run history (the tables it wrote stay as they are)')
    .argument('<job>', 'job name')
    .action(async (name: string) => {
      await cli.client().delete(`/api/v1/jobs/${enc(name)}`);
      cli
        .output()
        .result(
          { job: name, deleted: true },
          () => `Deleted job ${name} and its run history; the tables it wrote are left as they are.`,
        );
    });
}

/** Reads one job spec from YAML or JSON (YAML reads both). The server checks its fields. */
function readSpec(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new UsageError(`${file} must hold one job spec: a mapping with name, model, source and sink.`);
  }
  return spec as Record<string, unknown>;
}

function nameOf(spec: Record<string, unknown>, file: string): string {
  if (typeof spec.name !== 'string' || spec.name === '') throw new UsageError(`${file} has no job name.`);
  return spec.name;
}

/** `12` and `#12` name a run by its number; anything else is taken as its id. */
function runOf(reference: string): string {
  const run = reference.replace(/^#/, '');
  if (run === '') throw new UsageError(`"${reference}" is not a run: give its number (12 or #12) or id.`);
  return run;
}

const runPath = (job: string, run: string) => `/api/v1/jobs/${enc(job)}/runs/${enc(run)}`;

async function latestRun(api: ApiClient, job: string): Promise<string | undefined> {
  const page = await api.get<WireRunPage>(`/api/v1/jobs/${enc(job)}/runs${queryOf({ limit: 1 })}`);
  return page.runs[0]?.id;
}

/**
 * Prints a run's log lines; following, asks for the lines after the last one seen until the run has
 * finished. With --json, one document at the end: the run and every line.
 */
async function printLogs(
  api: ApiClient,
  out: Output,
  job: string,
  run: string,
  follow: boolean,
): Promise<void> {
  const lines: WireLogLine[] = [];
  let last: WireRun | undefined;
  let finished = false;
  for (;;) {
    const after = lines.at(-1)?.seq;
    const page = await api.get<WireRunLogs>(`${runPath(job, run)}/logs${queryOf({ after })}`);
    if (!out.json) {
      if (last === undefined)
        out.info(`run #${page.run.number} of ${job} (${page.run.logical_date}): ${page.run.status}`);
      for (const line of page.lines) process.stdout.write(`${logLine(line)}\n`);
    }
    lines.push(...page.lines);
    last = page.run;
    // Once the run has finished, one more look: its closing lines are written just after its status.
    if (!follow || finished) break;
    finished = FINISHED.has(page.run.status);
    await sleep(POLL_MS);
  }
  if (out.json) out.result({ run: last, lines }, () => '');
}

/** `<time>  info   message`, a message of several lines (a SQL error) indented under its first. */
const logLine = (line: WireLogLine) =>
  `${line.at}  ${line.level.padEnd(5)}  ${line.message.replaceAll('\n', `\n${' '.repeat(line.at.length + 9)}`)}`;

/**
 * The progress of a run on the terminal: rows read out of the rows expected once the server has
 * counted them (a bar), rows read alone until then, and the recent rate in rows per second.
 */
class RunProgressBar {
  private bar: SingleBar | undefined;
  private total: number | null = null;
  /** Recent (time, rows read) samples: the rate is over the last few seconds, not since the start. */
  private readonly samples: { at: number; rows: number }[] = [];

  constructor(private readonly queued: WireRun) {
    this.update(queued);
  }

  update(run: WireRun): void {
    const now = Date.now();
    this.samples.push({ at: now, rows: run.rows_read });
    while (this.samples.length > 2 && now - this.samples[0]!.at > 5000) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (now - first.at) / 1000;
    const payload = {
      status: run.status,
      speed: seconds > 0 ? Math.round((run.rows_read - first.rows) / seconds) : 0,
    };
    // The count arrives after the first rows may have: start over with a bar once the total is known.
    if (this.bar === undefined || (this.total === null && run.rows_expected !== null)) {
      this.bar?.stop();
      this.total = run.rows_expected;
      const label = `run #${this.queued.number} of ${this.queued.job}`;
      this.bar = new SingleBar({
        format:
          this.total === null
            ? `${label}  {value} rows read | {speed} rows/s | {status}`
            : `${label}  [{bar}] {percentage}% {value}/{total} rows | {speed} rows/s | {status}`,
        clearOnComplete: true,
      });
      this.bar.start(this.total ?? 0, run.rows_read, payload);
    }
    this.bar.update(run.rows_read, payload);
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** How a run ended, for `run --wait`: what happened, the rows, and the error of a run that failed. */
function outcomeOf(run: WireRun): string {
  const took =
    run.duration_ms === null
      ? ''
      : ` ${run.status === 'succeeded' ? 'in' : 'after'} ${durationOf(run.duration_ms)}`;
  const model = run.model ? ` with ${run.model.name}/${run.model.version}` : '';
  const rate =
    run.duration_ms && run.rows_read > 0
      ? ` (${Math.round(run.rows_read / (run.duration_ms / 1000))} rows/s)`
      : '';
  return [
    `Run #${run.number} of ${run.job} (${run.logical_date}) ${run.status}${took}${model}.`,
    `  ${run.rows_read} rows read, ${run.rows_written} written, ${run.rows_failed} failed${rate}`,
    ...(run.error ? [`  error: ${run.error.replaceAll('\n', '\n    ')}`] : []),
  ].join('\n');
}

function runTable(runs: readonly WireRun[]): string {
  return table(
    [
      'RUN',
      'DATE',
      'STATUS',
      'TRIGGER',
      'ATTEMPT',
      'MODEL',
      'READ',
      'WRITTEN',
      'FAILED',
      'DURATION',
      'ERROR',
    ],
    runs.map((r) => [
      `#${r.number}`,
      r.logical_date,
      r.status === 'running' && r.cancel_requested ? 'cancelling' : r.status,
      r.trigger,
      r.attempt,
      r.model && `${r.model.name}/${r.model.version}`,
      r.rows_read,
      r.rows_written,
      r.rows_failed,
      r.duration_ms === null ? undefined : durationOf(r.duration_ms),
      r.error && shorten(r.error, 60),
    ]),
  );
}

/** `marked/3`, `marked@champion`, or `marked (prod)` for the version an environment serves. */
const modelOf = (job: WireJob) => (job.environment ? `${job.model} (${job.environment})` : job.model);

const scheduleOf = (job: WireJob) =>
  job.schedule === null
    ? `none: runs only when asked (slipway jobs run ${job.name})`
    : `${job.schedule} (${job.timezone}), catch-up ${job.catchup}${job.paused ? ', paused' : ''}`;

const nextRunOf = (job: WireJob) =>
  job.next_run_at ?? (job.paused ? `none while paused (slipway jobs resume ${job.name})` : 'none');

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
function durationOf(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${pad(Math.floor((seconds % 3600) / 60))} min`;
}

/** The first line of a message, cut to `max` characters. */
function shorten(message: string, max: number): string {
  const line = message.split('\n')[0]!;
  if (line.length > max) return `${line.slice(0, max - 1)}…`;
  return line === message ? line : `${line}…`;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
