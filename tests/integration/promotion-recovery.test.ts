import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentStore } from '../../src/deployments/deployment-store.js';
import { INTERRUPTED_GATING } from '../../src/deployments/promotion-recovery.js';
import type { Promotion } from '../../src/domain/promotion.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * Recovery of promotions whose server died, on a real server and registry: the rows a dead server
 * leaves are written straight into the registry (as a second process on the same file would see
 * them), and time runs on a manual clock, so leases lapse when the test says.
 */
const LEASE_MS = 30_000;

describe('recovering promotions whose server died', () => {
  let server: TestServer;
  let stores: Stores;
  let store: DeploymentStore;
  const clock = new ManualClock();
  beforeAll(async () => {
    server = await startServer({ SLIPWAY_PROMOTION_LEASE_MS: LEASE_MS }, { allInOne: true, clock });
    expect((await server.push('m', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
    stores = storesForUri(server.app.config.registryUri);
    store = stores.deployments;
  });
  afterAll(async () => {
    await stores?.database.close();
    await server?.stop();
  });

  const at = (offsetMs: number) => new Date(clock.now() + offsetMs).toISOString();
  const orphan = async (id: string, environment: string, leaseOffsetMs: number, canary = false) => {
    const now = at(0);
    const promotion: Promotion = {
      id,
      model: 'm',
      environment,
      version: 1,
      status: 'GATING',
      requestedBy: 'ada',
      reason: '',
      options: { canary, allowSchemaChange: false, confirm: null },
      gates: [],
      approval: null,
      rollout: null,
      baseline: canary ? [{ version: 2, percent: 100 }] : null,
      failure: null,
      requestId: null,
      createdAt: now,
      updatedAt: now,
    };
    return store.createPromotion(promotion, { holder: 'dead-server', until: at(leaseOffsetMs) });
  };
  const revisionOf = (id: string, environment: string, traffic: { version: number; percent: number }[]) =>
    store.appendRevision(
      {
        model: 'm',
        environment,
        traffic,
        tags: {},
        shadow: null,
        kind: 'promotion',
        actor: 'ada',
        reason: 'written before the server died',
        promotionId: id,
        requestId: null,
      },
      { actor: 'ada', action: 'revision.promotion', target: `m-${environment}`, result: 'ok' },
    );
  const status = async (id: string) => (await server.request('GET', `/api/v1/promotions/${id}`)).body;

  it('fails one that wrote nothing, finishes one whose revision is in force, and leaves a held one alone', async () => {
    await orphan('prm_gating', 'staging', -1);
    await orphan('prm_deployed', 'staging', -1);
    await revisionOf('prm_deployed', 'staging', [{ version: 1, percent: 100 }]);
    await orphan('prm_canary', 'prod', -1, true);
    await revisionOf('prm_canary', 'prod', [
      { version: 1, percent: 10 },
      { version: 2, percent: 90 },
    ]);
    await orphan('prm_held', 'staging', 10_000);

    const ended = await server.app.deployments.recover();
    expect(ended.map((p) => [p.id, p.status]).sort()).toEqual([
      ['prm_canary', 'ROLLING_OUT'],
      ['prm_deployed', 'SUCCEEDED'],
      ['prm_gating', 'FAILED'],
    ]);
    expect(await status('prm_gating')).toMatchObject({ status: 'FAILED', failure: INTERRUPTED_GATING });
    expect(await status('prm_canary')).toMatchObject({ status: 'ROLLING_OUT', rollout: { step: 0 } });
    expect((await status('prm_held')).status).toBe('GATING');
    // Nothing to do a second time.
    expect(await server.app.deployments.recover()).toEqual([]);
    const audit = await server.request('GET', '/api/v1/audit?action=promotion.&actor=slipway');
    expect(audit.body.events.map((e: { action: string }) => e.action).sort()).toEqual([
      'promotion.fail',
      'promotion.recover',
      'promotion.succeed',
    ]);
  });

  it('ends a promotion at the first periodic look after its lease lapses', async () => {
    await orphan('prm_later', 'staging', 5_000);
    await clock.advance(4_000);
    expect((await status('prm_later')).status).toBe('GATING');
    await clock.advance(LEASE_MS);
    expect((await status('prm_later')).status).toBe('FAILED');
  });
});
