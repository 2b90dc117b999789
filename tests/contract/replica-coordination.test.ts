import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewRevision } from '../../src/deployments/deployment-store.js';
import type { ServedWindow, ShadowWindow } from '../../src/domain/traffic.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What replicas share through the registry's database, on every database: the lead lease, every
 * replica's traffic windows, and (PostgreSQL) news of committed revisions. Two `Stores` on one
 * database stand for two server processes.
 */
const BACKENDS: { name: string; open: () => Promise<{ uri: string; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-replicas-'));
      return {
        uri: `sqlite:${join(dir, 'registry.db')}`,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      return { uri: url, cleanup: drop };
    },
  },
];

const served = (version: number, windowStart: number, latencies: number[], failures = 0): ServedWindow => {
  const latency: Record<string, number> = {};
  for (const ms of latencies) {
    const bucket = Math.ceil(Math.log2(ms * 1000) * 8);
    latency[bucket] = (latency[bucket] ?? 0) + 1;
  }
  return {
    environment: 'prod',
    model: 'm',
    version,
    windowStart,
    requests: latencies.length,
    failures,
    latency,
    predictions: latencies.map((_, i) => (i % 2 === 0 ? 'a' : 'b')),
  };
};
const shadow = (revision: number, windowStart: number, requests: number, agreed: number): ShadowWindow => ({
  environment: 'prod',
  model: 'm',
  revision,
  version: 2,
  windowStart,
  requests,
  failures: 0,
  agreed,
  maxAbsDiff: requests - agreed,
});

