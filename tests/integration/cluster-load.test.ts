import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCluster, startLocalCluster } from '../../src/cli/local-cluster.js';
import { freshDatabase } from '../helpers/postgres.js';
import { freshBucket, s3Settings } from '../helpers/s3.js';
import { FIXTURES, uploadForm } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Three replicas on PostgreSQL and S3 behind HAProxy, under a steady load of 300 predictions a second
 * through the load balancer, while a canary is promoted (its analysis fed by all three), rolled back by
 * hand, and one replica is killed with SIGKILL. The only requests that may fail are those in flight on
 * the killed replica when it died.
 */
const RATE = 300;
const LEASE_MS = 2000;
const CONFIG = `
environments:
  - name: dev
  - name: prod
    gates: { schema: false, validation: null, latency: null }
    approval: null
    confirm: false
    rollout: { steps: [25, 100], bake_seconds: 3, min_requests: 100, max_error_rate: 0.05 }
`;

/** One prediction as the client saw it. */
interface Outcome {
  readonly startedMs: number;
  readonly endedMs: number;
  readonly status: number | null;
  readonly error: string | null;
  readonly replica: string | null;
  readonly version: string | null;
}

/**
 * Sends POST predictions to `url` at `rate` a second, evenly spaced, each on its own schedule (a slow
 * answer does not delay the next request), until stopped; keeps every outcome.
 */
function steadyLoad(url: string, rate: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const body = JSON.stringify({ instances: [[1]] });
  const target = new URL(`${url}/envs/prod/v1/models/m:predict`);
  const started = performance.now();
  let sent = 0;
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const startedMs = Date.now();
      const done = (outcome: Omit<Outcome, 'startedMs' | 'endedMs'>) => {
        outcomes.push({ startedMs, endedMs: Date.now(), ...outcome });
        resolve();
      };
      const call = request(
        target,
        {
          method: 'POST',
          agent,
          timeout: 10_000,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('error', (error) =>
            done({ status: null, error: error.message, replica: null, version: null }),
          );
          response.on('end', () =>
            done({
              status: response.statusCode ?? null,
              error: null,
              replica: (response.headers['x-slipway-replica'] as string | undefined) ?? null,
              version: (response.headers['x-slipway-model-version'] as string | undefined) ?? null,
            }),
          );
        },
      );
      call.on('timeout', () => call.destroy(new Error('timed out')));
      call.on('error', (error) => done({ status: null, error: error.message, replica: null, version: null }));
      call.end(body);
    });
  const tick = () => {
    if (stopped) return;
    // Catch up to the schedule: requests due since the last tick all go now.
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      sent += 1;
      const pending = one();
      inFlight.add(pending);
      void pending.finally(() => inFlight.delete(pending));
    }
    setTimeout(tick, 5);
  };
  tick();
  return {
    outcomes,
    sentSoFar: () => sent,
    elapsedSeconds: () => (performance.now() - started) / 1000,
    async stop() {
      stopped = true;
      await Promise.all(inFlight);
      agent.destroy();
    },
  };
}

