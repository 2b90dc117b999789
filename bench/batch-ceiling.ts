/**
 * The batch-scoring ceiling: examples/flight-delay/model.onnx alone in onnxruntime-node, no I/O.
 * bench/batch-scoring.ts runs it in a process of its own, so that its peak memory is its own:
 *
 *   node --import tsx bench/batch-ceiling.ts --data flights-3m.parquet --rows 3000000 [--batch 65536]
 *
 * It reads the first `--batch` flights once (the model inputs, derived by DuckDB as a job's query
 * derives them), builds the input tensors once, then runs the model on them again and again until it
 * has scored at least `--rows` rows, in each of two layouts of the machine's cores:
 *
 * - one session with one intra-op thread per core;
 * - one session per core with one intra-op thread each (Slipway's worker settings), all running at
 *   once: onnxruntime-node runs each `session.run` on a thread of libuv's pool, so the sessions
 *   compute in parallel.
 *
 * Prints one JSON line: each layout's rows and seconds, and the process's peak resident memory.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import ort from 'onnxruntime-node';
import { SESSION_OPTIONS } from '../src/runtime/onnx/session-options.js';

export interface CeilingLayout {
  readonly layout: string;
  readonly rows: number;
  readonly seconds: number;
}

export interface CeilingResult {
  readonly layouts: readonly CeilingLayout[];
  /** VmHWM of this process, in MB. */
  readonly peakRssMb: number;
}

/** The model inputs as a scoring job's query derives them from the flights file. */
export function featureQuery(parquet: string, limit?: number): string {
  const path = parquet.replaceAll("'", "''");
  return (
    'SELECT hour(date) AS hour, dayofweek(date) AS weekday, month(date) AS month, distance, origin, destination, date ' +
    `FROM read_parquet('${path}')${limit === undefined ? '' : ` LIMIT ${limit}`}`
  );
}

/** This process's peak resident memory (VmHWM), in MB. */
export function ownPeakRssMb(pid: number | 'self' = 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kilobytes === undefined ? 0 : Number(kilobytes) / 1024;
}

async function readBatch(parquet: string, rows: number): Promise<Record<string, ort.Tensor>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll(
    `SELECT hour::FLOAT AS hour, weekday::FLOAT AS weekday, month::FLOAT AS month, distance::FLOAT AS distance, ` +
      `origin, destination FROM (${featureQuery(parquet, rows)})`,
  );
  const columns = reader.getColumnsObjectJS() as Record<string, (number | string)[]>;
  connection.closeSync();
  instance.closeSync();
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, values] of Object.entries(columns)) {
    feeds[name] =
      typeof values[0] === 'string'
        ? new ort.Tensor('string', values as string[], [values.length, 1])
        : new ort.Tensor('float32', Float32Array.from(values as number[]), [values.length, 1]);
  }
  return feeds;
}

/** Runs every session back to back, all at once, until together they have scored `rows` rows. */
async function measureLayout(
  layout: string,
  sessions: readonly ort.InferenceSession[],
  feeds: Record<string, ort.Tensor>,
  batch: number,
  rows: number,
): Promise<CeilingLayout> {
  await Promise.all(sessions.map((session) => session.run(feeds)));
  const runs = Math.max(1, Math.ceil(rows / batch));
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    sessions.map(async (session) => {
      while (started < runs) {
        started += 1;
        await session.run(feeds);
      }
    }),
  );
  const seconds = (performance.now() - begin) / 1000;
  await Promise.all(sessions.map((session) => session.release()));
  return { layout, rows: runs * batch, seconds };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      rows: { type: 'string', default: '3000000' },
      batch: { type: 'string', default: '65536' },
    },
  });
  if (!args.data || !args.model) throw new Error('--data and --model are required');
  const rows = Number(args.rows);
  const batch = Math.min(Number(args.batch), rows);
  const cores = availableParallelism();
  const feeds = await readBatch(args.data, batch);

  const layouts: CeilingLayout[] = [];
  // onnxruntime's own thread pool over all cores (spinning threads allowed: nothing else runs here).
  const pooled = await ort.InferenceSession.create(args.model, {
    ...SESSION_OPTIONS,
    intraOpNumThreads: cores,
    extra: {},
  });
  layouts.push(await measureLayout(`1 session × ${cores} threads`, [pooled], feeds, batch, rows));
  const single = await Promise.all(
    Array.from({ length: cores }, () => ort.InferenceSession.create(args.model as string, SESSION_OPTIONS)),
  );
  layouts.push(await measureLayout(`${cores} sessions × 1 thread`, single, feeds, batch, rows));

  const result: CeilingResult = { layouts, peakRssMb: ownPeakRssMb() };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
