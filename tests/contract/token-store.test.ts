import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../src/auth/token-store.js';

import { type Stores, storesForUri } from '../../src/stores-for-uri.js';
import { freshDatabase } from '../helpers/postgres.js';

/** The TokenStore contract, run against every implementation on a real database. */
const BACKENDS: {
  name: string;
  open: () => Promise<{ database: Stores['database']; store: TokenStore; cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'sqlite file',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slipway-tokens-'));
      const { database, tokens } = storesForUri(`sqlite:${join(dir, 'registry.db')}`);
      return { database, store: tokens, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await freshDatabase();
      const { database, tokens } = storesForUri(url);
      return { database, store: tokens, cleanup: drop };
    },
  },
];

const token = {
  id: 't1',
  name: 'ci',
  role: 'deployer' as const,
  createdBy: 'ada',
  createdAt: 'now',
  revokedAt: null,
};

for (const backend of BACKENDS) {
  describe(`TokenStore on ${backend.name}`, () => {
    let database: Stores['database'];
    let store: TokenStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ database, store, cleanup } = await backend.open());
      await database.migrate();
    });
    afterEach(async () => {
      await database.close();
      await cleanup();
    });

    it('finds live tokens by hash only, and revokes them once', async () => {
      await store.create(token, 'hash-1');
      await expect(store.create({ ...token, id: 't2' }, 'hash-2')).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      expect(await store.find('hash-1')).toMatchObject({ name: 'ci', role: 'deployer' });
      expect(await store.find('ci')).toBeNull();
      expect(await store.count()).toBe(1);
      const revoked = await store.revoke('ci');
      expect(revoked.revokedAt).not.toBeNull();
      expect(await store.find('hash-1')).toBeNull();
      expect(await store.count()).toBe(0);
      // Revoking again keeps the first revocation time.
      expect((await store.revoke('ci')).revokedAt).toBe(revoked.revokedAt);
      await expect(store.revoke('nobody')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('lists every token, revoked ones too, oldest first', async () => {
      await store.create({ ...token, id: 'b', name: 'b', createdAt: '2026-01-02' }, 'hash-b');
      await store.create({ ...token, id: 'a', name: 'a', createdAt: '2026-01-01' }, 'hash-a');
      await store.revoke('a');
      expect((await store.list()).map((t) => [t.name, t.revokedAt !== null])).toEqual([
        ['a', true],
        ['b', false],
      ]);
    });
  });
}
