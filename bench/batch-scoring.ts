/**
 * The batch-scoring bench: score every flight of flights-3m.parquet with examples/flight-delay into a
 * DuckDB table, four ways in one run, and print rows per second and peak memory side by side.
 *
 * - Slipway: a scoring job on the built server (`node bin/slipway.js serve`), from the file into a
 *   table of a DuckDB warehouse.
 * - pandas + scikit-learn, two ways, in the bench venv (bench/python/batch_pandas.py): what teams run
 *   today, pandas writing the table with `DataFrame.to_sql` through SQLAlchemy (`pandas-to-sql`, the
 *   peer of the "5× pandas" target), and the same with DuckDB's Python package ingesting the frame
 *   natively (`pandas`).
 * - the ceiling: the ONNX model alone in onnxruntime-node at a large batch, no I/O
 *   (bench/batch-ceiling.ts), the best of two layouts of the cores.
 *
 *   npx tsx bench/batch-scoring.ts [--peers slipway,pandas,pandas-to-sql,ceiling] [--rows 3000000]
 *
 * See bench/README.md, "Batch scoring".
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { type CeilingResult, featureQuery } from './batch-ceiling.js';
import { SLIPWAY_BASE_ENV } from './peers.js';
import { benchSession, freePort, type Started, tail, waitUntilReady } from './processes.js';
import { profileArgs, profileDir, summarizeProfiles } from './profile.js';
import { formatTable, rate, times } from './report.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE_DIR = join(REPO, 'examples', 'flight-delay');
const MODEL_PATH = join(EXAMPLE_DIR, 'model.onnx');
const MANIFEST_PATH = join(EXAMPLE_DIR, 'manifest.json');
const DATA_PATH = join(REPO, 'node_modules', 'vega-datasets', 'data', 'flights-3m.parquet');
const SLIPWAY_BIN = join(REPO, 'bin', 'slipway.js');
const PANDAS_SCRIPT = join(REPO, 'bench', 'python', 'batch_pandas.py');
const CEILING_SCRIPT = join(REPO, 'bench', 'batch-ceiling.ts');
const ALL_ROWS = 3_000_000;
/**
 * The to_sql peer scores at most this many flights, and its rows/s is what compares. pandas' `to_sql`
 * into DuckDB writes on the order of 10,000 rows per second, so all 3,000,000 flights take 5 minutes
 * on an idle 2-core machine and well over 7 on a busy one; the first 500,000 give the rate in about one.
 */
const TO_SQL_MAX_ROWS = 500_000;
const TABLE = 'flight_delay_scores';
const JOB_NAME = 'flight-delay-bench';
/** How long a Slipway run may take before the bench gives up on it. */
const RUN_TIMEOUT_MS = 15 * 60 * 1000;

/**
 * Slipway's goals for its scoring job: twice the pandas + scikit-learn script that ingests into DuckDB,
 * 80% of onnxruntime's own ceiling on the same model, under 1 GB for the server and its workers.
 */
const TARGETS = { timesPandas: 2, shareOfCeiling: 0.8, peakRssMb: 1024 } as const;
/**
 * The profiled run samples every 10 ms. It is a second run, after the measured one: the profiler's
 * code map adds memory to every process (about 50 MB across the server's six), so the compared
 * figures come from a run without it.
 */
const PROFILE_INTERVAL_MICROS = 10_000;

/** What one peer did: the rows it scored, how long it took and the most memory it held. */
export interface BatchMeasurement {
  readonly id: PeerId;
  readonly label: string;
  readonly rows: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  /** How it ran, for the report. */
  readonly notes: string;
}

interface Failure {
  readonly id: PeerId;
  readonly label: string;
  readonly failure: string;
}

type Result = BatchMeasurement | Failure;
type PeerId = 'slipway' | 'pandas' | 'pandas-to-sql' | 'ceiling';
const PEER_LABELS: Readonly<Record<PeerId, string>> = {
  slipway: 'Slipway job',
  pandas: 'pandas + scikit-learn (DuckDB ingest)',
  'pandas-to-sql': 'pandas + scikit-learn (to_sql)',
  ceiling: 'ceiling (onnxruntime-node, no I/O)',
};

