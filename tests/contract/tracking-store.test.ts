import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackingStore } from '../../src/mlflow/tracking-store.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/** The TrackingStore contract, run against every implementation on a real database. */
const BACKENDS: {
  name: string;
  open: () => Promise<Pick<Stores, 'tracking' | 'registry' | 'database'> & { cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'SQLite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-tracking-'));
      const stores = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return {
        tracking: stores.tracking,
        registry: stores.registry,
        database: stores.database,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const { url, drop } = await freshDatabase();
      const stores = storesForUri(url);
      return {
        tracking: stores.tracking,
        registry: stores.registry,
        database: stores.database,
        cleanup: drop,
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`TrackingStore contract: ${backend.name}`, () => {
    let store: TrackingStore;
    let database: Stores['database'];
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ tracking: store, database, cleanup } = await backend.open());
      await database.migrate();
    });
    afterEach(async () => {
      await database.close();
      await cleanup();
    });

    const newRun = async (runId = 'a'.repeat(32)) =>
      store.createRun({
        runId,
        experimentId: '0',
        runName: 'r',
        userId: 'u',
        startTime: 5,
        artifactUri: `mlflow-artifacts:/0/${runId}/artifacts`,
        tags: [{ key: 'mlflow.runName', value: 'r' }],
      });

    it('has the Default experiment and numbers new ones, refusing duplicate names', async () => {
      expect((await store.getExperiment('0')).name).toBe('Default');
      const one = await store.createExperiment('one', [{ key: 'k', value: 'v' }]);
      expect(one).toMatchObject({
        experimentId: '1',
        artifactLocation: 'mlflow-artifacts:/1',
        tags: [{ key: 'k', value: 'v' }],
      });
      await expect(store.createExperiment('one', [])).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect((await store.findExperiment('one'))?.experimentId).toBe('1');
      expect(await store.findExperiment('two')).toBeNull();
      await expect(store.getExperiment('99')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.getExperiment('x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('keeps the latest point per metric and the whole history, once per point', async () => {
      const run = await newRun();
      const id = run.info.runId;
      await store.logBatch(id, {
        metrics: [
          { key: 'm', value: 1, timestamp: 10, step: 2 },
          { key: 'm', value: 5, timestamp: 20, step: 1 },
          { key: 'm', value: Number.NaN, timestamp: 30, step: 0 },
        ],
      });
      await store.logBatch(id, { metrics: [{ key: 'm', value: 1, timestamp: 10, step: 2 }] });
      await store.logBatch(id, { metrics: [{ key: 'm', value: Number.NaN, timestamp: 30, step: 0 }] });
      const history = await store.metricHistory(id, 'm');
      expect(history.map((m) => [m.step, m.value])).toEqual([
        [0, Number.NaN],
        [1, 5],
        [2, 1],
      ]);
      expect((await store.getRun(id)).metrics).toEqual([{ key: 'm', value: 1, timestamp: 10, step: 2 }]);
    });

    it('writes a batch whole or not at all, and never changes a param', async () => {
      const id = (await newRun()).info.runId;
      await store.logBatch(id, { params: [{ key: 'p', value: '1' }] });
      await expect(
        store.logBatch(id, {
          params: [{ key: 'p', value: '2' }],
          tags: [{ key: 't', value: 'x' }],
          metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }],
        }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const run = await store.getRun(id);
      expect(run.params).toEqual([{ key: 'p', value: '1' }]);
      expect(run.tags.map((t) => t.key)).toEqual(['mlflow.runName']);
      expect(run.metrics).toEqual([]);
    });

    it('refuses writes to a deleted run and to unknown runs', async () => {
      const id = (await newRun()).info.runId;
      await store.setRunLifecycle(id, 'deleted');
      await expect(store.logBatch(id, { tags: [{ key: 't', value: 'x' }] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(store.getRun('b'.repeat(32))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('records run inputs and outputs once each', async () => {
      const id = (await newRun()).info.runId;
      const link = {
        direction: 'output' as const,
        kind: 'model' as const,
        payload: { modelId: 'm-1', step: 0 },
      };
      await store.logRunLinks(id, [link]);
      await store.logRunLinks(id, [link]);
      expect((await store.getRun(id)).modelOutputs).toEqual([{ modelId: 'm-1', step: 0 }]);
    });

    it('keeps logged models with their params, tags, status and linked metrics', async () => {
      const id = (await newRun()).info.runId;
      const modelId = `m-${'c'.repeat(32)}`;
      await store.createLoggedModel({
        modelId,
        experimentId: '0',
        name: 'model',
        artifactLocation: `mlflow-artifacts:/0/models/${modelId}/artifacts`,
        status: 'LOGGED_MODEL_PENDING',
        modelType: '',
        sourceRunId: id,
        creationTimestamp: 1,
        params: [{ key: 'lr', value: '0.1' }],
        tags: [],
      });
      await store.setLoggedModelTags(modelId, [{ key: 'a', value: '1' }]);
      await store.logBatch(id, { metrics: [{ key: 'acc', value: 0.9, timestamp: 1, step: 0, modelId }] });
      const ready = await store.finalizeLoggedModel(modelId, 'LOGGED_MODEL_READY');
      expect(ready).toMatchObject({
        status: 'LOGGED_MODEL_READY',
        params: [{ key: 'lr', value: '0.1' }],
        tags: [{ key: 'a', value: '1' }],
        metrics: [expect.objectContaining({ key: 'acc', modelId })],
      });
      await store.deleteLoggedModelTag(modelId, 'a');
      await expect(store.deleteLoggedModelTag(modelId, 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await store.listLoggedModels(['0'])).map((m) => m.modelId)).toEqual([modelId]);
    });
  });
}
