import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namesOutsidePlace } from '../../src/jobs/warehouse/references.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The query sandbox keeps a job inside its warehouse; where the warehouse is (any folder, any database
 * server) is the operator's choice. A deployer names `default`, a warehouse declared in slipway.yaml, or
 * a path inside the data folder; anything else needs the admin role, and is refused before anything
 * is created.
 */
describe('who may name where a job reads and writes', () => {
  let server: TestServer;
  let outside: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    outside = mkdtempSync(join(tmpdir(), 'slipway-outside-'));
    server = await startServer(
      { SLIPWAY_AUTH: 'on' },
      { allInOne: true, configYaml: `warehouses:\n  lake: files:${outside}\n` },
    );
    for (const role of ['deployer', 'admin'] as const) {
      const { secret } = await server.app.tokens.create(`t-${role}`, role, {
        actor: { name: 'local', role: 'admin' },
        requestId: null,
      });
      tokens[role] = secret;
    }
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(outside, { recursive: true, force: true });
  });

  const job = (name: string, source: string | undefined, sink: string | undefined) => ({
    name,
    model: 'missing/1',
    schedule: null,
    source: { ...(source === undefined ? {} : { warehouse: source }), query: 'SELECT 1 AS x' },
    inputs: { x: 'x' },
    sink: { ...(sink === undefined ? {} : { warehouse: sink }), table: 'scores' },
  });
  const create = (role: string, body: unknown) =>
    server.request('POST', '/api/v1/jobs', body, { authorization: `Bearer ${tokens[role]}` });

  const PLACES = [
    'files:/etc',
    'files:/',
    'files:../../../etc',
    'files:exports/../../..',
    `files:${join(tmpdir(), 'slipway-created-by-a-job')}`,
    `duckdb:${join(tmpdir(), 'slipway-created-by-a-job', 'x.duckdb')}`,
    'duckdb:../elsewhere.duckdb',
    'postgres://slipway@127.0.0.1:1/postgres',
    'postgresql://u:secret-pw@127.0.0.1:1/db',
  ];

  for (const place of PLACES) {
    for (const side of ['source', 'sink'] as const) {
      it(`refuses a deployer's ${side} at ${place.replace('secret-pw', '***')}`, async () => {
        const body = side === 'source' ? job('j', place, undefined) : job('j', undefined, place);
        const answer = await create('deployer', body);
        expect(answer.status, answer.text).toBe(403);
        expect((answer.body as { code: string }).code).toBe('PERMISSION_DENIED');
        expect(answer.text).not.toContain('secret-pw');
        expect(existsSync(join(tmpdir(), 'slipway-created-by-a-job'))).toBe(false);
        const list = await server.request('GET', '/api/v1/jobs', undefined, {
          authorization: `Bearer ${tokens.deployer}`,
        });
        expect((list.body as { jobs: unknown[] }).jobs).toEqual([]);
      });
    }
  }

  it('lets a deployer name default, a declared warehouse, and paths inside the data folder', async () => {
    for (const [i, [source, sink]] of [
      [undefined, undefined],
      ['default', 'lake'],
      ['lake', 'files:exports'],
      ['duckdb:team/warehouse.duckdb', 'files:exports/./daily'],
    ].entries()) {
      const answer = await create('deployer', job(`ok-${i}`, source, sink));
      expect(answer.status, answer.text).toBe(201);
    }
  });

  it('lets an admin name a folder outside the data folder', async () => {
    const answer = await create('admin', job('admin-made', `files:${outside}`, `files:${outside}`));
    expect(answer.status, answer.text).toBe(201);
  });

  it('classifies references without touching the file system', () => {
    const named = { lake: '/anywhere' };
    for (const place of PLACES) expect(namesOutsidePlace(place, named), place).toBe(true);
    for (const inside of ['default', 'lake', 'files:exports', 'duckdb:w.duckdb', 'files:a/../b?format=csv'])
      expect(namesOutsidePlace(inside, named), inside).toBe(false);
  });
});
