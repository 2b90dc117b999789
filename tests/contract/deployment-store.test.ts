import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditStore } from '../../src/audit/audit-store.js';
import type { DeploymentStore, NewRevision } from '../../src/deployments/deployment-store.js';
import type { Promotion } from '../../src/domain/promotion.js';
import type { RegistryStore } from '../../src/registry/registry-store.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/** The DeploymentStore contract, run against every implementation on a real database. */
const BACKENDS: {
  name: string;
  open: () => Promise<
    Pick<Stores, 'database' | 'registry' | 'audit'> & {
      store: DeploymentStore;
      cleanup: () => Promise<void>;
    }
  >;
}[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-deployments-'));
      const { database, registry, deployments, audit } = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return {
        database,
        registry,
        store: deployments,
        audit,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      const { database, registry, deployments, audit } = storesForUri(url);
      return { database, registry, store: deployments, audit, cleanup: drop };
    },
  },
];

const routing = (model: string, environment: string, version: number): NewRevision => ({
  model,
  environment,
  traffic: [{ version, percent: 100 }],
  tags: {},
  shadow: null,
  kind: 'deploy',
  actor: 'ada',
  reason: 'test',
  promotionId: null,
  requestId: 'req-1',
});
const audit = { actor: 'ada', action: 'revision.deploy', target: 'm-dev', result: 'ok' as const };
const promotionAt = (status: Promotion['status']): Promotion => ({
  id: 'prm_1',
  model: 'm',
  environment: 'prod',
  version: 1,
  status,
  requestedBy: 'ada',
  reason: '',
  options: { canary: false, allowSchemaChange: false, confirm: 'prod' },
  gates: [],
  approval: null,
  rollout: null,
  baseline: null,
  failure: null,
  requestId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

for (const backend of BACKENDS) {
  describe(`DeploymentStore on ${backend.name}`, () => {
    let registry: RegistryStore;
    let store: DeploymentStore;
    let database: Stores['database'];
    let trail: AuditStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ database, registry, store, audit: trail, cleanup } = await backend.open());
      await database.migrate();
      await registry.createModel({ name: 'm' });
    });
    afterEach(async () => {
      await database.close();
      await cleanup();
    });

    it('numbers revisions per deployment and keeps them in order, with their audit events', async () => {
      expect(await store.currentRevision('m', 'dev')).toBeNull();
      const first = await store.appendRevision(routing('m', 'dev', 1), audit, null);
      const second = await store.appendRevision(routing('m', 'dev', 2), audit, 1);
      const other = await store.appendRevision(routing('m', 'prod', 1), { ...audit, target: 'm-prod' });
      expect([first.number, second.number, other.number]).toEqual([1, 2, 1]);
      expect(await store.currentRevision('m', 'dev')).toMatchObject({
        number: 2,
        traffic: [{ version: 2, percent: 100 }],
      });
      expect((await store.listRevisions('m', 'dev')).items.map((r) => r.number)).toEqual([2, 1]);
      expect((await store.currentRevisions()).map((r) => `${r.environment}:${r.number}`)).toEqual([
        'dev:2',
        'prod:1',
      ]);
      expect((await store.currentRevisions('prod')).length).toBe(1);
      const events = await trail.list({ target: 'm-dev' });
      expect(events.items.map((e) => e.after)).toEqual([
        { revision: 2, traffic: [{ version: 2, percent: 100 }], tags: {}, shadow: null },
        { revision: 1, traffic: [{ version: 1, percent: 100 }], tags: {}, shadow: null },
      ]);
      expect(events.items[0]?.before).toEqual({
        traffic: [{ version: 1, percent: 100 }],
        tags: {},
        shadow: null,
      });
    });

    it('refuses a revision built on a stale one, writing neither it nor its audit event', async () => {
      await store.appendRevision(routing('m', 'dev', 1), audit, null);
      await expect(store.appendRevision(routing('m', 'dev', 2), audit, null)).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
      });
      expect((await store.listRevisions('m', 'dev')).items.length).toBe(1);
      expect((await trail.list({})).items.length).toBe(1);
      await expect(store.appendRevision(routing('ghost', 'dev', 1), audit)).rejects.toMatchObject({
        code: 'MODEL_NOT_FOUND',
      });
      await expect(store.getRevision('m', 'dev', 9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('tells followers which deployments changed since a cursor', async () => {
      const start = await store.revisionCursor();
      await store.appendRevision(routing('m', 'dev', 1), audit);
      await store.appendRevision(routing('m', 'dev', 2), audit);
      await store.appendRevision(routing('m', 'prod', 1), audit);
      const changed = await store.changedSince(start);
      expect(changed.deployments).toEqual([
        { model: 'm', environment: 'dev' },
        { model: 'm', environment: 'prod' },
      ]);
      expect(changed.cursor).toBe(await store.revisionCursor());
      expect((await store.changedSince(changed.cursor)).deployments).toEqual([]);
    });

    it('moves a promotion only from the status it was read in', async () => {
      const now = new Date().toISOString();
      const promotion: Promotion = {
        id: 'prm_1',
        model: 'm',
        environment: 'prod',
        version: 1,
        status: 'AWAITING_APPROVAL',
        requestedBy: 'ada',
        reason: '',
        options: { canary: false, allowSchemaChange: false, confirm: 'prod' },
        gates: [],
        approval: null,
        rollout: null,
        baseline: null,
        failure: null,
        requestId: null,
        createdAt: now,
        updatedAt: now,
      };
      await store.createPromotion(promotion);
      await store.updatePromotion({ ...promotion, status: 'REJECTED' }, 'AWAITING_APPROVAL');
      await expect(
        store.updatePromotion({ ...promotion, status: 'SUCCEEDED' }, 'AWAITING_APPROVAL'),
      ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', details: { status: 'REJECTED' } });
      expect((await store.listPromotions({ status: ['REJECTED'] })).items.map((p) => p.id)).toEqual([
        'prm_1',
      ]);
      await expect(store.getPromotion('prm_2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('finds GATING promotions whose hold lapsed, and only those', async () => {
      const now = '2026-01-01T00:00:10.000Z';
      const gating = (id: string): Promotion => ({ ...promotionAt('GATING'), id });
      await store.createPromotion(gating('held'), { holder: 'a', until: '2026-01-01T00:00:20.000Z' });
      await store.createPromotion(gating('lapsed'), { holder: 'b', until: '2026-01-01T00:00:05.000Z' });
      await store.createPromotion(gating('never-held'));
      await store.createPromotion({ ...promotionAt('AWAITING_APPROVAL'), id: 'waiting' });
      expect((await store.abandonedPromotions(now)).map((p) => p.id).sort()).toEqual([
        'lapsed',
        'never-held',
      ]);
      // Only the holder renews, and only while the promotion gates.
      expect(
        await store.renewPromotionLease('lapsed', { holder: 'a', until: '2026-01-01T00:01:00.000Z' }),
      ).toBe(false);
      expect(
        await store.renewPromotionLease('lapsed', { holder: 'b', until: '2026-01-01T00:01:00.000Z' }),
      ).toBe(true);
      expect((await store.abandonedPromotions(now)).map((p) => p.id)).toEqual(['never-held']);
      await store.updatePromotion({ ...gating('held'), status: 'FAILED' }, 'GATING');
      expect(
        await store.renewPromotionLease('held', { holder: 'a', until: '2026-01-01T00:01:00.000Z' }),
      ).toBe(false);
      // A transition can hand the promotion to a new holder.
      await store.updatePromotion({ ...gating('waiting') }, 'AWAITING_APPROVAL', {
        holder: 'c',
        until: '2026-01-01T00:00:01.000Z',
      });
      expect((await store.abandonedPromotions(now)).map((p) => p.id).sort()).toEqual([
        'never-held',
        'waiting',
      ]);
    });

    it("writes a promotion's revision only while the promotion is in the status it was built in", async () => {
      await store.createPromotion({ ...promotionAt('GATING'), id: 'prm_x' });
      const revision = { ...routing('m', 'prod', 1), promotionId: 'prm_x' };
      await expect(store.appendRevision(revision, audit, null, 'ROLLING_OUT')).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        details: { status: 'GATING' },
      });
      expect(await store.currentRevision('m', 'prod')).toBeNull();
      expect((await trail.list({})).items).toEqual([]);
      expect((await store.appendRevision(revision, audit, null, 'GATING')).promotionId).toBe('prm_x');
    });

    it('stores datasets, replacing by name', async () => {
      const dataset = {
        model: 'm',
        name: 'validation',
        label: 'y',
        rows: [{ x: 1, y: 1 }],
        createdBy: 'ada',
        createdAt: 'now',
      };
      expect(await store.putDataset(dataset)).toEqual({ replaced: false });
      expect(await store.putDataset({ ...dataset, rows: [{ x: 2, y: 2 }] })).toEqual({ replaced: true });
      expect((await store.getDataset('m', 'validation')).rows).toEqual([{ x: 2, y: 2 }]);
      await expect(store.getDataset('m', 'other')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.putDataset({ ...dataset, model: 'ghost' })).rejects.toMatchObject({
        code: 'MODEL_NOT_FOUND',
      });
    });
  });
}
