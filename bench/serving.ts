/**
 * `make bench`: Slipway against named peers on the same model (examples/penguin-species), the same
 * single-row request, the same machine, the same load generator (autocannon, in this process) and the
 * same number of inference processes (2), one peer at a time. Prints a table of req/s, p50 and p99
 * per peer and connection count with ratios to Slipway V1, the targets, the in-process inference
 * ceiling, and Triton perf_analyzer's view of Slipway V2. See bench/README.md.
 *
 *   npx tsx bench/serving.ts [--peers slipway,mlserver] [--connections 1,32,256] [--duration 8]
 *                            [--pair-rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { disagreement, loadExampleModel, type Prediction } from './example-model.js';
import { measureGrpc, predictOverGrpc } from './grpc-load.js';
import { InferenceCeiling } from './inference-ceiling.js';
import { type Measurement, measure } from './load.js';
import {
  allPeers,
  type BenchContext,
  type Endpoint,
  type RunningPeer,
  SLIPWAY_VARIANTS,
  type SlipwayVariant,
  slipwayPeer,
} from './peers.js';
import { type PerfAnalyzerReport, runPerfAnalyzer } from './perf-analyzer.js';
import { benchSession } from './processes.js';
import { profileArgs, profileDir, summarizeProfiles } from './profile.js';
import {
  type BenchReport,
  ceilingLine,
  type EndpointResult,
  ms,
  type ObservabilityPair,
  peersTable,
  perfAnalyzerBlock,
  rate,
  targetsBlock,
} from './report.js';

const { values: args } = parseArgs({
  options: {
    peers: { type: 'string' },
    connections: { type: 'string', default: '1,32,256' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'ceiling-seconds': { type: 'string', default: '5' },
    'pa-concurrency': { type: 'string', default: '1,8,16,32' },
    'pa-requests': { type: 'string', default: '2000' },
    'pa-stability': { type: 'string', default: '25' },
    'skip-perf-analyzer': { type: 'boolean', default: false },
    'pair-rounds': { type: 'string', default: '3' },
    'skip-profile': { type: 'boolean', default: false },
  },
});
const numbers = (text: string) => text.split(',').map(Number);
const connections = numbers(args.connections);
const duration = Number(args.duration);
const warmup = Number(args.warmup);

const variants: readonly SlipwayVariant[] = process.env.BENCH_SLIPWAY_VARIANTS
  ? JSON.parse(process.env.BENCH_SLIPWAY_VARIANTS)
  : SLIPWAY_VARIANTS;
const baselineVariant = variants[0];
if (!baselineVariant) throw new Error('BENCH_SLIPWAY_VARIANTS is empty');
const known = allPeers(variants);
const wanted = args.peers?.split(',') ?? known.map((peer) => peer.id);
const unknown = wanted.filter((id) => !known.some((peer) => peer.id === id));
if (unknown.length > 0) {
  throw new Error(
    `unknown peers ${unknown.join(', ')}; the peers are ${known.map((peer) => peer.id).join(', ')}`,
  );
}
const peers = known.filter((peer) => wanted.includes(peer.id));

const { progress, workDir, processes } = benchSession('slipway-bench-');

const model = loadExampleModel();
const ceiling = await InferenceCeiling.open(model);
const reference = await ceiling.predict();
let prepared: Promise<string> | undefined;
const context: BenchContext = {
  model,
  reference,
  processes,
  workDir,
  python: resolve(process.env.BENCH_PYTHON ?? '.venv-bench/bin/python'),
  pythonModels: () => {
    const out = join(workDir, 'python-models');
    const script = new URL('./python/prepare_peers.py', import.meta.url).pathname;
    prepared ??= processes
      .run('prepare-peers', context.python, [script, '--out', out])
      .then(() => join(out, 'mlserver'));
    return prepared;
  },
};

progress(
  `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ` +
    `load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
);
progress(`Row: sample[0] of examples/penguin-species/manifest.json; reference answer ${reference.label}`);
progress(
  `Load: autocannon, connections ${connections.join(', ')}, ${duration} s each after a ${warmup} s warm-up\n`,
);

progress(`onnxruntime-node in-process for ${args['ceiling-seconds']} s`);
const ceilingMeasurement = await ceiling.measure(Number(args['ceiling-seconds']));
await ceiling.close();

/** Fails unless the endpoint answers 200 with the reference prediction. */
async function verify(endpoint: Endpoint, expected: Prediction): Promise<void> {
  if (endpoint.grpc) {
    const wrong = disagreement(await predictOverGrpc(endpoint.grpc), expected);
    if (wrong) throw new Error(`wrong answer: ${wrong}`);
    return;
  }
  const response = await fetch(endpoint.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: endpoint.body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`status ${response.status}: ${text.slice(0, 300)}`);
  const wrong = disagreement(endpoint.read(JSON.parse(text)), expected);
  if (wrong) throw new Error(`wrong answer: ${wrong}`);
}

