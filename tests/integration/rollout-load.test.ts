import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * Deploys and rollbacks under load: production keeps answering at least 300 requests per second for
 * 30 seconds while versions are promoted into it and rolled back, at least ten times. Every response
 * must be a 200 naming exactly one version, and that version must be one the revision it names
 * allowed. (Correctness under load, not speed: `make bench` measures speed.)
 */
const RATE = 360;
const DURATION_MS = 30_000;
const WORKERS = 16;
const CONFIG = `
environments:
  - name: dev
  - name: staging
    gates: { latency: { p99_ms: 5000, requests: 10 } }
  - name: prod
    gates: { latency: { p99_ms: 5000, requests: 10 } }
`;

interface Observation {
  readonly status: number;
  readonly version: string | null;
  readonly revision: string | null;
}

describe('deploys and rollbacks under load', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({}, { allInOne: true, configYaml: CONFIG });
  });
  afterAll(() => server?.stop());

  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await server.request(method, path, body);
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
    return response.body;
  };
  const toProd = async (version: number) => {
    const waiting = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version,
      confirm: 'prod',
    });
    return ok('POST', `/api/v1/promotions/${waiting.id}/approve`, {});
  };

  it(
    'keeps 300+ requests per second with zero failures across 10+ changes, each answer from an allowed version',
    async () => {
      // Each version is pushed (and so deployed to dev) and promoted to staging before the next.
      for (const [version, file] of [
        [1, 'echo.onnx'],
        [2, 'fails-on-marked.onnx'],
      ] as const) {
        expect((await server.push('m', join(FIXTURES, file), { sample: [{ x: 1 }] })).status).toBe(201);
        await ok('POST', '/api/v1/environments/staging/promotions', { model: 'm', version });
        if (version === 1) await toProd(1);
      }

      const observations: Observation[] = [];
      const body = JSON.stringify({ instances: [[1]] });
      const started = performance.now();
      const end = started + DURATION_MS;
      let next = started;
      const worker = async () => {
        while (next < end) {
          const slot = next;
          next += 1000 / RATE;
          const wait = slot - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const response = await fetch(`${server.url}/envs/prod/v1/models/m:predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          await response.arrayBuffer();
          observations.push({
            status: response.status,
            version: response.headers.get('x-slipway-model-version'),
            revision: response.headers.get('x-slipway-revision'),
          });
        }
      };
      const load = Promise.all(Array.from({ length: WORKERS }, worker));

      let changes = 0;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      while (performance.now() < end - 1500) {
        if (changes % 2 === 0) await toProd(2);
        else
          await ok('POST', '/api/v1/environments/prod/deployments/m/rollback', {
            reason: `load test ${changes}`,
          });
        changes += 1;
        await new Promise((resolve) => setTimeout(resolve, 600));
      }
      await load;
      const seconds = (performance.now() - started) / 1000;

      const history = await ok('GET', '/api/v1/environments/prod/deployments/m/revisions?limit=1000');
      const allowed = new Map<string, Set<string>>(
        history.revisions.map((r: { number: number; traffic: { version: number; percent: number }[] }) => [
          String(r.number),
          new Set(r.traffic.filter((s) => s.percent > 0).map((s) => String(s.version))),
        ]),
      );
      const failures = observations.filter((o) => o.status !== 200);
      const misrouted = observations.filter(
        (o) => o.revision === null || o.version === null || !allowed.get(o.revision)?.has(o.version),
      );
      const revisionsSeen = new Set(observations.map((o) => o.revision));
      console.info(
        `rollout load: ${observations.length} requests in ${seconds.toFixed(1)} s (${(observations.length / seconds).toFixed(0)}/s), ${changes} deploys and rollbacks, ${revisionsSeen.size} revisions answered, ${failures.length} failures`,
      );

      expect(changes).toBeGreaterThanOrEqual(10);
      expect(failures).toEqual([]);
      expect(misrouted).toEqual([]);
      expect(observations.every((o) => /^[0-9]+$/.test(o.version ?? ''))).toBe(true);
      expect(observations.length / seconds).toBeGreaterThanOrEqual(300);
      // The load really spanned the changes: answers came from many revisions, both versions.
      expect(revisionsSeen.size).toBeGreaterThanOrEqual(8);
      expect(new Set(observations.map((o) => o.version))).toEqual(new Set(['1', '2']));
    },
    DURATION_MS + 60_000,
  );
});