for (const backend of BACKENDS) {
  describe(`replica coordination on ${backend.name}`, () => {
    let a: Stores;
    let b: Stores;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const opened = await backend.open();
      cleanup = opened.cleanup;
      a = storesForUri(opened.uri);
      await a.database.migrate();
      b = storesForUri(opened.uri);
      await b.database.migrate();
    });
    afterEach(async () => {
      await a.database.close();
      await b.database.close();
      await cleanup();
    });

    it('gives a lease to one holder at a time, until it lapses or is given up', async () => {
      const t = 1_000_000;
      expect(await a.leases.acquireLease('lead', 'A', t, t + 100)).toBe(true);
      expect(await b.leases.acquireLease('lead', 'B', t + 50, t + 150)).toBe(false);
      // The holder renews; the other still cannot take it.
      expect(await a.leases.acquireLease('lead', 'A', t + 60, t + 160)).toBe(true);
      expect(await b.leases.acquireLease('lead', 'B', t + 150, t + 250)).toBe(false);
      // Lapsed: the other takes it, and the old holder cannot renew.
      expect(await b.leases.acquireLease('lead', 'B', t + 161, t + 261)).toBe(true);
      expect(await a.leases.acquireLease('lead', 'A', t + 170, t + 270)).toBe(false);
      const [lead] = await a.leases.liveLeases('lead', t + 170);
      expect(lead).toMatchObject({ name: 'lead', holder: 'B', untilMs: t + 261, acquiredMs: t + 161 });
      // Released: taken at once. Releasing someone else's lease does nothing.
      await a.leases.releaseLease('lead', 'A');
      expect(await a.leases.acquireLease('lead', 'A', t + 180, t + 280)).toBe(false);
      await b.leases.releaseLease('lead', 'B');
      expect(await a.leases.acquireLease('lead', 'A', t + 181, t + 281)).toBe(true);
    });

    it('lets exactly one of many racing holders take a lapsed lease', async () => {
      const t = 2_000_000;
      const holders = Array.from({ length: 12 }, (_, i) => `H${i}`);
      const results = await Promise.all(
        // Two SQLite connections in one thread would block each other (better-sqlite3 waits
        // synchronously); processes race on it through the file lock, as PostgreSQL's pools do here.
        holders.map((holder, i) =>
          (i % 2 === 1 && backend.name === 'postgres' ? b : a).leases.acquireLease(
            'lead',
            holder,
            t,
            t + 1000,
          ),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const [lead] = await b.leases.liveLeases('lead', t);
      expect(lead?.holder).toBe(holders[results.indexOf(true)]);
    });

    it('lists live leases under a prefix and leaves out lapsed ones', async () => {
      await a.leases.acquireLease('replica:r1/1/aa', 'r1/1/aa', 0, 5000);
      await b.leases.acquireLease('replica:r2/2/bb', 'r2/2/bb', 0, 1000);
      await b.leases.acquireLease('lead', 'r2/2/bb', 0, 5000);
      expect((await a.leases.liveLeases('replica:', 2000)).map((l) => l.holder)).toEqual(['r1/1/aa']);
      expect((await a.leases.liveLeases('replica:', 500)).map((l) => l.holder)).toEqual([
        'r1/1/aa',
        'r2/2/bb',
      ]);
    });

    it("sums every replica's traffic windows from a moment on, and their shadow comparisons per revision", async () => {
      await a.traffic.writeTraffic('r1', {
        served: [served(2, 10_000, [1, 2, 3]), served(2, 11_000, [4], 1), served(1, 11_000, [9, 9])],
        shadow: [shadow(7, 10_000, 4, 3)],
      });
      await b.traffic.writeTraffic('r2', {
        served: [served(2, 11_000, [5, 6], 1), served(2, 12_000, [100])],
        shadow: [shadow(7, 11_000, 6, 6), shadow(6, 9_000, 5, 0)],
      });
      // A write of the same window again adds to it.
      await b.traffic.writeTraffic('r2', { served: [served(2, 12_000, [7])], shadow: [] });

      const since = (await a.traffic.servedWindows('prod', 'm', 2, 11_500)).sort(
        (x, y) => x.windowStart - y.windowStart,
      );
      // The window the moment falls in counts whole; earlier ones do not.
      expect(since.map((w) => [w.windowStart, w.requests, w.failures])).toEqual(
        expect.arrayContaining([
          [11_000, 1, 1],
          [11_000, 2, 1],
          [12_000, 1, 0],
          [12_000, 1, 0],
        ]),
      );
      expect(since).toHaveLength(4);
      expect(since.reduce((sum, w) => sum + w.predictions.length, 0)).toBe(5);
      expect(await b.traffic.servedWindows('prod', 'm', 3, 0)).toEqual([]);

      expect(await b.traffic.shadowOf('prod', 'm', 7)).toEqual({
        revision: 7,
        version: 2,
        requests: 10,
        failures: 0,
        agreed: 9,
        maxAbsDiff: 1,
      });
      expect(await b.traffic.shadowOf('prod', 'm', 8)).toBeNull();

      expect(await a.traffic.pruneTraffic(11_000)).toBe(3);
      expect(await a.traffic.servedWindows('prod', 'm', 2, 0)).toHaveLength(4);
    });

    it('announces a committed revision to listeners on PostgreSQL, and has no announcements on SQLite', async () => {
      const notices: number[] = [];
      const watching = b.deployments.watchRevisions(() => notices.push(Date.now()));
      if (backend.name !== 'postgres') {
        expect(watching).toBeNull();
        return;
      }
      const stop = await (watching as Promise<() => Promise<void>>);
      try {
        await a.registry.createModel({ name: 'm' });
        const revision: NewRevision = {
          model: 'm',
          environment: 'prod',
          traffic: [{ version: 1, percent: 100 }],
          tags: {},
          shadow: null,
          kind: 'deploy',
          actor: 'ada',
          reason: 'test',
          promotionId: null,
          requestId: null,
        };
        const before = Date.now();
        await a.deployments.appendRevision(revision, {
          actor: 'ada',
          action: 'revision.deploy',
          target: 'm-prod',
          result: 'ok',
        });
        await waitFor('the notice', async () => (notices.length > 0 ? true : undefined), 1000);
        expect((notices[0] as number) - before).toBeLessThan(1000);
        // A revision refused (rolled back) announces nothing.
        await expect(
          a.deployments.appendRevision(
            revision,
            { actor: 'ada', action: 'x', target: 'm-prod', result: 'ok' },
            5,
          ),
        ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(notices).toHaveLength(1);
      } finally {
        await stop();
      }
    });
  });
}
