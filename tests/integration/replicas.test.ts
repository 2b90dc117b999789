import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../helpers/postgres.js';
import { freshBucket, s3Variables } from '../helpers/s3.js';
import { killed, serveProcess } from '../helpers/serve-process.js';
import { FIXTURES, uploadForm } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Three `slipway serve` processes, each with its own empty data folder, sharing one PostgreSQL
 * database and one S3 bucket, as replicas behind a load balancer would. Polling for revisions is
 * slowed to 10 s, so a replica that switches within a second learned of the change by NOTIFY.
 */
const LEASE_MS = 1500;
const CONFIG = `
environments:
  - name: dev
  - name: prod
    gates: { schema: false, validation: null, latency: null }
    approval: null
    confirm: false
    rollout: { steps: [50, 100], bake_seconds: 3, min_requests: 30, max_error_rate: 0.5 }
`;

interface Replica {
  readonly name: string;
  readonly dataDir: string;
  child: ChildProcess;
  url: string;
}

describe('replicas sharing PostgreSQL and S3', () => {
  const root = mkdtempSync(join(tmpdir(), 'slipway-replicas-'));
  const replicas: Replica[] = [];
  let dropDatabase: () => Promise<void>;
  let dropBucket: () => Promise<void>;
  let env: Record<string, string>;

  const start = async (name: string, dataDir = mkdtempSync(join(root, `${name}-`))) => {
    const { child, url } = await serveProcess(dataDir, { ...env, SLIPWAY_REPLICA_NAME: name });
    const replica = { name, dataDir, child, url };
    await waitFor(`${name} ready`, async () =>
      (await fetch(`${url}/v2/health/ready`)).status === 200 ? true : undefined,
    );
    return replica;
  };
  const call = async (replica: Replica, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${replica.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status >= 300)
      throw new Error(`${replica.name} ${method} ${path}: ${response.status} ${text}`);
    return { headers: response.headers, body: text === '' ? null : JSON.parse(text) };
  };
  const predict = (replica: Replica, environment: string) =>
    call(replica, 'POST', `/envs/${environment}/v1/models/m:predict`, { instances: [[1]] });
  const replicasView = (replica: Replica) => call(replica, 'GET', '/api/v1/replicas');

  beforeAll(async () => {
    const database = await freshDatabase();
    const bucket = await freshBucket();
    dropDatabase = database.drop;
    dropBucket = bucket.drop;
    const config = join(root, 'slipway.yaml');
    writeFileSync(config, CONFIG);
    env = {
      SLIPWAY_REGISTRY_URI: database.url,
      SLIPWAY_ARTIFACT_URI: `s3://${bucket.bucket}/slipway`,
      ...s3Variables(),
      SLIPWAY_CONFIG_FILE: config,
      SLIPWAY_LEADER_LEASE_MS: String(LEASE_MS),
      SLIPWAY_FOLLOW_INTERVAL_MS: '10000',
      SLIPWAY_ANALYSIS_INTERVAL_MS: '200',
      SLIPWAY_INFERENCE_WORKERS: '1',
    };
    // The first migrates the fresh database alone; the others start together.
    replicas.push(await start('r1'));
    replicas.push(...(await Promise.all([start('r2'), start('r3')])));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => killed(r.child)));
    await dropDatabase?.();
    await dropBucket?.();
    rmSync(root, { recursive: true, force: true });
  });

  it('names the replica that answered, and agrees on the one lead', async () => {
    const views = await Promise.all(replicas.map(replicasView));
    for (const [i, view] of views.entries()) {
      expect(view.headers.get('x-slipway-replica')).toBe(replicas[i]?.name);
      expect(view.body.replica).toBe(replicas[i]?.name);
      expect(view.body.replicas.map((r: { replica: string }) => r.replica).sort()).toEqual([
        'r1',
        'r2',
        'r3',
      ]);
    }
    expect(views.filter((v) => v.body.leading)).toHaveLength(1);
    const lead = views[0]?.body.lead;
    expect(views.map((v) => v.body.lead)).toEqual([lead, lead, lead]);
    // The first to start took the lead, and kept it.
    expect(lead.replica).toBe('r1');
  });

  it('switches every replica to a revision written through one of them within a second', async () => {
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica];
    await call(r2, 'POST', '/api/v1/models', { name: 'm' });
    for (const [replica, file] of [
      [r2, 'echo.onnx'],
      [r3, 'plus-one.onnx'],
    ] as const) {
      const pushed = await fetch(`${replica.url}/api/v1/models/m/versions`, {
        method: 'POST',
        headers: { 'x-slipway-client': 'slipway-tests' },
        body: uploadForm(join(FIXTURES, file), { sample: [{ x: 1 }] }),
      });
      expect(pushed.status, await pushed.clone().text()).toBe(201);
    }
    for (const version of [1, 2]) {
      const written = Date.now();
      await call(r1, 'PUT', '/api/v1/environments/dev/deployments/m/traffic', {
        traffic: [{ version, percent: 100 }],
      });
      const switched = await Promise.all(
        [r2, r3].map((replica) =>
          waitFor(
            `${replica.name} serving version ${version}`,
            async () => {
              const answer = await fetch(`${replica.url}/envs/dev/v1/models/m:predict`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ instances: [[1]] }),
              });
              return answer.headers.get('x-slipway-model-version') === String(version)
                ? Date.now() - written
                : undefined;
            },
            5000,
          ),
        ),
      );
      // Polling runs every 10 s: only the announcement can explain a switch this fast.
      for (const ms of switched) expect(ms).toBeLessThan(1000);
    }
  });

  const serveInDev = (version: number) =>
    call(replicas[1] as Replica, 'PUT', '/api/v1/environments/dev/deployments/m/traffic', {
      traffic: [{ version, percent: 100 }],
    });

  it("judges a canary on every replica's requests, whichever replica started it", async () => {
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica];
    await serveInDev(1);
    const first = await call(r2, 'POST', '/api/v1/environments/prod/promotions', { model: 'm', version: 1 });
    expect(first.body.status).toBe('SUCCEEDED');
    await waitFor('every replica serving prod', async () => {
      const answers = await Promise.all([r1, r2, r3].map((r) => predict(r, 'prod').catch(() => null)));
      return answers.every((a) => a?.headers.get('x-slipway-model-version') === '1') ? true : undefined;
    });

    // Started through a replica that does not lead: the lead finds it and analyses it.
    await serveInDev(2);
    const started = await call(r3, 'POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    expect(started.body.status).toBe('ROLLING_OUT');
    const id = started.body.id as string;
    await waitFor('every replica at the first step', async () => {
      const revisions = await Promise.all(
        [r1, r2, r3].map((r) => call(r, 'GET', '/api/v1/environments/prod/deployments/m').catch(() => null)),
      );
      return revisions.every((d) =>
        d?.body.revision.traffic.some((s: { version: number }) => s.version === 2),
      )
        ? true
        : undefined;
    });

    // Traffic through all three; count what each replica's canary answered.
    const canaryBy = new Map<string, number>();
    // 90 requests, 30 through each: about 45 reach the canary at 50%, about 15 on each replica.
    for (let sent = 0; sent < 90; sent++) {
      const replica = replicas[sent % 3] as Replica;
      const answer = await predict(replica, 'prod');
      if (answer.headers.get('x-slipway-model-version') === '2') {
        const by = answer.headers.get('x-slipway-replica') as string;
        canaryBy.set(by, (canaryBy.get(by) ?? 0) + 1);
      }
    }
    const canaryTotal = [...canaryBy.values()].reduce((a, b) => a + b, 0);
    expect([...canaryBy.keys()].sort()).toEqual(['r1', 'r2', 'r3']);
    // Enough in all, not enough on any single replica: only the sum lets the step pass.
    expect(canaryTotal).toBeGreaterThanOrEqual(30);
    expect(Math.max(...canaryBy.values())).toBeLessThan(30);

    const advanced = await waitFor(
      'the second step',
      async () => {
        const promotion = (await call(r2, 'GET', `/api/v1/promotions/${id}`)).body;
        if (promotion.status === 'PAUSED') throw new Error(`paused: ${promotion.rollout.note}`);
        return promotion.status === 'SUCCEEDED' ? promotion : undefined;
      },
      15_000,
    );
    expect(advanced.status).toBe('SUCCEEDED');
    const revisions = (await call(r2, 'GET', '/api/v1/environments/prod/deployments/m/revisions')).body
      .revisions;
    const steps = revisions.filter((r: { kind: string }) => r.kind === 'rollout-step');
    // One revision for the one step after the first: no step taken twice.
    expect(steps).toHaveLength(1);
    const counted = Number(/previous step: (\d+) requests/.exec(steps[0].reason)?.[1]);
    expect(counted).toBeGreaterThanOrEqual(canaryTotal);
  });

  it('hands the lead to another replica within a lease when the lead is killed, which finishes its rollout', async () => {
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica];
    const before = (await replicasView(r1)).body.lead;
    expect(before.replica).toBe('r1');
    await serveInDev(1);
    const started = await call(r2, 'POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 1,
      canary: true,
    });
    expect(started.body.status).toBe('ROLLING_OUT');
    const id = started.body.id as string;

    await killed(r1.child);
    const killedAt = Date.now();
    const survivors = [r2, r3];
    const lead = await waitFor(
      'a new lead',
      async () => {
        const view = (await replicasView(r2)).body;
        return view.lead && view.lead.replica !== 'r1' ? view.lead : undefined;
      },
      10_000,
    );
    const tookMs = Date.now() - killedAt;
    // Within one lease, plus the beat on which it was noticed.
    expect(tookMs).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 500);
    expect(['r2', 'r3']).toContain(lead.replica);
    const views = await Promise.all(survivors.map(replicasView));
    expect(views.filter((v) => v.body.leading)).toHaveLength(1);

    // The survivors keep serving, and the new lead takes the rollout to its end.
    let sent = 0;
    const done = await waitFor(
      'the rollout to finish under the new lead',
      async () => {
        for (let i = 0; i < 10; i++, sent++) await predict(survivors[sent % 2] as Replica, 'prod');
        const promotion = (await call(r3, 'GET', `/api/v1/promotions/${id}`)).body;
        if (promotion.status === 'PAUSED') throw new Error(`paused: ${promotion.rollout.note}`);
        return promotion.status === 'SUCCEEDED' ? promotion : undefined;
      },
      20_000,
    );
    expect(done.status).toBe('SUCCEEDED');
    const revisions = (await call(r3, 'GET', '/api/v1/environments/prod/deployments/m/revisions')).body
      .revisions;
    expect(
      revisions.filter(
        (r: { kind: string; promotion_id: string }) => r.promotion_id === id && r.kind === 'rollout-step',
      ),
    ).toHaveLength(1);
    for (const survivor of survivors) {
      expect((await predict(survivor, 'prod')).headers.get('x-slipway-model-version')).toBe('1');
    }

    // The killed replica comes back with its data folder and joins as a follower.
    const back = await start('r1', r1.dataDir);
    replicas[0] = back;
    const view = (await replicasView(back)).body;
    expect(view.leading).toBe(false);
    expect(view.lead.replica).toBe(lead.replica);
    expect((await predict(back, 'prod')).headers.get('x-slipway-model-version')).toBe('1');
  });
});