/** Checks the endpoint, warms it up, then loads it at each connection count. */
async function measureEndpoint(endpoint: Endpoint): Promise<EndpointResult> {
  const { id, label } = endpoint;
  try {
    await verify(endpoint, reference);
    const load = (count: number, seconds: number) =>
      endpoint.grpc ? measureGrpc(endpoint.grpc, count, seconds) : measure(endpoint, count, seconds);
    await load(32, warmup);
    const measurements: Measurement[] = [];
    for (const count of connections) {
      const m = await load(count, duration);
      progress(
        `  ${label.padEnd(28)} ${String(count).padStart(4)} conns  ${rate(m.requestsPerSecond).padStart(6)} req/s  ` +
          `p50 ${ms(m.p50)} ms  p99 ${ms(m.p99)} ms  errors ${m.errors}`,
      );
      measurements.push(m);
    }
    return { id, label, measurements };
  } catch (error) {
    const failure = `${label}: ${(error as Error).message}`;
    progress(`FAILED ${failure}`);
    return { id, label, measurements: [], failure };
  }
}

/** The gRPC listener of a running Slipway, when it has one (for perf_analyzer -i grpc). */
function grpcOf(running: RunningPeer): { grpc?: string } {
  const address = running.endpoints.find((endpoint) => endpoint.grpc)?.grpc?.address;
  return address === undefined ? {} : { grpc: address };
}

const results: EndpointResult[] = [];
const setups: string[] = [];
let perfAnalyzer: PerfAnalyzerReport = { kind: 'skipped', reason: 'Slipway was not measured (--peers)' };
for (const peer of peers) {
  progress(`Starting ${peer.id}`);
  let running: RunningPeer;
  try {
    running = await peer.start(context);
  } catch (error) {
    const failure = `${peer.id} did not start: ${(error as Error).message}`;
    progress(failure);
    results.push({ id: peer.id, label: peer.id, measurements: [], failure });
    setups.push(`  ${peer.id}: ${peer.setup}`);
    await processes.stopAll();
    continue;
  }
  setups.push(`  ${peer.id}: ${peer.setup}${running.notes ? `; ${running.notes}` : ''}`);
  try {
    for (const endpoint of running.endpoints) results.push(await measureEndpoint(endpoint));
    if (peer.id === baselineVariant.id) {
      if (args['skip-perf-analyzer']) {
        perfAnalyzer = { kind: 'skipped', reason: 'skipped (--skip-perf-analyzer)' };
      } else {
        progress('  perf_analyzer → Slipway V2 (HTTP, then gRPC)');
        perfAnalyzer = await runPerfAnalyzer({
          home: resolve(process.env.BENCH_PERF_ANALYZER ?? '.venv-bench/perf-analyzer'),
          base: running.base,
          ...grpcOf(running),
          model,
          concurrencies: numbers(args['pa-concurrency']),
          requestCount: Number(args['pa-requests']),
          stability: Number(args['pa-stability']),
          workDir,
          processes,
        }).catch((error: Error): PerfAnalyzerReport => ({ kind: 'skipped', reason: error.message }));
      }
    }
  } finally {
    await processes.stop(running.server);
  }
}

/**
 * Observability's cost: the `on` and `off` variants run side by side, and each protocol is loaded on
 * one, then the other, for `--pair-rounds` rounds. Measured one after the other as peers, the two
 * differ by whatever else the machine did meanwhile; alternating puts that on both sides.
 */