const { values: args } = parseArgs({
  options: {
    peers: { type: 'string', default: 'slipway,pandas,pandas-to-sql,ceiling' },
    rows: { type: 'string' },
    'skip-profile': { type: 'boolean', default: false },
  },
});
const wanted = (args.peers ?? '').split(',').filter((id) => id !== '');
const unknown = wanted.filter((id) => !(id in PEER_LABELS));
if (unknown.length > 0) {
  throw new Error(
    `unknown peers ${unknown.join(', ')}; the peers are ${Object.keys(PEER_LABELS).join(', ')}`,
  );
}
/** `--rows N` scores the first N flights only (SQL LIMIT, and the first N rows in pandas). */
const limit = args.rows === undefined ? undefined : Number(args.rows);
if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
  throw new Error(`--rows must be a positive integer, got ${args.rows}`);
}
const rows = limit ?? ALL_ROWS;

const { progress, workDir, processes } = benchSession('slipway-batch-bench-');

/** The last line a finished process printed, parsed as JSON. */
function lastJsonLine<T>(started: Started): T {
  const lines = readFileSync(started.log, 'utf8').trimEnd().split('\n');
  return JSON.parse(lines.at(-1) ?? '') as T;
}

/** Rows in the scores table of a DuckDB file, read after its writer has finished. */
async function countRows(database: string): Promise<number> {
  const instance = await DuckDBInstance.create(database, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(`SELECT count(*)::DOUBLE AS n FROM ${TABLE}`);
    connection.closeSync();
    return Number(reader.getColumns()[0]?.[0]);
  } finally {
    instance.closeSync();
  }
}

function checkRowCount(label: string, written: number, expected = rows): void {
  if (written !== expected) {
    throw new Error(`${label} wrote ${written} rows to ${TABLE}, expected ${expected}`);
  }
}

const python = resolve(process.env.BENCH_PYTHON ?? '.venv-bench/bin/python');
let pickled: Promise<string> | undefined;
/** The retrained scikit-learn pipeline, checked against model.onnx: made once, for both pandas peers. */
function pandasModel(): Promise<string> {
  pickled ??= (async () => {
    const joblib = join(workDir, 'pandas', 'model.joblib');
    progress('  retraining the scikit-learn pipeline and checking it against model.onnx (not timed)');
    await processes.run('batch-pandas-prepare', python, [PANDAS_SCRIPT, 'prepare', '--out', joblib]);
    return joblib;
  })();
  return pickled;
}

/** Both pandas peers: the same read, features, model and columns; only who writes the table differs. */
async function measurePandas(id: 'pandas' | 'pandas-to-sql'): Promise<BatchMeasurement> {
  const writer = id === 'pandas' ? 'duckdb' : 'to_sql';
  const scored = writer === 'to_sql' ? Math.min(rows, TO_SQL_MAX_ROWS) : rows;
  const joblib = await pandasModel();
  const database = join(workDir, id, 'scores.duckdb');
  mkdirSync(join(workDir, id), { recursive: true });
  const score = ['score', '--model', joblib, '--data', DATA_PATH, '--database', database, '--writer', writer];
  if (limit !== undefined || scored < rows) score.push('--rows', String(scored));
  if (scored < rows) progress(`  to_sql scores the first ${scored} of the ${rows} flights (rows/s compares)`);
  const run = processes.start(`batch-${id}`, python, [PANDAS_SCRIPT, ...score]);
  const code = await run.exited;
  if (code !== 0) throw new Error(`batch_pandas.py exited with ${code}:\n${tail(run.log)}`);
  const measured = lastJsonLine<{ rows: number; seconds: number; peak_rss_mb: number; writer: string }>(run);
  checkRowCount(PEER_LABELS[id], await countRows(database), scored);
  const subset =
    scored < rows
      ? `; MEASURED ON THE FIRST ${scored} OF ${rows} FLIGHTS (all ${rows} would take about ` +
        `${Math.round(rows / (measured.rows / measured.seconds) / 60)} min at this rate): rows/s is the compared ` +
        'figure; read as with --rows (pyarrow, the first batches of the file), and the peak is that of the smaller frame'
      : '';
  return {
    id,
    label: PEER_LABELS[id],
    rows: measured.rows,
    seconds: measured.seconds,
    peakRssMb: measured.peak_rss_mb,
    notes:
      `pd.read_parquet (pyarrow) → features in pandas → Pipeline.predict_proba → ${measured.writer}; ` +
      `timed from read to write, peak = the Python process (ru_maxrss); scikit-learn threads at their defaults${subset}`,
  };
}

