import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../../src/domain/roles.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Every route has an explicit access rule (the server refuses to register one without), and the
 * rule is enforced: this walks the router's own list, calls each protected route with no token and
 * with a token one role too weak, and expects 401 and 403.
 */
describe('authorization of every route', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    server = await startServer({ SLIPWAY_AUTH: 'on' }, { allInOne: true });
    for (const role of ROLES) {
      const { secret } = await server.app.tokens.create(`t-${role}`, role, {
        actor: { name: 'local', role: 'admin' },
        requestId: null,
      });
      tokens[role] = secret;
    }
  });
  afterAll(() => server?.stop());

  const concrete = (url: string) =>
    url
      .replace(':env', 'dev')
      .replace(':model', 'ghost')
      .replace(':version', '1')
      .replace(':alias', 'champion')
      .replace(':target', 'ghost:predict')
      .replace(':id', 'prm_none')
      .replace(':name', 'nobody')
      .replace('*', 'index.html');
  const bodyFor = (method: string) =>
    method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : {};

  it('lists a rule for every route, and the control API is never public', () => {
    const rules = server.app.http.accessRules;
    expect(rules.length).toBeGreaterThan(50);
    // The OpenAPI document, and whoami, which without a token says only that one is needed.
    const open = ['/api/v1/openapi.json', '/api/v1/whoami'];
    for (const rule of rules) {
      if (rule.url.startsWith('/api/v1/') && !open.includes(rule.url)) {
        expect(rule.access, `${rule.method} ${rule.url}`).not.toBe('public');
      }
    }
    expect(rules).toContainEqual({
      method: 'POST',
      url: '/api/v1/environments/:env/promotions',
      access: 'developer',
    });
    expect(rules).toContainEqual({ method: 'POST', url: '/api/v1/tokens', access: 'admin' });
    expect(rules).toContainEqual({ method: 'GET', url: '/health', access: 'public' });
  });

  it('answers 401 without a token and 403 with a weaker role on every protected route', async () => {
    for (const rule of server.app.http.accessRules) {
      const path = concrete(rule.url);
      const label = `${rule.method} ${rule.url}`;
      const anonymous = await server.request(rule.method, path, bodyFor(rule.method));
      if (rule.access === 'public') {
        expect(anonymous.status, label).not.toBe(401);
        continue;
      }
      expect(anonymous.status, label).toBe(401);
      if (rule.method !== 'HEAD') expect(anonymous.body.code, label).toBe('UNAUTHENTICATED');
      const weaker = ROLES[ROLES.indexOf(rule.access) - 1];
      if (weaker) {
        const refused = await server.request(rule.method, path, bodyFor(rule.method), {
          authorization: `Bearer ${tokens[weaker]}`,
        });
        expect(refused.status, `${label} as ${weaker}`).toBe(403);
      }
      const allowed = await server.request(rule.method, path, bodyFor(rule.method), {
        authorization: `Bearer ${tokens[rule.access]}`,
      });
      expect([401, 403], `${label} as ${rule.access}`).not.toContain(allowed.status);
    }
  });

  it('refuses to start without authentication beyond loopback', async () => {
    await expect(startServer({ SLIPWAY_HOST: '0.0.0.0', SLIPWAY_AUTH: 'off' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
