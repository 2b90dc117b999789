import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExampleModel } from './example-model.js';
import { type Processes, tail } from './processes.js';

export interface PerfAnalyzerOptions {
  /** Where bench/install-perf-analyzer.sh put it (`bin/perf_analyzer`, `lib/`). */
  readonly home: string;
  /** The Slipway server, e.g. `http://127.0.0.1:8080`. */
  readonly base: string;
  /** Its gRPC listener (`127.0.0.1:8081`), measured after HTTP with `-i grpc`; none when absent. */
  readonly grpc?: string;
  readonly model: ExampleModel;
  readonly concurrencies: readonly number[];
  /** Requests in each measurement window (`--measurement-request-count`). */
  readonly requestCount: number;
  /**
   * Largest spread, in percent, between the last three windows (`-s`). perf_analyzer's 10% rarely
   * settles on a shared 2-core machine where the server and perf_analyzer share the cores.
   */
  readonly stability: number;
  readonly workDir: string;
  readonly processes: Processes;
}

export interface PerfAnalyzerRow {
  /** `http` (the V2 routes) or `grpc`. */
  readonly protocol: 'http' | 'grpc';
  readonly concurrency: number;
  readonly inferencesPerSecond: number;
  /** Client-side latency, in milliseconds. */
  readonly p50: number;
  readonly p99: number;
}

export type PerfAnalyzerReport =
  | {
      readonly kind: 'measured';
      readonly settings: string;
      readonly rows: PerfAnalyzerRow[];
      readonly failures: string[];
    }
  | { readonly kind: 'skipped'; readonly reason: string };

/** Longest one concurrency level may take before perf_analyzer is stopped. */
const LEVEL_TIMEOUT_MS = 120_000;

/**
 * Triton's perf_analyzer against Slipway's Open Inference Protocol routes, one run per concurrency
 * level in `count_windows` mode, each sending the manifest's sample row. perf_analyzer reads the model
 * metadata, `GET /v2/models/{m}/config` and the `extensions` of `GET /v2` before it sends anything
 * (shared/reference/serving.md §2.2); when Slipway lacks one of them this says so instead of running.
 */
export async function runPerfAnalyzer(options: PerfAnalyzerOptions): Promise<PerfAnalyzerReport> {
  const { home, base, model, workDir, processes } = options;
  const binary = join(home, 'bin', 'perf_analyzer');
  if (!existsSync(binary)) {
    return { kind: 'skipped', reason: `not installed at ${binary} (make bench installs it; see its output)` };
  }
  const server = await getJson(`${base}/v2`);
  const extensions = (server.body as { extensions?: unknown }).extensions;
  if (!Array.isArray(extensions)) {
    return {
      kind: 'skipped',
      reason: 'Slipway\'s GET /v2 has no "extensions" list, which perf_analyzer requires',
    };
  }
  const config = await getJson(`${base}/v2/models/${model.name}/config`);
  if (config.status !== 200) {
    return {
      kind: 'skipped',
      reason: `Slipway's GET /v2/models/${model.name}/config answers ${config.status}; perf_analyzer requires the model configuration`,
    };
  }
  const batching = Number((config.body as { max_batch_size?: unknown }).max_batch_size ?? 0) > 0;
  const binary_data = extensions.includes('binary_tensor_data');

  // With max_batch_size > 0 perf_analyzer adds the batch dimension itself (-b 1); without, it sends
  // the shape given here.
  const shape = batching ? [1] : [1, 1];
  const sample = model.inputs.map((input) => {
    const value = model.row[input.name] ?? null;
    const content = input.type === 'string' ? JSON.stringify(value ?? '') : floatLiteral(input.name, value);
    return `${JSON.stringify(input.name)}: {"content": [${content}], "shape": ${JSON.stringify(shape)}}`;
  });
  const inputData = join(workDir, 'perf-analyzer-input.json');
  writeFileSync(inputData, `{"data": [{${sample.join(', ')}}]}`);

  const common = [
    ...['-m', model.name],
    ...['--measurement-mode', 'count_windows', '--measurement-request-count', String(options.requestCount)],
    ...['--stability-percentage', String(options.stability)],
    ...['--input-data', inputData],
  ];
  // HTTP sends binary tensors when Slipway lists the extension; gRPC always sends raw contents.
  const protocols: { protocol: 'http' | 'grpc'; args: string[] }[] = [
    {
      protocol: 'http',
      args: [
        ...['-u', base.replace(/^http:\/\//, ''), '-i', 'http'],
        ...(binary_data ? [] : ['--input-tensor-format', 'json', '--output-tensor-format', 'json']),
      ],
    },
    ...(options.grpc ? [{ protocol: 'grpc' as const, args: ['-u', options.grpc, '-i', 'grpc'] }] : []),
  ];
  const rows: PerfAnalyzerRow[] = [];
  const failures: string[] = [];
  for (const { protocol, args: protocolArgs } of protocols) {
    for (const concurrency of options.concurrencies) {
      const csv = join(workDir, `perf-analyzer-${protocol}-c${concurrency}.csv`);
      const args = [
        ...common,
        ...protocolArgs,
        '--concurrency-range',
        `${concurrency}:${concurrency}`,
        '-f',
        csv,
      ];
      const started = processes.start(`perf-analyzer-${protocol}-c${concurrency}`, binary, args, {
        env: { LD_LIBRARY_PATH: join(home, 'lib') },
      });
      const code = await Promise.race([started.exited, sleep(LEVEL_TIMEOUT_MS, 'timeout' as const)]);
      if (code === 'timeout') await processes.stop(started);
      const row = code === 0 && existsSync(csv) ? parseCsv(readFileSync(csv, 'utf8')) : undefined;
      if (row) rows.push({ protocol, ...row });
      else
        failures.push(
          `${protocol} concurrency ${concurrency}: ${code === 'timeout' ? 'timed out' : `exit ${code}`}\n${tail(started.log, 8)}`,
        );
    }
  }
  const settings =
    `count_windows of ${options.requestCount} requests, stable within ${options.stability}%, ` +
    `${binary_data ? 'binary' : 'JSON'} tensors, max_batch_size ${batching ? '> 0 (-b 1)' : '0'}`;
  return { kind: 'measured', settings, rows, failures };
}

/** perf_analyzer reads FP32 data only from JSON floats: `181.0`, never the `181` JSON.stringify writes. */
function floatLiteral(name: string, value: string | number | null): string {
  if (typeof value !== 'number')
    throw new Error(`input ${name}: perf_analyzer needs a number, the row has ${value}`);
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

/** perf_analyzer's `-f` CSV: a header line, then one line per concurrency level, latencies in µs. */
export function parseCsv(text: string): Omit<PerfAnalyzerRow, 'protocol'> | undefined {
  const [header, line] = text.trim().split('\n');
  if (!header || !line) return undefined;
  const columns = header.split(',');
  const values = line.split(',').map(Number);
  const column = (name: string) => values[columns.indexOf(name)] ?? Number.NaN;
  return {
    concurrency: column('Concurrency'),
    inferencesPerSecond: column('Inferences/Second'),
    p50: column('p50 latency') / 1000,
    p99: column('p99 latency') / 1000,
  };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}
