import type { InProcessMeasurement } from './inference-ceiling.js';
import type { Measurement } from './load.js';
import type { SlipwayVariant } from './peers.js';
import type { PerfAnalyzerReport } from './perf-analyzer.js';

/** What the bench found for one endpoint: its measurements, or why it has none. */
export interface EndpointResult {
  readonly id: string;
  readonly label: string;
  readonly measurements: readonly Measurement[];
  readonly failure?: string;
}

export interface BenchReport {
  readonly results: readonly EndpointResult[];
  /** Id of the endpoint every ratio refers to (the first Slipway variant's V1). */
  readonly baseline: string;
  readonly variants: readonly SlipwayVariant[];
  readonly ceiling: InProcessMeasurement;
  readonly perfAnalyzer: PerfAnalyzerReport;
  /** The observability pair measured in alternation (both servers up), when both variants ran. */
  readonly observability?: ObservabilityPair;
}

/**
 * Observability on against off, measured in alternating rounds on two servers running side by side,
 * so that the machine's drift over the run falls on both: req/s of each round per protocol.
 */
export interface ObservabilityPair {
  readonly connections: number;
  readonly seconds: number;
  readonly protocols: readonly {
    readonly protocol: 'v1' | 'v2';
    readonly on: readonly number[];
    readonly off: readonly number[];
  }[];
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A plain-text table; columns align right (numbers) unless `left` lists them. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  left: readonly number[] = [0],
): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (left.includes(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0);
}

export function rate(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toString() : '-';
}

export function times(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return `${value.toFixed(value < 10 ? 2 : 1)}×`;
}

function percent(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : '-';
}

function at(result: EndpointResult | undefined, connections: number): Measurement | undefined {
  return result?.measurements.find((m) => m.connections === connections);
}

/** The highest throughput over the connection counts, and where it was. */
function peak(result: EndpointResult | undefined): Measurement | undefined {
  return result?.measurements.reduce<Measurement | undefined>(
    (best, m) => (best && best.requestsPerSecond >= m.requestsPerSecond ? best : m),
    undefined,
  );
}

/** First table: every endpoint at every connection count, with its ratios to the baseline; failures below. */
export function peersTable(report: BenchReport): string {
  const baseline = report.results.find((result) => result.id === report.baseline);
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const result of report.results) {
    if (result.failure !== undefined) {
      rows.push([result.label, '-', 'FAILED', '-', '-', '-', '-', '-']);
      failures.push(`FAILED ${result.failure}`);
    }
    for (const m of result.measurements) {
      const base = at(baseline, m.connections)?.requestsPerSecond ?? Number.NaN;
      rows.push([
        result.label,
        String(m.connections),
        rate(m.requestsPerSecond),
        ms(m.p50),
        ms(m.p99),
        String(m.errors),
        times(m.requestsPerSecond / base),
        times(base / m.requestsPerSecond),
      ]);
    }
  }
  const table = formatTable(
    ['peer', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'vs V1', 'V1 ÷ peer'],
    rows,
  );
  return [table, ...failures].join('\n');
}

export function ceilingLine(report: BenchReport): string {
  const { ceiling } = report;
  const best = peak(report.results.find((result) => result.id === report.baseline));
  return (
    `onnxruntime-node in-process, no HTTP (1 process, 1 intra-op thread): ${rate(ceiling.runsPerSecond)} runs/s, ` +
    `p50 ${ms(ceiling.p50)} ms, p99 ${ms(ceiling.p99)} ms per session.run.\n` +
    `Slipway V1's best req/s is ${percent((best?.requestsPerSecond ?? Number.NaN) / ceiling.runsPerSecond)} of that one core's runs/s.`
  );
}

/**
 * The goals Slipway is measured against. Throughput ratios compare each side's best req/s over the
 * connection counts (each server at its own best concurrency).
 */
