import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditStore } from '../../src/audit/audit-store.js';

import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/** The AuditStore contract, run against every implementation on a real database. */
const BACKENDS: {
  name: string;
  open: () => Promise<{ database: Stores['database']; store: AuditStore; cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-audit-'));
      const { database, audit } = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return { database, store: audit, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      const { database, audit } = storesForUri(url);
      return { database, store: audit, cleanup: drop };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`AuditStore on ${backend.name}`, () => {
    let database: Stores['database'];
    let store: AuditStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ database, store, cleanup } = await backend.open());
      await database.migrate();
    });
    afterEach(async () => {
      await database.close();
      await cleanup();
    });

    it('numbers events in order and keeps what was given, newest first', async () => {
      const first = await store.record({ actor: 'ada', action: 'model.create', target: 'm', result: 'ok' });
      const second = await store.record({
        actor: 'bob',
        action: 'alias.set',
        target: 'm@champion',
        result: 'failed',
        before: { version: 1 },
        after: { version: 2 },
        requestId: 'req-9',
        details: { reason: 'why' },
      });
      expect(second.seq).toBe(first.seq + 1);
      const listed = await store.list({});
      expect(listed.items).toEqual([second, first]);
      expect(listed.items[1]).toMatchObject({ before: null, after: null, requestId: null, details: null });
      expect(Number.isNaN(Date.parse(second.time))).toBe(false);
    });

    it('filters by target, actor and action or action prefix, and pages', async () => {
      await store.record({ actor: 'ada', action: 'promotion.request', target: 'm-prod', result: 'ok' });
      await store.record({ actor: 'bob', action: 'promotion.approve', target: 'm-prod', result: 'ok' });
      await store.record({ actor: 'bob', action: 'promotions.other', target: 'x', result: 'ok' });
      await store.record({ actor: 'bob', action: 'promotion', target: 'x', result: 'ok' });
      expect((await store.list({ action: 'promotion.' })).items.map((e) => e.action)).toEqual([
        'promotion.approve',
        'promotion.request',
      ]);
      expect((await store.list({ action: 'promotion' })).items.map((e) => e.target)).toEqual(['x']);
      expect((await store.list({ target: 'm-prod', actor: 'bob' })).items.map((e) => e.action)).toEqual([
        'promotion.approve',
      ]);
      const page = await store.list({ actor: 'bob', limit: 1 });
      expect(page.items.length).toBe(1);
      expect(page.nextPageToken).not.toBeNull();
      const rest = await store.list({ actor: 'bob', limit: 5, pageToken: page.nextPageToken as string });
      expect(rest.items.length).toBe(2);
      expect(rest.nextPageToken).toBeNull();
    });
  });
}
