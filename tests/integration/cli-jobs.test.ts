import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { Warehouse } from '../../src/jobs/warehouse/warehouse.js';
import { slipway } from '../helpers/cli.js';
import { jobServer } from '../helpers/jobs.js';
import type { TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

/**
 * `slipway jobs` against a real all-in-one server (the one that schedules and runs jobs), scoring a
 * DuckDB table with `fails-on-marked.onnx` (y = x).
 */
describe('slipway jobs', () => {
  let server: TestServer;
  let warehouse: Warehouse;
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-cli-jobs-'));
  const run = (...args: string[]) => slipway(['--server', server.url, ...args]);
  /** Runs a command with --json, expects success, and returns what it printed. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the CLI printed.
  const json = async (...args: string[]): Promise<any> => {
    const result = await run('--json', ...args);
    expect(result.code, result.stderr || result.stdout).toBe(0);
    return JSON.parse(result.stdout);
  };
  const file = (name: string, text: string) => {
    const path = join(scratch, name);
    writeFileSync(path, text);
    return path;
  };
  /** `jobs create` from a JSON file: the spec with model marked/1 and no retries unless it says otherwise. */
  const createFromJson = (spec: Record<string, unknown>) =>
    json(
      'jobs',
      'create',
      file(`${spec.name}.json`, JSON.stringify({ model: 'marked/1', retries: 0, ...spec })),
    );
  /** Waits until no run of the job is queued or running. */
  const settled = (job: string) =>
    waitFor(`the runs of ${job} to finish`, async () => {
      const { body } = await server.request('GET', `/api/v1/jobs/${job}/runs`);
      return body.runs.some((r: { status: string }) => ['queued', 'running'].includes(r.status))
        ? undefined
        : body.runs;
    });

  const daily = [
    'name: daily',
    "description: Scores the day's events",
    'model: marked/1',
    'source:',
    '  query: SELECT id, x FROM events WHERE day = {{ logical_date }}',
    'sink:',
    '  table: scores',
    'schedule: "0 2 * * *"',
    'retries: 0',
  ];

  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ server, warehouse, stop } = await jobServer());
  });
  afterAll(async () => {
    await stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('creates a job from a YAML file, refuses to create it twice, and replaces it with --replace', async () => {
    const spec = file('daily.yaml', daily.join('\n'));
    const created = await run('jobs', 'create', spec);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^Created job daily/m);
    expect(created.stdout).toMatch(/^\s+model\s+marked\/1$/m);
    expect(created.stdout).toMatch(/^\s+schedule\s+0 2 \* \* \* \(UTC\)/m);
    expect(created.stdout).toMatch(/^\s+next run\s+\d{4}-\d\d-\d\dT02:00:00/m);

    const twice = await run('jobs', 'create', spec);
    expect(twice.code).toBe(EXIT.REFUSED);
    expect(twice.stderr).toContain('[ALREADY_EXISTS]');

    const replaced = await json(
      'jobs',
      'create',
      '--replace',
      file('daily-v2.yaml', [...daily, 'max_error_rate: 0.5'].join('\n')),
    );
    expect(replaced).toMatchObject({ name: 'daily', max_error_rate: 0.5, sink: { table: 'scores' } });

    // The same fields as JSON: a job whose source table does not exist.
    const broken = await createFromJson({
      name: 'broken',
      source: { query: 'SELECT id, x FROM missing_table' },
      sink: { table: 'broken' },
    });
    expect(broken).toMatchObject({ name: 'broken', schedule: null, next_run_at: null });

    expect((await run('jobs', 'create', file('list.yaml', '- name: a\n- name: b\n'))).code).toBe(EXIT.USAGE);
  }, 60_000);

  it('lists jobs as a table', async () => {
    const listed = await run('jobs', 'ls');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^JOB\s+MODEL\s+SCHEDULE\s+PAUSED\s+SINK\s+NEXT RUN$/m);
    expect(listed.stdout).toMatch(
      /^daily\s+marked\/1\s+0 2 \* \* \* \(UTC\)\s+no\s+scores\s+\d{4}-\d\d-\d\dT/m,
    );
    expect(listed.stdout).toMatch(/^broken\s+marked\/1\s+manual\s+no\s+broken\s+-$/m);
  }, 60_000);

  it('shows the spec as YAML, and as JSON with the latest runs', async () => {
    const shown = await run('jobs', 'show', 'daily');
    expect(shown.code, shown.stderr).toBe(0);
    // YAML (the facts and runs as comments) that `jobs create --replace` reads back.
    expect(parseYaml(shown.stdout)).toMatchObject({
      name: 'daily',
      model: 'marked/1',
      source: { query: 'SELECT id, x FROM events WHERE day = {{ logical_date }}' },
      sink: { table: 'scores', errors_table: 'scores_errors' },
      schedule: '0 2 * * *',
      max_error_rate: 0.5,
    });
    expect(shown.stdout).toMatch(/^# next run\s+\d{4}-/m);
    expect(shown.stdout).toContain('# No runs yet.');
    const replaced = await json('jobs', 'create', '--replace', file('shown.yaml', shown.stdout));
    expect(replaced).toMatchObject({ name: 'daily', max_error_rate: 0.5, schedule: '0 2 * * *' });
    const body = await json('jobs', 'show', 'daily');
    expect(body).toMatchObject({ job: { name: 'daily', origin: 'api' }, runs: [] });
  }, 60_000);

  it('runs a date and waits for it: exit 0, and the last line reports the rows', async () => {
    const waited = await run('jobs', 'run', 'daily', '--date', '2001-01-01', '--wait');
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/^Run #1 of daily \(2001-01-01\) succeeded .*marked\/1/m);
    expect(lastLine(waited.stdout)).toMatch(/4 rows read, 4 written, 0 failed/);
    expect(waited.stderr, 'no progress bar without a terminal').toBe('');

    const again = await json('jobs', 'run', 'daily', '--date', '2001-01-01', '--wait');
    expect(again).toMatchObject({
      number: 2,
      status: 'succeeded',
      trigger: 'manual',
      rows_read: 4,
      rows_written: 4,
      rows_failed: 0,
      model: { name: 'marked', version: 1 },
    });
    expect(await warehouse.query('SELECT count(*) AS n, min(job_run_id) AS run FROM scores')).toEqual([
      { n: 4, run: again.id },
    ]);

    const queued = await json('jobs', 'run', 'broken');
    expect(queued).toMatchObject({ number: 1, status: 'queued', trigger: 'manual' });
    await settled('broken');
  }, 60_000);

  it('exits 7 when the run it waits for fails, and says why', async () => {
    const failed = await run('jobs', 'run', 'broken', '--date', '2001-01-01', '--wait');
    expect(failed.code).toBe(EXIT.RUN_FAILED);
    expect(failed.stdout).toMatch(/^Run #2 of broken \(2001-01-01\) failed/m);
    expect(failed.stdout).toContain('missing_table');
    const body = await run('--json', 'jobs', 'run', 'broken', '--date', '2001-01-01', '--wait');
    expect(body.code).toBe(EXIT.RUN_FAILED);
    expect(JSON.parse(body.stdout)).toMatchObject({ number: 3, status: 'failed', rows_written: 0 });
    expect(JSON.parse(body.stdout).error).toMatch(/missing_table/);
  }, 60_000);

  it('backfills three dates, skipping one that already ran unless told to reprocess it', async () => {
    const first = await run('jobs', 'backfill', 'daily', '--from', '2001-01-01', '--to', '2001-01-03');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^DATE\s+RUN\s+RESULT$/m);
    expect(first.stdout).toMatch(/^2001-01-01\s+-\s+skipped: already succeeded/m);
    expect(first.stdout).toMatch(/^2001-01-02\s+#\d+\s+queued$/m);
    expect(first.stdout).toMatch(/^2001-01-03\s+#\d+\s+queued$/m);
    await settled('daily');

    const all = await json(
      'jobs',
      'backfill',
      'daily',
      '--from',
      '2001-01-01',
      '--to',
      '2001-01-03',
      '--reprocess',
      'completed',
      '--backwards',
    );
    expect(all.queued.map((r: { logical_date: string }) => r.logical_date)).toEqual([
      '2001-01-03',
      '2001-01-02',
      '2001-01-01',
    ]);
    expect(all.skipped).toEqual([]);
    await settled('daily');
    expect(
      await warehouse.query('SELECT logical_date, count(*) AS n FROM scores GROUP BY 1 ORDER BY 1'),
    ).toEqual([
      { logical_date: '2001-01-01', n: 4 },
      { logical_date: '2001-01-02', n: 4 },
      { logical_date: '2001-01-03', n: 4 },
    ]);
  }, 60_000);

  it('lists runs newest first, filtered by status and limited', async () => {
    const listed = await run('jobs', 'runs', 'daily');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      /^RUN\s+DATE\s+STATUS\s+TRIGGER\s+ATTEMPT\s+MODEL\s+READ\s+WRITTEN\s+FAILED\s+DURATION\s+ERROR$/m,
    );
    expect(listed.stdout).toMatch(
      /^#7\s+2001-01-01\s+succeeded\s+backfill\s+1\s+marked\/1\s+4\s+4\s+0\s+\S+/m,
    );
    expect(listed.stdout).toMatch(/^#1\s+2001-01-01\s+succeeded\s+manual\s+1\s+marked\/1\s+4\s+4\s+0\s+/m);
    const rows = listed.stdout.trimEnd().split('\n').slice(1);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(['#7', '#6', '#5', '#4', '#3', '#2', '#1']);

    const limited = await json('jobs', 'runs', 'daily', '--limit', '2');
    expect(limited.runs.map((r: { number: number }) => r.number)).toEqual([7, 6]);
    expect(limited.next_page_token).not.toBeNull();

    const failed = await run('jobs', 'runs', 'broken', '--status', 'failed');
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout.trimEnd().split('\n').slice(1)).toHaveLength(3);
    expect(failed.stdout).toMatch(
      /^#3\s+2001-01-01\s+failed\s+manual\s+1\s+marked\/1\s+0\s+0\s+0\s+\S+.*\S/m,
    );
    expect((await run('jobs', 'runs', 'daily', '--status', 'lost')).code).toBe(EXIT.USAGE);
  }, 60_000);

  it("prints the log of a job's latest run, or of a run named by number", async () => {
    const latest = await run('jobs', 'logs', 'daily');
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stderr).toContain('run #7 of daily');
    expect(latest.stdout).toMatch(/resolved to marked\/1[\s\S]*published 4 rows/);
    const failed = await run('jobs', 'logs', 'broken', '#2');
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout).toMatch(/\serror\s+.*missing_table/);
    const body = await json('jobs', 'logs', 'daily', '1');
    expect(body.run).toMatchObject({ number: 1, status: 'succeeded' });
    expect(body.lines.length).toBeGreaterThan(2);
  }, 60_000);

  it('cancels a queued run at once and a running one within a batch; a follower sees it end, a waiter exits 7', async () => {
    await createFromJson({
      name: 'long',
      source: { query: 'SELECT i AS id, CAST(i % 2 AS DOUBLE) AS x FROM range(20000000) t(i)' },
      sink: { table: 'long' },
      batch_rows: 1000,
    });
    const waiting = run('--json', 'jobs', 'run', 'long', '--date', '2001-01-01', '--wait');
    await waitFor('run #1 to write rows', async () => {
      const { body } = await server.request('GET', '/api/v1/jobs/long/runs/1');
      return body.rows_written > 0 ? body : undefined;
    });
    const following = run('jobs', 'logs', 'long', '1', '--follow');

    // The job runs one run at a time: the second waits, queued, and is cancelled at once.
    const queued = await json('jobs', 'run', 'long', '--date', '2001-01-02');
    expect(queued).toMatchObject({ number: 2, status: 'queued' });
    const cancelled = await json('jobs', 'cancel', 'long', '#2');
    expect(cancelled).toMatchObject({ number: 2, status: 'cancelled' });

    const stopping = await run('jobs', 'cancel', 'long', '1');
    expect(stopping.code, stopping.stderr).toBe(0);
    expect(stopping.stdout).toMatch(/run #1 of long/);

    const waited = await waiting;
    expect(waited.code, 'a cancelled run is not a success').toBe(EXIT.RUN_FAILED);
    expect(JSON.parse(waited.stdout)).toMatchObject({ number: 1, status: 'cancelled' });
    const followed = await following;
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(/reading default[\s\S]*cancellation requested by local/);
    expect(lastLine(followed.stdout)).toMatch(/\swarn\s+cancelled$/);

    const again = await run('jobs', 'cancel', 'long', '1');
    expect(again.code).toBe(EXIT.REFUSED);
    expect(again.stderr).toContain('[FAILED_PRECONDITION]');
  }, 120_000);

  it("pauses and resumes a job's schedule", async () => {
    const paused = await run('jobs', 'pause', 'daily');
    expect(paused.code, paused.stderr).toBe(0);
    expect((await json('jobs', 'show', 'daily')).job).toMatchObject({ paused: true, next_run_at: null });
    expect((await run('jobs', 'ls')).stdout).toMatch(
      /^daily\s+marked\/1\s+0 2 \* \* \* \(UTC\)\s+yes\s+scores\s+-$/m,
    );
    const resumed = await json('jobs', 'resume', 'daily');
    expect(resumed).toMatchObject({ paused: false, next_run_at: expect.stringMatching(/T02:00:00/) });
  }, 60_000);

  it('deletes a job with its runs', async () => {
    const deleted = await run('jobs', 'delete', 'broken');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await run('jobs', 'show', 'broken')).code).toBe(EXIT.NOT_FOUND);
    expect((await json('jobs', 'ls')).jobs.map((j: { name: string }) => j.name).sort()).toEqual([
      'daily',
      'long',
    ]);
  }, 60_000);

  it('exits 4 for an unknown job or run, and 2 for a malformed date (nothing is sent)', async () => {
    const missing = await run('jobs', 'show', 'ghost');
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.stderr).toContain('[NOT_FOUND]');
    const body = await run('--json', 'jobs', 'run', 'ghost');
    expect(body.code).toBe(EXIT.NOT_FOUND);
    expect(JSON.parse(body.stdout)).toMatchObject({ code: 'NOT_FOUND', details: { job: 'ghost' } });
    expect((await run('jobs', 'logs', 'daily', '999')).code).toBe(EXIT.NOT_FOUND);
    const date = await run('jobs', 'run', 'daily', '--date', '2001-02-30');
    expect(date.code).toBe(EXIT.USAGE);
    expect(date.stderr).toContain('YYYY-MM-DD');
  }, 60_000);
});