export function targetsBlock(report: BenchReport): string {
  const find = (id: string) =>
    report.results.find((result) => result.id === id && result.failure === undefined);
  const baseline = find(report.baseline);
  const best = peak(baseline);
  const lines: string[][] = [];
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');

  const ratioTarget = (goal: string, id: string, minimum: number, format: (value: number) => string) => {
    const other = peak(find(id));
    if (!best || !other) {
      lines.push([goal, '-', 'n/a (not measured)']);
      return;
    }
    const ratio = best.requestsPerSecond / other.requestsPerSecond;
    lines.push([
      goal,
      format(ratio),
      `${verdict(ratio >= minimum)} (${rate(best.requestsPerSecond)} at ${best.connections} vs ${rate(other.requestsPerSecond)} at ${other.connections} conns)`,
    ]);
  };
  ratioTarget('Slipway V1 ≥ 10× FastAPI + scikit-learn', 'fastapi-sklearn', 10, times);
  ratioTarget('Slipway V1 ≥ 3× MLServer', 'mlserver', 3, times);
  ratioTarget('Slipway V1 ≥ 60% of bare Fastify', 'fastify', 0.6, percent);

  const at32 = at(baseline, 32);
  lines.push([
    'Slipway V1 p99 ≤ 10 ms at 32 connections',
    at32 ? `${ms(at32.p99)} ms` : '-',
    at32 ? verdict(at32.p99 <= 10) : 'n/a (32 connections not measured)',
  ]);

  const batched = report.variants.find((variant) => variant.batched);
  const unbatched = report.variants.find((variant) => !variant.batched);
  if (!batched || !unbatched) {
    lines.push([
      'Slipway batched vs unbatched at 256 conns',
      '-',
      'pending: the Slipway variants need one marked batched and one not (bench/peers.ts)',
    ]);
  } else {
    const on = at(find(`${batched.id}-v1`), 256);
    const off = at(find(`${unbatched.id}-v1`), 256);
    lines.push([
      `${batched.label} vs ${unbatched.label} V1 at 256 conns`,
      on && off ? times(on.requestsPerSecond / off.requestsPerSecond) : '-',
      on && off
        ? `req/s ${rate(on.requestsPerSecond)} vs ${rate(off.requestsPerSecond)}, p99 ${ms(on.p99)} vs ${ms(off.p99)} ms`
        : 'n/a (not measured)',
    ]);
  }
  const observed = report.variants.find((variant) => variant.observability === 'on');
  const dark = report.variants.find((variant) => variant.observability === 'off');
  if (report.observability) {
    const { connections, protocols } = report.observability;
    for (const { protocol, on, off } of protocols) {
      const cost = 1 - median(on) / median(off);
      lines.push([
        `Observability costs < 10% (${protocol.toUpperCase()}: metrics, sampled logs, prediction log on vs off)`,
        percent(cost),
        `${verdict(cost < 0.1)} (medians of ${on.length} alternating rounds at ${connections} conns: ${rate(median(on))} vs ${rate(median(off))} req/s)`,
      ]);
    }
  } else if (observed && dark) {
    // One after the other, the two would differ by whatever else the machine did in between.
    lines.push(['Observability costs < 10%', '-', 'n/a (the side-by-side pair did not run)']);
  }
  return formatTable(['target', 'measured', 'verdict'], lines, [0, 2]);
}

export function perfAnalyzerBlock(report: BenchReport): string {
  const pa = report.perfAnalyzer;
  if (pa.kind === 'skipped') return `perf_analyzer: ${pa.reason}`;
  const table = formatTable(
    ['protocol', 'concurrency', 'infer/s', 'p50 ms', 'p99 ms'],
    pa.rows.map((row) => [
      row.protocol === 'grpc' ? 'gRPC' : 'HTTP',
      String(row.concurrency),
      rate(row.inferencesPerSecond),
      ms(row.p50),
      ms(row.p99),
    ]),
  );
  const failures = pa.failures.map((failure) => `perf_analyzer: ${failure}`);
  return [`perf_analyzer → Slipway, Open Inference Protocol (${pa.settings})`, table, ...failures].join('\n');
}