async function measureObservabilityPair(): Promise<ObservabilityPair | undefined> {
  const on = variants.find((variant) => variant.observability === 'on');
  const off = variants.find((variant) => variant.observability === 'off');
  const rounds = Number(args['pair-rounds']);
  if (!on || !off || rounds < 1 || !wanted.includes(on.id) || !wanted.includes(off.id)) return undefined;
  const count = Math.max(...connections);
  progress(
    `Observability pair: ${on.id} and ${off.id} side by side, ${rounds} alternating rounds at ${count} conns`,
  );
  const started: RunningPeer[] = [];
  try {
    for (const variant of [on, off]) {
      const peer = known.find((candidate) => candidate.id === variant.id);
      if (!peer) return undefined;
      started.push(await peer.start(context));
    }
    const [onPeer, offPeer] = started as [RunningPeer, RunningPeer];
    const protocols: { protocol: 'v1' | 'v2'; on: number[]; off: number[] }[] = [];
    for (const protocol of ['v1', 'v2'] as const) {
      const endpointOf = (running: RunningPeer, variant: SlipwayVariant) => {
        const endpoint = running.endpoints.find((e) => e.id === `${variant.id}-${protocol}`);
        if (!endpoint) throw new Error(`${variant.id} has no ${protocol} endpoint`);
        return endpoint;
      };
      const pair = [endpointOf(onPeer, on), endpointOf(offPeer, off)] as const;
      for (const endpoint of pair) {
        await verify(endpoint, reference);
        await measure(endpoint, 32, warmup);
      }
      const figures = { protocol, on: [] as number[], off: [] as number[] };
      for (let round = 0; round < rounds; round += 1) {
        // Which side goes first alternates too, so neither always follows the other's load.
        const order = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
        for (const side of order) {
          const m = await measure(pair[side], count, duration);
          (side === 0 ? figures.on : figures.off).push(m.requestsPerSecond);
          progress(
            `  ${pair[side].label.padEnd(28)} ${String(count).padStart(4)} conns  ${rate(m.requestsPerSecond).padStart(6)} req/s  round ${round + 1}`,
          );
        }
      }
      protocols.push(figures);
    }
    return { connections: count, seconds: duration, protocols };
  } catch (error) {
    progress(`Observability pair FAILED: ${(error as Error).message}`);
    return undefined;
  } finally {
    for (const running of started) await processes.stop(running.server);
  }
}

/**
 * Where the baseline server's time goes at 256 connections: a run of its own (so the profiler's cost
 * stays out of the figures above) with V8's CPU profiler in every process, summarized by top frames.
 */
async function profileOnline(): Promise<string | undefined> {
  if (args['skip-profile']) return undefined;
  if (!results.some((r) => r.id === `${baselineVariant?.id}-v1` && r.failure === undefined)) return undefined;
  const dir = profileDir('online-v1-256');
  progress('Profiling Slipway V1 at 256 connections');
  const peer = slipwayPeer({
    ...(baselineVariant as SlipwayVariant),
    id: 'slipway-profiled',
    grpc: false,
    nodeArgs: profileArgs(dir),
  });
  let running: RunningPeer | undefined;
  try {
    running = await peer.start(context);
    const v1 = running.endpoints[0] as Endpoint;
    await measure(v1, 32, warmup);
    const m = await measure(v1, 256, duration);
    // A clean stop: each process writes its profile as it exits.
    await processes.stop(running.server, 30_000);
    return summarizeProfiles(
      dir,
      `Profile of Slipway V1 at 256 connections (${rate(m.requestsPerSecond)} req/s under the profiler, ${duration} s)`,
    );
  } catch (error) {
    return `Profile of Slipway V1: FAILED ${(error as Error).message}`;
  } finally {
    if (running) await processes.stop(running.server);
  }
}

const observability = await measureObservabilityPair();
const profile = await profileOnline();
const report: BenchReport = {
  results,
  baseline: `${baselineVariant.id}-v1`,
  variants,
  ceiling: ceilingMeasurement,
  perfAnalyzer,
  ...(observability ? { observability } : {}),
};
const print = (text = '') => process.stdout.write(`${text}\n`);
/** The commit the Slipway figures are for; `-dirty` when the work tree has changes. */
const commit = (() => {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown (not a git checkout)';
  }
})();
print();
print(`Peers (${model.name}, one row per request; ${duration} s per row after a ${warmup} s warm-up)`);
print(peersTable(report));
print();
print(ceilingLine(report));
print();
print('Targets');
print(targetsBlock(report));
print();
print(perfAnalyzerBlock(report));
print();
if (profile) {
  print(profile);
  print();
}
print(`How each peer ran (Slipway at ${commit}, load generator autocannon in the bench's process)`);
for (const line of setups) print(line);
print('Absolute figures drift with the machine and whatever else runs on it; compare the ratios.');

process.exitCode = results.some((result) => result.failure !== undefined) ? 1 : 0;
