import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewVersion, RegistryStore } from '../../src/registry/registry-store.js';
import { openDatabase } from '../../src/storage/database.js';
import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/**
 * The RegistryStore contract. Every implementation runs this suite against a real database; SQLite
 * runs it on a real file. (Further backends add an entry to BACKENDS.)
 */
const BACKENDS: {
  name: string;
  open: () => Promise<{ store: RegistryStore; database: Stores['database']; cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-registry-'));
      const { registry, database } = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return {
        store: registry,
        database,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      const { registry, database } = storesForUri(url);
      return { store: registry, database, cleanup: drop };
    },
  },
];

const draft = (overrides: Partial<NewVersion> = {}): NewVersion => ({
  description: 'first',
  sha256: 'a'.repeat(64),
  sizeBytes: 10,
  signature: {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 4] }],
  },
  metrics: { accuracy: 0.9 },
  tags: { framework: 'sklearn' },
  inputPolicies: [{ name: 'x', nullable: false }],
  sample: [{ x: [1, 2, 3, 4] }],
  task: 'classification',
  lineage: { uploader: 'ada', runId: 'run-1', gitCommit: 'abc123', dataset: 'penguins' },
  ...overrides,
});
const key = (model: string) => (version: number) => `models/${model}/${version}/model.onnx`;

