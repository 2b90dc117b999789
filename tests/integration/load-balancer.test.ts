import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoManifest } from '../../src/cli/demo.js';
import type { LocalCluster } from '../../src/cli/local-cluster.js';
import { startTestCluster } from '../helpers/local-cluster.js';

/**
 * `make demo-cluster` as a test: three `slipway serve` replicas, each with its own data folder, port and
 * name, on one PostgreSQL registry and one S3 bucket, behind a real HAProxy. The first replica prepares
 * the demo (the example models promoted to prod); the load balancer spreads predictions over all three,
 * and when one replica dies (kill -9: no chance to drain) the others take its traffic.
 */
describe('replicas behind HAProxy', () => {
  let cluster: LocalCluster;
  const body = JSON.stringify({ instances: demoManifest().sample.slice(0, 2) });
  let expected: string;

  beforeAll(async () => {
    cluster = await startTestCluster({ replicas: 3, demo: true });
    // The reference answer, straight from the replica that prepared the demo.
    const direct = await predict(cluster.replicas[0]!.url);
    expect(direct.status).toBe(200);
    expected = direct.body;
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  interface Answer {
    status: number;
    body: string;
    replica: string | null;
    version: string | null;
  }

  async function predict(base: string): Promise<Answer> {
    try {
      const response = await fetch(`${base}/v1/models/penguin-species:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      return {
        status: response.status,
        body: await response.text(),
        replica: response.headers.get('x-slipway-replica'),
        version: response.headers.get('x-slipway-model-version'),
      };
    } catch (error) {
      return { status: 0, body: String(error), replica: null, version: null };
    }
  }

  /** `count` predictions through the load balancer, `concurrency` at a time. */
  async function load(count: number, concurrency: number): Promise<Answer[]> {
    const answers: Answer[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next += 1;
          answers.push(await predict(cluster.url));
        }
      }),
    );
    return answers;
  }

  const failures = (answers: readonly Answer[]) =>
    answers.filter((a) => a.status !== 200 || a.body !== expected || a.version !== '1');

  it('spreads 300 predictions over the three replicas, every one answered right', async () => {
    const answers = await load(300, 8);
    expect(answers).toHaveLength(300);
    expect(failures(answers)).toEqual([]);
    const names = new Set(answers.map((a) => a.replica));
    expect([...names].sort()).toEqual(['replica-1', 'replica-2', 'replica-3']);
  }, 60_000);

  it('keeps serving through the load balancer when a replica is killed mid-load', async () => {
    const victim = cluster.replicas[1]!;
    const during = load(300, 8);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await victim.kill('SIGKILL');
    const answers = await during;
    const after = await load(150, 8);
    const failed = failures([...answers, ...after]);
    // Reported whatever the outcome: how the load balancer fared is the point of the test.
    console.info(
      `kill -9 ${victim.name} under load: ${answers.length + after.length} predictions, ${failed.length} failed` +
        (failed.length > 0
          ? ` (${[...new Set(failed.map((a) => `${a.status} ${a.body.slice(0, 80)}`))].join('; ')})`
          : ''),
    );
    expect(failed).toEqual([]);
    expect(new Set(after.map((a) => a.replica))).toEqual(new Set(['replica-1', 'replica-3']));
  }, 60_000);
});
