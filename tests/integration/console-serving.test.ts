import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** A raw GET, so that dots and encodings in the path reach the server as written. */
function rawGet(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: 'GET', headers }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

describe('the console files', () => {
  let server: TestServer;
  let secured: TestServer;
  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    secured = await startServer({ SLIPWAY_AUTH: 'on' });
  });
  afterAll(async () => {
    await server?.stop();
    await secured?.stop();
  });

  it('serves the page and its assets to anyone, with the console headers', async () => {
    const page = await rawGet(secured.url, '/', { 'accept-encoding': 'gzip' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(String(page.headers['content-security-policy'])).toMatch(/default-src 'none'.*script-src 'self'/);
    const icon = await rawGet(secured.url, '/favicon.svg');
    expect([icon.status, icon.headers['content-type']]).toEqual([200, 'image/svg+xml']);
  });

  it('answers only built files: no dot segments, encodings or other folders reach the disk', async () => {
    for (const path of [
      '/index.html',
      '/assets/',
      '/assets/../package.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/%2e%2e%5c%2e%2e%5cpackage.json',
      '/assets//etc/passwd',
      '/assets/..\\..\\package.json',
      '/assets/index.js.map',
      '/../../../../etc/passwd',
      '/console/index.html',
    ]) {
      const answer = await rawGet(server.url, path);
      expect(answer.status, path).toBe(404);
      expect(answer.body, path).not.toContain('"name": "slipway"');
      expect(answer.body, path).not.toContain('root:');
    }
  });

  it('refuses a foreign Host, as every route does', async () => {
    const answer = await rawGet(server.url, '/', { host: 'rebind.example' });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body).code).toBe('MISDIRECTED_HOST');
  });

  it('tells the page whether it needs a token, and whose it is', async () => {
    expect((await server.request('GET', '/api/v1/whoami')).body).toEqual({
      name: 'local',
      role: 'admin',
      auth: false,
    });
    expect((await secured.request('GET', '/api/v1/whoami')).body).toEqual({
      name: null,
      role: null,
      auth: true,
    });
    const system = { actor: { name: 'setup', role: 'admin' as const }, requestId: null };
    const { secret } = await secured.app.tokens.create('ava', 'approver', system);
    const who = await secured.request('GET', '/api/v1/whoami', undefined, {
      authorization: `Bearer ${secret}`,
    });
    expect(who.body).toEqual({ name: 'ava', role: 'approver', auth: true });
    const wrong = await secured.request('GET', '/api/v1/whoami', undefined, {
      authorization: 'Bearer slw_nope',
    });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'UNAUTHENTICATED']);
  });
});
