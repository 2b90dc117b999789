import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateOpenApi } from '../../scripts/openapi.js';
import type { AuditStore } from '../../src/audit/audit-store.js';
import type { TokenService } from '../../src/auth/token-service.js';
import { installAuth } from '../../src/http/auth.js';
import { ROOT } from '../helpers/server.js';

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

let generated: string;
beforeAll(async () => {
  generated = await generateOpenApi();
});

it('docs/openapi.json is what the route schemas generate (run `npm run openapi` to refresh it)', () => {
  const committed = readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8');
  expect(generated).toBe(committed);
});

it('names every operation once, in camelCase, and describes each of its success answers', () => {
  const document = JSON.parse(generated) as { paths: Record<string, Record<string, Operation>> };
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ where: `${method} ${path}`, operation })),
  );
  expect(operations.length).toBeGreaterThan(60);
  const ids = operations.map(({ operation }) => operation.operationId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const { where, operation } of operations) {
    expect(operation.operationId, where).toMatch(/^[a-z][A-Za-z0-9]*$/);
    const success = Object.entries(operation.responses).filter(([status]) => status.startsWith('2'));
    expect(success.length, `${where} has a success response`).toBeGreaterThan(0);
    for (const [status, response] of success) {
      if (status === '204') continue;
      // JSON everywhere but Prometheus's text exposition.
      const schema =
        response.content?.['application/json']?.schema ?? response.content?.['text/plain']?.schema;
      expect(schema, `${where} ${status} has a schema`).toBeDefined();
    }
  }
});

describe('a route the OpenAPI document would show refuses to register', () => {
  const viewer = { access: 'viewer' as const };
  const ok = { 200: { type: 'object', properties: {} } };
  const cases: { name: string; schemas: Record<string, unknown>[] }[] = [
    { name: 'without an operationId', schemas: [{ response: ok }] },
    {
      name: 'with an operationId that is not camelCase',
      schemas: [{ operationId: 'list-things', response: ok }],
    },
    { name: 'with an operationId of another type', schemas: [{ operationId: 7, response: ok }] },
    { name: 'without any response schema', schemas: [{ operationId: 'listThings' }] },
    {
      name: 'with only error response schemas',
      schemas: [{ operationId: 'listThings', response: { 400: {}, 404: {} } }],
    },
    {
      name: 'reusing the operationId of another route',
      schemas: [
        { operationId: 'listThings', response: ok },
        { operationId: 'listThings', response: ok },
      ],
    },
    { name: 'without a schema at all', schemas: [{ none: true }] },
  ];
  for (const { name, schemas } of cases) {
    it(name, async () => {
      const app = Fastify();
      installAuth(app, {
        enabled: false,
        tokens: {} as TokenService,
        audit: {} as AuditStore,
      });
      const register = () => {
        for (const [i, schema] of schemas.entries()) {
          app.get(
            `/things/${i}`,
            { config: viewer, ...('none' in schema ? {} : { schema }) },
            async () => ({}),
          );
        }
      };
      expect(register).toThrow(/operationId|response schema/);
      await app.close();
    });
  }

  it('accepts a documented route, and a hidden one without either', async () => {
    const app = Fastify();
    installAuth(app, { enabled: false, tokens: {} as TokenService, audit: {} as AuditStore });
    app.get(
      '/a',
      { config: viewer, schema: { operationId: 'getA', response: { 200: {} } } },
      async () => ({}),
    );
    app.get('/b', { config: viewer, schema: { hide: true } }, async () => ({}));
    await app.ready();
    expect(app.accessRules.map((r) => `${r.method} ${r.url}`)).toContain('GET /b');
    await app.close();
  });
});