async function measureCeiling(): Promise<BatchMeasurement> {
  const run = processes.start('batch-ceiling', process.execPath, [
    ...['--import', 'tsx', CEILING_SCRIPT],
    ...['--data', DATA_PATH, '--model', MODEL_PATH, '--rows', String(rows)],
  ]);
  const code = await run.exited;
  if (code !== 0) throw new Error(`batch-ceiling.ts exited with ${code}:\n${tail(run.log)}`);
  const result = lastJsonLine<CeilingResult>(run);
  for (const layout of result.layouts) {
    progress(`  ${layout.layout}: ${rate(layout.rows / layout.seconds)} rows/s`);
  }
  // Strict: the ceiling is the fastest layout this machine ran.
  const best = result.layouts.reduce((a, b) => (a.rows / a.seconds >= b.rows / b.seconds ? a : b));
  return {
    id: 'ceiling',
    label: PEER_LABELS.ceiling,
    rows: best.rows,
    seconds: best.seconds,
    peakRssMb: result.peakRssMb,
    notes:
      `model.onnx on pre-built tensors of the first 65,536 flights, repeated; best of ` +
      `${result.layouts.map((l) => `${l.layout} ${rate(l.rows / l.seconds)} rows/s`).join(', ')} (${best.layout} counts)`,
  };
}

/** Every descendant of `root` (its forked inference workers, theirs in turn), from /proc. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone since readdir.
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** One process of a tree and the most resident memory it held. */
interface ProcessPeak {
  readonly pid: number;
  /** `server` for the root, `inference worker` for Slipway's ONNX workers, else the command. */
  readonly role: string;
  readonly peakRssMb: number;
}

interface TreePeak {
  /** The sum of every process's own peak: the compared figure. */
  readonly totalMb: number;
  /** The root first, then its descendants in the order they were first seen. */
  readonly processes: readonly ProcessPeak[];
}

/** What a process of Slipway's tree is, from its command line. */
function role(pid: number, root: number): string {
  if (pid === root) return 'server';
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (command.some((arg) => /onnx-worker\.[jt]s$/.test(arg))) return 'inference worker';
    if (command.some((arg) => arg.endsWith('slipway.js'))) return 'HTTP process';
    return command.map((arg) => arg.split('/').at(-1)).join(' ') || 'process';
  } catch {
    return 'process';
  }
}

/**
 * Samples the peak resident memory (VmHWM) of a process and all its descendants until stopped, and
 * reports each one's own peak, even if it has exited since, and their sum. Peaks that did not happen
 * at the same moment are added up, so the sum can only overstate the memory the tree held at once.
 */