describe('three replicas behind HAProxy under steady load', () => {
  let cluster: LocalCluster;
  let dropDatabase: () => Promise<void>;
  let dropBucket: () => Promise<void>;

  const api = async (method: string, path: string, payload?: unknown) => {
    const response = await fetch(`${cluster.url}${path}`, {
      method,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === '' ? null : JSON.parse(text);
  };

  beforeAll(async () => {
    const database = await freshDatabase();
    const bucket = await freshBucket();
    dropDatabase = database.drop;
    dropBucket = bucket.drop;
    const s3 = s3Settings();
    const configDir = (await import('node:os')).tmpdir();
    const config = join(configDir, `slipway-cluster-load-${process.pid}.yaml`);
    writeFileSync(config, CONFIG);
    cluster = await startLocalCluster({
      replicas: 3,
      registryUri: database.url,
      bucket: { ...s3, bucket: bucket.bucket },
      env: {
        SLIPWAY_CONFIG_FILE: config,
        SLIPWAY_LEADER_LEASE_MS: String(LEASE_MS),
        SLIPWAY_ANALYSIS_INTERVAL_MS: '250',
        SLIPWAY_INFERENCE_WORKERS: '1',
        SLIPWAY_LOG_LEVEL: 'warn',
      },
    });
    await api('POST', '/api/v1/models', { name: 'm' });
    for (const file of ['echo.onnx', 'plus-one.onnx']) {
      const pushed = await fetch(`${cluster.url}/api/v1/models/m/versions`, {
        method: 'POST',
        headers: { 'x-slipway-client': 'slipway-tests' },
        body: uploadForm(join(FIXTURES, file), { sample: [{ x: 1 }] }),
      });
      expect(pushed.status, await pushed.clone().text()).toBe(201);
    }
    await api('PUT', '/api/v1/environments/dev/deployments/m/traffic', {
      traffic: [{ version: 1, percent: 100 }],
    });
    expect(
      (await api('POST', '/api/v1/environments/prod/promotions', { model: 'm', version: 1 })).status,
    ).toBe('SUCCEEDED');
    await api('PUT', '/api/v1/environments/dev/deployments/m/traffic', {
      traffic: [{ version: 2, percent: 100 }],
    });
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
    await dropDatabase?.();
    await dropBucket?.();
  });

  it('promotes a canary on every replica’s figures, rolls back by hand, and loses only what the killed replica held', async () => {
    const load = steadyLoad(cluster.url, RATE);
    let killedAt = 0;
    let killDone = 0;
    try {
      // Every replica serves version 1 before anything changes.
      await new Promise((resolve) => setTimeout(resolve, 2000));

      const started = await api('POST', '/api/v1/environments/prod/promotions', {
        model: 'm',
        version: 2,
        canary: true,
      });
      expect(started.status).toBe('ROLLING_OUT');
      const promoted = await waitFor(
        'the canary to end',
        async () => {
          const promotion = await api('GET', `/api/v1/promotions/${started.id}`);
          return ['SUCCEEDED', 'ROLLED_BACK', 'PAUSED'].includes(promotion.status) ? promotion : undefined;
        },
        30_000,
      );
      // The plus-one model answers every request: its analysis, fed by all three replicas, promotes it.
      expect(promoted.status).toBe('SUCCEEDED');
      const history = (await api('GET', '/api/v1/environments/prod/deployments/m/revisions')).revisions;
      const step = history.find(
        (r: { kind: string; promotion_id: string }) =>
          r.kind === 'rollout-step' && r.promotion_id === started.id,
      );
      const judged = Number(/previous step: (\d+) requests/.exec(step.reason)?.[1]);
      const canaryAnswers = load.outcomes.filter(
        (o) => o.version === '2' && o.startedMs < Date.parse(step.created_at),
      );
      expect(new Set(canaryAnswers.map((o) => o.replica))).toEqual(
        new Set(['replica-1', 'replica-2', 'replica-3']),
      );
      expect(judged).toBeGreaterThanOrEqual(100);

      // Rolled back by hand to the revision before the canary: prod serves version 1 again everywhere.
      const before = history.find(
        (r: { kind: string; promotion_id: string | null }) => r.promotion_id !== started.id,
      );
      await api('POST', '/api/v1/environments/prod/deployments/m/rollback', {
        to_revision: before.number,
        reason: 'load test',
      });
      const rolledBack = Date.now();
      await waitFor(
        'version 1 everywhere',
        async () => {
          const recent = load.outcomes.filter((o) => o.startedMs > rolledBack + 1500);
          return recent.length > 100 && recent.every((o) => o.version === '1') ? true : undefined;
        },
        15_000,
      );

      // SIGKILL one replica that does not lead.
      const view = await api('GET', '/api/v1/replicas');
      const victim = cluster.replicas.find(
        (r) => r.name !== view.lead.replica,
      ) as (typeof cluster.replicas)[number];
      killedAt = Date.now();
      await victim.kill('SIGKILL');
      killDone = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const survivors = cluster.replicas.filter((r) => r !== victim).map((r) => r.name);
      const afterKill = load.outcomes.filter((o) => o.startedMs > killDone + 1000);
      expect(afterKill.length).toBeGreaterThan(RATE * 3);
      expect(new Set(afterKill.map((o) => o.replica))).toEqual(new Set(survivors));
    } finally {
      await load.stop();
    }

    const elapsed = load.elapsedSeconds();
    const failed = load.outcomes.filter((o) => o.status !== 200);
    const rate = load.outcomes.length / elapsed;
    // The kill is the only moment a request may fail, and only one that was in flight then.
    const inFlightAtKill = load.outcomes.filter((o) => o.startedMs <= killDone && o.endedMs >= killedAt);
    process.stdout.write(
      `cluster load: ${load.outcomes.length} requests in ${elapsed.toFixed(1)} s (${rate.toFixed(0)}/s), ` +
        `${failed.length} failed: ${JSON.stringify(failed.map((o) => o.error ?? o.status))}\n`,
    );
    expect(rate).toBeGreaterThanOrEqual(RATE * 0.95);
    expect(failed.every((o) => inFlightAtKill.includes(o))).toBe(true);
    process.stdout.write(
      `cluster load: ${inFlightAtKill.length} requests were in flight when the replica was killed\n`,
    );
  });
});
