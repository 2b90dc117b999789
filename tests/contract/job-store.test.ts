import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_ACTOR } from '../../src/domain/roles.js';
import type { JobRunner } from '../../src/jobs/job-runner.js';
import { JobService } from '../../src/jobs/job-service.js';
import type { JobStore } from '../../src/jobs/job-store.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/**
 * The JobStore contract on a real SQLite file and a real PostgreSQL database, including what makes replicas safe: a job's lease is
 * held by one process at a time, a dead holder's lease can be taken once it expires, and a schedule
 * time gets one run however many replicas queue it.
 */
const context = { actor: LOCAL_ACTOR, requestId: null };
const spec = (overrides: Record<string, unknown> = {}) => ({
  name: 'nightly',
  model: 'marked/1',
  source: { query: 'SELECT 1 AS x' },
  sink: { table: 'scores' },
  ...overrides,
});

const BACKENDS: { name: string; open: () => Promise<{ stores: Stores; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-jobs-'));
      const stores = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return { stores, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      return { stores: storesForUri(url), cleanup: drop };
    },
  },
];

for (const backend of BACKENDS)
  describe(`JobStore contract: ${backend.name}`, () => {
    let cleanup: () => Promise<void>;
    let stores: Stores;
    let store: JobStore;
    const service = (s: Stores = stores) =>
      // schedule() and the job operations never call the runner; runs are claimed through the store here.
      new JobService({
        store: s.jobs,
        audit: s.audit,
        runner: {} as JobRunner,
        warehouses: {},
        leaseMs: 1000,
        logger: pino({ level: 'silent' }),
      });

    beforeEach(async () => {
      ({ stores, cleanup } = await backend.open());
      await stores.database.migrate();
      store = stores.jobs;
    });
    afterEach(async () => {
      await stores.database.close();
      await cleanup();
    });

    it('creates a job of a name once: of concurrent creations, one wins and the rest are ALREADY_EXISTS', async () => {
      const attempts = await Promise.allSettled(
        [0, 1, 2, 3].map((i) => service().createJob(spec({ description: `attempt ${i}` }), context)),
      );
      const created = attempts.filter((a) => a.status === 'fulfilled');
      const refused = attempts.flatMap((a) =>
        a.status === 'rejected' ? [a.reason as { code?: string }] : [],
      );
      expect(created).toHaveLength(1);
      expect(refused.map((error) => error.code)).toEqual([
        'ALREADY_EXISTS',
        'ALREADY_EXISTS',
        'ALREADY_EXISTS',
      ]);
      const winner = (created[0] as PromiseFulfilledResult<{ description: string }>).value;
      expect((await store.getJob('nightly')).description).toBe(winner.description);
      // Replacing is still allowed, and says it replaced; creating again still refuses.
      expect((await service().putJob(spec({ description: 'replaced' }), context)).created).toBe(false);
      await expect(service().createJob(spec(), context)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect((await store.getJob('nightly')).description).toBe('replaced');
    });

    it('gives a job’s lease to one holder at a time, and to another once it expires', async () => {
      await service().putJob(spec(), context);
      const queue = (date: string) =>
        store.createRun({
          job: 'nightly',
          logicalDate: date,
          trigger: 'manual',
          attempt: 1,
          scheduledFor: null,
          notBefore: '2001-01-01T00:00:00.000Z',
          actor: 'ada',
        });
      const first = await queue('2001-01-01');
      await queue('2001-01-02');
      const t0 = '2001-01-03T00:00:00.000Z';
      expect(await store.claimNextRun('nightly', 'replica-a', t0, 1000)).toMatchObject({
        id: first!.id,
        status: 'running',
        holder: 'replica-a',
      });
      // While A holds it, B gets nothing, and A cannot start a second run of the job either.
      expect(await store.claimNextRun('nightly', 'replica-b', t0, 1000)).toBeNull();
      expect(await store.claimNextRun('nightly', 'replica-a', t0, 1000)).toBeNull();
      expect(await store.renewLease('nightly', 'replica-b', t0, 1000)).toEqual({
        held: false,
        cancel: false,
      });
      expect(await store.renewLease('nightly', 'replica-a', t0, 1000)).toEqual({ held: true, cancel: false });
      await store.requestCancel(first!.id);
      expect(await store.renewLease('nightly', 'replica-a', t0, 1000)).toEqual({ held: true, cancel: true });

      // A dies: after the lease expires its run is an orphan, and once it is failed B takes the next.
      const later = '2001-01-03T00:00:05.000Z';
      expect(await store.orphanedRuns(t0)).toEqual([]);
      expect((await store.orphanedRuns(later)).map((r) => r.id)).toEqual([first!.id]);
      expect(await store.claimNextRun('nightly', 'replica-b', later, 1000)).toBeNull();
      expect(await store.updateRun(first!.id, { status: 'failed' }, 'running')).toBe(true);
      expect(await store.updateRun(first!.id, { status: 'succeeded' }, 'running')).toBe(false);
      expect(await store.claimNextRun('nightly', 'replica-b', later, 1000)).toMatchObject({
        logicalDate: '2001-01-02',
        holder: 'replica-b',
      });
    });

    it('queues a run not before its time', async () => {
      await service().putJob(spec(), context);
      await store.createRun({
        job: 'nightly',
        logicalDate: '2001-01-01',
        trigger: 'retry',
        attempt: 2,
        scheduledFor: null,
        notBefore: '2001-01-01T00:01:00.000Z',
        actor: 'slipway',
      });
      expect(await store.claimNextRun('nightly', 'a', '2001-01-01T00:00:59.000Z', 1000)).toBeNull();
      expect(await store.claimNextRun('nightly', 'a', '2001-01-01T00:01:00.000Z', 1000)).toMatchObject({
        attempt: 2,
      });
    });

    it('queues one run per schedule time, however many replicas schedule', async () => {
      const a = service();
      const b = service(stores);
      const { job } = await a.putJob(spec({ schedule: '0 2 * * *', catchup: 'all' }), context);
      const since = new Date(job.scheduleSince);
      const threeNightsLater = new Date(since.getTime() + 3 * 86_400_000);
      await Promise.all([
        a.schedule(threeNightsLater),
        b.schedule(threeNightsLater),
        a.schedule(threeNightsLater),
      ]);
      const runs = (await store.listRuns('nightly')).items;
      expect(runs).toHaveLength(3);
      expect(new Set(runs.map((r) => r.scheduledFor)).size).toBe(3);
      expect(runs.every((r) => r.trigger === 'schedule' && r.scheduledFor!.endsWith('T02:00:00.000Z'))).toBe(
        true,
      );
    });

    it('catches up only the latest missed time by default, and none with catchup none', async () => {
      const s = service();
      const { job } = await s.putJob(spec({ schedule: '0 2 * * *' }), context);
      const later = new Date(Date.parse(job.scheduleSince) + 5 * 86_400_000);
      await s.schedule(later);
      await s.schedule(later);
      const runs = (await store.listRuns('nightly')).items;
      expect(runs).toHaveLength(1);
      expect(runs[0]!.logicalDate).toBe(
        new Date(later.getTime() - (later.getUTCHours() < 2 ? 86_400_000 : 0)).toISOString().slice(0, 10),
      );
    });

    it('with catchup none, skips the times missed while no scheduler ran', async () => {
      const s = service();
      await s.putJob(spec({ name: 'skipper', schedule: '* * * * * *', catchup: 'none' }), context);
      await s.putJob(spec({ name: 'catcher', schedule: '* * * * * *', catchup: 'latest' }), context);
      // Two schedule times pass with no scheduler running, then a server starts.
      await new Promise((r) => setTimeout(r, 2100));
      await service().schedule(new Date());
      expect((await store.listRuns('catcher')).items).toHaveLength(1);
      expect((await store.listRuns('skipper')).items).toHaveLength(0);
    });

    it('refuses to delete a job while it runs, and deletes its history otherwise', async () => {
      await service().putJob(spec(), context);
      const run = await store.createRun({
        job: 'nightly',
        logicalDate: '2001-01-01',
        trigger: 'manual',
        attempt: 1,
        scheduledFor: null,
        notBefore: '2001-01-01T00:00:00.000Z',
        actor: 'ada',
      });
      await store.appendLog(run!.id, 'info', 'hello');
      await store.claimNextRun('nightly', 'a', '2001-01-02T00:00:00.000Z', 1000);
      await expect(store.deleteJob('nightly')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await store.updateRun(run!.id, { status: 'succeeded' });
      await store.deleteJob('nightly');
      await expect(store.getJob('nightly')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await store.listLogs(run!.id)).toEqual([]);
    });
  });