for (const backend of BACKENDS) {
  describe(`RegistryStore contract: ${backend.name}`, () => {
    let store: RegistryStore;
    let database: Stores['database'];
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, database, cleanup } = await backend.open());
      await database.migrate();
    });
    afterEach(async () => {
      await database.close();
      await cleanup();
    });

    it('migrates idempotently', async () => {
      await database.migrate();
      expect((await store.listModels()).items).toEqual([]);
    });

    it('sets and removes tags and descriptions of models and versions, and keeps why a version cannot serve', async () => {
      await store.createModel({ name: 'm', tags: { team: 'a' } });
      await store.createVersion('m', draft({ unservableReason: 'a pickle' }), key('m'));
      await store.setTag('m', null, 'team', 'b');
      await store.setTag('m', null, 'stage', 'x');
      await store.setTag('m', null, 'stage', null);
      expect((await store.getModel('m')).tags).toEqual({ team: 'b' });
      expect((await store.listModels({ tag: 'team=b' })).items.map((m) => m.name)).toEqual(['m']);
      await store.setTag('m', 1, 'ok', 'yes');
      expect((await store.getVersion('m', 1)).tags).toEqual({ framework: 'sklearn', ok: 'yes' });
      expect((await store.listVersions({ tag: 'ok=yes' })).items).toHaveLength(1);
      await store.setTag('m', 1, 'framework', null);
      expect((await store.getVersion('m', 1)).tags).toEqual({ ok: 'yes' });
      await expect(store.setTag('m', 1, 'missing', null)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.setTag('m', 2, 'k', 'v')).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
      await expect(store.setTag('ghost', null, 'k', 'v')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
      await store.setDescription('m', null, 'model text');
      await store.setDescription('m', 1, 'version text');
      expect((await store.getModel('m')).description).toBe('model text');
      const version = await store.getVersion('m', 1);
      expect([version.description, version.unservableReason]).toEqual(['version text', 'a pickle']);
    });

    it('creates a model once, and refuses a second with ALREADY_EXISTS', async () => {
      const model = await store.createModel({ name: 'm', description: 'd', tags: { team: 'x' } });
      expect(model).toMatchObject({
        name: 'm',
        description: 'd',
        tags: { team: 'x' },
        latestVersion: 0,
        aliases: {},
      });
      await expect(store.createModel({ name: 'm' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(store.getModel('other')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    });

    it('numbers versions 1, 2, 3 as PENDING until marked READY, with everything recorded', async () => {
      await store.createModel({ name: 'm' });
      const first = await store.createVersion('m', draft(), key('m'));
      expect(first).toMatchObject({ version: 1, status: 'PENDING', artifactKey: 'models/m/1/model.onnx' });
      const ready = await store.markVersionReady('m', 1);
      expect(ready).toMatchObject({
        status: 'READY',
        metrics: { accuracy: 0.9 },
        tags: { framework: 'sklearn' },
        lineage: { uploader: 'ada', runId: 'run-1', gitCommit: 'abc123', dataset: 'penguins' },
        sample: [{ x: [1, 2, 3, 4] }],
      });
      expect((await store.createVersion('m', draft(), key('m'))).version).toBe(2);
      expect((await store.createVersion('m', draft(), key('m'))).version).toBe(3);
      expect((await store.getModel('m')).latestVersion).toBe(3);
      await expect(store.markVersionReady('m', 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(store.getVersion('m', 9)).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
      await expect(store.createVersion('nope', draft(), key('nope'))).rejects.toMatchObject({
        code: 'MODEL_NOT_FOUND',
      });
    });

    it('never reuses a number, even after a failed registration', async () => {
      await store.createModel({ name: 'm' });
      await store.createVersion('m', draft(), key('m'));
      await store.markVersionFailed('m', 1, 'disk full');
      expect((await store.createVersion('m', draft(), key('m'))).version).toBe(2);
      expect((await store.getVersion('m', 1)).status).toBe('FAILED');
    });

    it('numbers concurrent registrations without gaps or duplicates', async () => {
      await store.createModel({ name: 'm' });
      const versions = await Promise.all(
        Array.from({ length: 20 }, () => store.createVersion('m', draft(), key('m'))),
      );
      expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    });

    it('fails PENDING versions left by a crash', async () => {
      await store.createModel({ name: 'm' });
      await store.createVersion('m', draft(), key('m'));
      await store.markVersionReady('m', (await store.createVersion('m', draft(), key('m'))).version);
      expect(await store.failPendingVersions('restart')).toBe(1);
      expect((await store.getVersion('m', 1)).status).toBe('FAILED');
      expect((await store.getVersion('m', 2)).status).toBe('READY');
    });

    it('points aliases at READY versions only, moves them, and deletes them', async () => {
      await store.createModel({ name: 'm' });
      await store.createVersion('m', draft(), key('m'));
      await expect(store.setAlias('m', 'champion', 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await store.markVersionReady('m', 1);
      await store.markVersionReady('m', (await store.createVersion('m', draft(), key('m'))).version);
      expect(await store.setAlias('m', 'champion', 1)).toEqual({ previous: null });
      expect(await store.setAlias('m', 'champion', 2)).toEqual({ previous: 1 });
      expect(await store.resolveAlias('m', 'champion')).toBe(2);
      expect((await store.getModel('m')).aliases).toEqual({ champion: 2 });
      expect((await store.getVersion('m', 2)).aliases).toEqual(['champion']);
      await expect(store.setAlias('m', 'champion', 7)).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
      await store.deleteAlias('m', 'champion');
      await expect(store.resolveAlias('m', 'champion')).rejects.toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      await expect(store.deleteAlias('m', 'champion')).rejects.toMatchObject({ code: 'ALIAS_NOT_FOUND' });
      await expect(store.deleteAlias('ghost', 'champion')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    });

    it('lists and filters versions, newest first, in pages', async () => {
      await store.createModel({ name: 'a_1' });
      await store.createModel({ name: 'b' });
      for (let i = 0; i < 5; i += 1) {
        const v = await store.createVersion(
          'a_1',
          draft({ tags: { parity: i % 2 ? 'odd' : 'even' } }),
          key('a_1'),
        );
        await store.markVersionReady('a_1', v.version);
      }
      await store.createVersion(
        'b',
        draft({ lineage: { uploader: 'bob', runId: null, gitCommit: null, dataset: null } }),
        key('b'),
      );

      const page1 = await store.listVersions({ model: 'a_1', limit: 2 });
      expect(page1.items.map((v) => v.version)).toEqual([5, 4]);
      const page2 = await store.listVersions({ model: 'a_1', limit: 2, pageToken: page1.nextPageToken! });
      expect(page2.items.map((v) => v.version)).toEqual([3, 2]);
      const page3 = await store.listVersions({ model: 'a_1', limit: 2, pageToken: page2.nextPageToken! });
      expect(page3.items.map((v) => v.version)).toEqual([1]);
      expect(page3.nextPageToken).toBeNull();

      expect((await store.listVersions({ tag: 'parity=odd' })).items.map((v) => v.version)).toEqual([4, 2]);
      expect((await store.listVersions({ tag: 'parity' })).items).toHaveLength(5);
      expect((await store.listVersions({ status: 'PENDING' })).items.map((v) => v.model)).toEqual(['b']);
      expect((await store.listVersions({ uploader: 'bob' })).items.map((v) => v.model)).toEqual(['b']);
      expect((await store.listVersions({ runId: 'run-1' })).items).toHaveLength(5);
      await expect(store.listVersions({ limit: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(store.listVersions({ pageToken: 'garbage' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('searches model names literally, so _ and % are not wildcards', async () => {
      for (const name of ['a_1', 'ab1', 'penguin', 'x%y'])
        await store.createModel({ name: name.replace('%', '-') });
      expect((await store.listModels({ search: 'a_' })).items.map((m) => m.name)).toEqual(['a_1']);
      expect((await store.listModels({ search: 'peng' })).items.map((m) => m.name)).toEqual(['penguin']);
      expect((await store.listModels({ search: '%' })).items).toEqual([]);
    });
  });
}

describe('RegistryStore on PostgreSQL, from several processes', () => {
  // Four store instances, each with its own connection pool, stand for four server processes.
  let instances: Stores[];
  let drop: () => Promise<void>;
  let url: string;
  beforeEach(async () => {
    const fresh = await freshDatabase();
    ({ drop, url } = fresh);
    instances = Array.from({ length: 4 }, () => storesForUri(fresh.url));
    await Promise.all(instances.map((stores) => stores.database.migrate()));
  });
  afterEach(async () => {
    await Promise.all(instances.map((stores) => stores.database.close()));
    await drop();
  });

  it('numbers 32 concurrent registrations of one model 1..32, with no gap and no duplicate', async () => {
    await instances[0]!.registry.createModel({ name: 'm' });
    const versions = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        instances[i % 4]!.registry.createVersion('m', draft({ description: `push ${i}` }), key('m')),
      ),
    );
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 32 }, (_, i) => i + 1),
    );
    expect(versions.every((v) => v.artifactKey === key('m')(v.version))).toBe(true);
    expect((await instances[3]!.registry.getModel('m')).latestVersion).toBe(32);
    const listed = await instances[2]!.registry.listVersions({ model: 'm', limit: 100 });
    expect(listed.items.map((v) => v.version)).toEqual(Array.from({ length: 32 }, (_, i) => 32 - i));
  });

  it('compares and sorts text by its bytes, as SQLite does, whatever the database locale', async () => {
    const plain = openDatabase(url, []);
    const { rows } = await sql<{ n: number }>`
      select count(*) as n from information_schema.columns
      where table_schema = current_schema() and data_type = 'text' and table_name not like 'kysely%'
        and coalesce(collation_name, '') <> 'C'`.execute(plain.db);
    await plain.close();
    expect(rows[0]?.n).toBe(0);
    for (const name of ['b', 'B', 'a_', 'a.b', 'a-b']) await instances[0]!.registry.createModel({ name });
    expect((await instances[1]!.registry.listModels()).items.map((m) => m.name)).toEqual([
      'B',
      'a-b',
      'a.b',
      'a_',
      'b',
    ]);
  });

  it('creates a model of a name once, and numbers audit events without gaps, across processes', async () => {
    const created = await Promise.allSettled(
      instances.map((stores) => stores.registry.createModel({ name: 'same' })),
    );
    expect(created.filter((c) => c.status === 'fulfilled')).toHaveLength(1);
    expect(
      created.flatMap((c) => (c.status === 'rejected' ? [(c.reason as { code?: string }).code] : [])),
    ).toEqual(['ALREADY_EXISTS', 'ALREADY_EXISTS', 'ALREADY_EXISTS']);
    const events = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        instances[i % 4]!.audit.record({
          actor: 'ada',
          action: 'model.create',
          target: `m${i}`,
          result: 'ok',
        }),
      ),
    );
    expect(events.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 32 }, (_, i) => i + 1),
    );
  });
});