function sampleTreePeak(root: number): { stop: () => Promise<TreePeak> } {
  const peaks = new Map<number, { role: string; mb: number }>();
  let running = true;
  const sample = () => {
    for (const pid of [root, ...descendants(root)]) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kilobytes = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        const seen = peaks.get(pid) ?? { role: role(pid, root), mb: 0 };
        peaks.set(pid, { role: seen.role, mb: Math.max(seen.mb, kilobytes / 1024) });
      } catch {
        // Exited between listing and reading; its last sample stands.
      }
    }
  };
  const loop = (async () => {
    while (running) {
      sample();
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      sample();
      const processes = [...peaks].map(([pid, { role, mb }]) => ({ pid, role, peakRssMb: mb }));
      return { totalMb: processes.reduce((sum, p) => sum + p.peakRssMb, 0), processes };
    },
  };
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** A job run as the API reports it (the fields the bench reads). */
interface JobRun {
  readonly id: string;
  readonly status: string;
  readonly rows_written?: number;
  readonly duration_ms?: number | null;
  readonly error?: string | null;
}

interface FinishedRun {
  readonly run: JobRun;
  /** From the job's creation to the poll that saw the run finished, by the bench's clock. */
  readonly wallSeconds: number;
}

/** Creates the bench's job on a server with flight-delay/1, runs it once and waits until the run succeeds. */
async function runJob(base: string, warehouse: string): Promise<FinishedRun> {
  const begin = performance.now();
  // JOB API: create the job, start one run, poll the run until it has finished.
  //   POST /api/v1/jobs                   {name, model, source: {warehouse, query}, sink: {warehouse, table}, write_mode}
  //   POST /api/v1/jobs/{name}/runs       {} → {"id": ...}
  //   GET  /api/v1/jobs/{name}/runs/{id}  → {"status": "queued" | "running" | "succeeded" | "failed" | "cancelled",
  //                                          "rows_written": n, "duration_ms": ms, "error": ...}
  // The flights are read through a `files:` warehouse over their folder (a job's query reads only its
  // source warehouse's folder) and written to a DuckDB file; the query names its columns after the
  // model's inputs.
  await api(base, 'POST', '/api/v1/jobs', {
    name: JOB_NAME,
    model: 'flight-delay/1',
    source: { warehouse: `files:${dirname(DATA_PATH)}`, query: featureQuery(DATA_PATH, limit) },
    sink: { warehouse: `duckdb:${warehouse}`, table: TABLE },
    write_mode: 'replace',
  });
  const { id } = (await api(base, 'POST', `/api/v1/jobs/${JOB_NAME}/runs`, {})) as { id: string };
  let reported = 0;
  for (;;) {
    const run = (await api(base, 'GET', `/api/v1/jobs/${JOB_NAME}/runs/${id}`)) as JobRun;
    const wallSeconds = (performance.now() - begin) / 1000;
    if (wallSeconds - reported >= 10) {
      reported = wallSeconds;
      progress(
        `  run ${id} ${run.status}, ${run.rows_written ?? 0} rows written after ${Math.round(wallSeconds)} s`,
      );
    }
    if (run.status === 'succeeded') return { run, wallSeconds };
    if (!['queued', 'running'].includes(run.status)) {
      throw new Error(`run ${id} ${run.status}: ${run.error ?? '(no error given)'}`);
    }
    if (wallSeconds * 1000 > RUN_TIMEOUT_MS) throw new Error(`run ${id} still ${run.status} after 15 min`);
    await sleep(200);
  }
}

/**
 * Slipway's row: the built server with the example model pushed, and one run of a job that scores the
 * flights file into a table of a DuckDB warehouse. Time and rows are the run's own; peak memory is the
 * server's process tree's, sampled from the job's creation to the end of its run.
 */
let profileSummary: string | undefined;

async function measureSlipway(): Promise<BatchMeasurement> {
  const measured = await runSlipway('slipway', null);
  if (!args['skip-profile']) {
    const profiles = profileDir('batch');
    progress('  Slipway again, under the profiler (for the profile summary only)');
    const profiled = await runSlipway('slipway-profiled', profiles);
    profileSummary = summarizeProfiles(
      profiles,
      `Profile of Slipway's batch run (a second run, under the profiler: every process sampled every ` +
        `${PROFILE_INTERVAL_MICROS / 1000} ms; ${profiled.seconds.toFixed(1)} s, peak ${Math.round(profiled.peakRssMb)} MB; ` +
        `the table's figures come from the run without it)`,
    );
  }
  return measured;
}

/** One server, one run of the job; with `profiles`, every process of it writes a CPU profile there. */
async function runSlipway(name: string, profiles: string | null): Promise<BatchMeasurement> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const cwd = join(workDir, name);
  mkdirSync(cwd);
  // A .env or slipway.yaml in the repository, and SLIPWAY_* variables of the shell, stay out of it.
  const inherited = Object.keys(process.env).filter((key) => key.startsWith('SLIPWAY_'));
  // The serving bench's settings (auth off, 2 inference workers) on an all-in-one server: batch jobs
  // run on the control server, which serves every environment.
  const { SLIPWAY_ENV: _servedEnvironment, ...env } = SLIPWAY_BASE_ENV;
  const nodeArgs = profiles ? profileArgs(profiles, PROFILE_INTERVAL_MICROS) : [];
  const server = processes.start(name, process.execPath, [...nodeArgs, SLIPWAY_BIN, 'serve'], {
    cwd,
    env: {
      ...Object.fromEntries(inherited.map((key) => [key, undefined])),
      ...env,
      SLIPWAY_PORT: String(port),
      SLIPWAY_DATA_DIR: join(cwd, 'data'),
    },
  });
  // A warehouse in a folder of its own: none may hold Slipway's data folder.
  mkdirSync(join(workDir, `${name}-warehouse`));
  const warehouse = join(workDir, `${name}-warehouse`, 'warehouse.duckdb');
  let peak: TreePeak = { totalMb: Number.NaN, processes: [] };
  try {
    await waitUntilReady(server, `${base}/health`);
    const push = ['models', 'push', MODEL_PATH, '--manifest', MANIFEST_PATH, '--server', base];
    await processes.run(`${name}-push`, process.execPath, [SLIPWAY_BIN, ...push], { cwd });

    const memory = sampleTreePeak(server.child.pid as number);
    let finished: FinishedRun;
    try {
      finished = await runJob(base, warehouse);
    } finally {
      peak = await memory.stop();
    }
    const { run, wallSeconds } = finished;
    // The run's own duration when the server reports it; else the bench's clock (which adds the polling).
    const seconds = typeof run.duration_ms === 'number' ? run.duration_ms / 1000 : wallSeconds;
    // A clean stop: each process writes its CPU profile as it exits.
    await processes.stop(server, 30_000);
    checkRowCount('Slipway', await countRows(warehouse));
    return {
      id: 'slipway',
      label: PEER_LABELS.slipway,
      rows: run.rows_written ?? Number.NaN,
      seconds,
      peakRssMb: peak.totalMb,
      notes:
        `node bin/slipway.js serve (${Object.entries(env)
          .map(([key, value]) => `${key}=${value}`)
          .join(' ')}, other settings at their defaults), ` +
        `job flight-delay/1 from read_parquet into DuckDB; ${typeof run.duration_ms === 'number' ? 'duration_ms' : 'bench clock'} ` +
        `(${wallSeconds.toFixed(1)} s by the bench's clock); peak = server + its descendants (sum of VmHWM): ` +
        peak.processes.map((p) => `${p.role} ${p.pid} ${Math.round(p.peakRssMb)} MB`).join(' + ') +
        ` = ${Math.round(peak.totalMb)} MB`,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nserver log:\n${tail(server.log)}`);
  } finally {
    await processes.stop(server);
  }
}

const MEASURE: Readonly<Record<PeerId, () => Promise<BatchMeasurement>>> = {
  slipway: measureSlipway,
  pandas: () => measurePandas('pandas'),
  'pandas-to-sql': () => measurePandas('pandas-to-sql'),
  ceiling: measureCeiling,
};

progress(
  `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ` +
    `load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
);
progress(
  `Scoring ${limit === undefined ? 'all 3,000,000' : `the first ${limit}`} flights of flights-3m.parquet`,
);

const results: Result[] = [];
for (const id of (Object.keys(PEER_LABELS) as PeerId[]).filter((peer) => wanted.includes(peer))) {
  progress(`${PEER_LABELS[id]}`);
  try {
    const measured = await MEASURE[id]();
    progress(
      `  ${measured.rows} rows in ${measured.seconds.toFixed(1)} s: ${rate(measured.rows / measured.seconds)} rows/s, ` +
        `peak ${Math.round(measured.peakRssMb)} MB`,
    );
    results.push(measured);
  } catch (error) {
    progress(`FAILED ${(error as Error).message}`);
    results.push({ id, label: PEER_LABELS[id], failure: (error as Error).message });
  } finally {
    await processes.stopAll();
  }
}

const measured = (id: PeerId) =>
  results.find((result): result is BatchMeasurement => result.id === id && !('failure' in result));
const rowsPerSecond = (m: BatchMeasurement | undefined) => (m ? m.rows / m.seconds : Number.NaN);
const percent = (value: number) => (Number.isFinite(value) ? `${Math.round(value * 100)}%` : '-');
const slipway = rowsPerSecond(measured('slipway'));
const ceiling = rowsPerSecond(measured('ceiling'));
// The "5× pandas" target's peer is pandas writing the table (to_sql); DuckDB's ingest of the frame is shown beside it.
const pandasToSql = rowsPerSecond(measured('pandas-to-sql'));
const pandasIngest = rowsPerSecond(measured('pandas'));

const table = formatTable(
  ['peer', 'rows', 'seconds', 'rows/s', 'peak RSS MB', 'vs ceiling', 'Slipway ÷ peer'],
  results.map((result) =>
    'failure' in result
      ? [result.label, '-', 'FAILED', '-', '-', '-', '-']
      : [
          result.label,
          String(result.rows),
          result.seconds.toFixed(1),
          rate(rowsPerSecond(result)),
          String(Math.round(result.peakRssMb)),
          percent(rowsPerSecond(result) / ceiling),
          times(slipway / rowsPerSecond(result)),
        ],
  ),
);
const verdict = (met: boolean, known: boolean) => (!known ? 'n/a (not measured)' : met ? 'met' : 'MISSED');
const slipwayPeak = measured('slipway')?.peakRssMb ?? Number.NaN;
const targets = formatTable(
  ['target', 'measured', 'verdict'],
  [
    [
      `Slipway ≥ ${TARGETS.timesPandas}× ${PEER_LABELS.pandas}`,
      times(slipway / pandasIngest),
      verdict(slipway / pandasIngest >= TARGETS.timesPandas, Number.isFinite(slipway / pandasIngest)),
    ],
    [
      `  the same against ${PEER_LABELS['pandas-to-sql']}, for reference`,
      times(slipway / pandasToSql),
      Number.isFinite(slipway / pandasToSql)
        ? `would be ${slipway / pandasToSql >= TARGETS.timesPandas ? 'met' : 'MISSED'}`
        : 'n/a (not measured)',
    ],
    [
      `Slipway ≥ ${percent(TARGETS.shareOfCeiling)} of the ceiling`,
      percent(slipway / ceiling),
      verdict(slipway / ceiling >= TARGETS.shareOfCeiling, Number.isFinite(slipway / ceiling)),
    ],
    [
      `Slipway peak RSS < ${TARGETS.peakRssMb} MB`,
      Number.isFinite(slipwayPeak) ? `${Math.round(slipwayPeak)} MB` : '-',
      verdict(slipwayPeak < TARGETS.peakRssMb, Number.isFinite(slipwayPeak)),
    ],
  ],
  [0, 2],
);
const commit = (() => {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown (not a git checkout)';
  }
})();

const print = (text = '') => process.stdout.write(`${text}\n`);
print();
print(`Batch scoring (flight-delay, ${rows} flights of flights-3m.parquet into a DuckDB table)`);
print(table);
for (const result of results) if ('failure' in result) print(`FAILED ${result.label}: ${result.failure}`);
for (const result of results) {
  if (!('failure' in result) && result.rows < rows) {
    print(
      `NOTE ${result.label} scored the first ${result.rows} of the ${rows} flights only: compare rows/s.`,
    );
  }
}
print();
print('Targets');
print(targets);
print();
if (profileSummary) {
  print(profileSummary);
  print();
}
print(`How each peer ran (Slipway at ${commit})`);
for (const result of results) if (!('failure' in result)) print(`  ${result.label}: ${result.notes}`);
print('Absolute figures drift with the machine and whatever else runs on it; compare the ratios.');

process.exitCode = results.some((result) => 'failure' in result) ? 1 : 0;
