import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLog } from '../helpers/log.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';

/**
 * The request guard's rules, each alone: a request that breaks only one of them is refused by it, with
 * its own code, before anything reads the body; requests that break none pass.
 */
let server: TestServer;
let port: number;
const { logger, text: logText } = captureLog('info');

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
  readonly body: any;
}

/** A raw HTTP request: every header exactly as given (fetch would not let a test set Host or Origin). */
function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
  target: number = port,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: target, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const createBody = (name: string) => JSON.stringify({ name });
const inferBody = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [2] }] });

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: (port: number) => Record<string, string>;
  readonly body?: string;
  readonly status: number;
  readonly code?: string;
}

const CREATE = '/api/v1/models';
const INFER = '/v2/models/echo/infer';

const hostCases: Case[] = [
  ['foreign name', (p: number) => `evil.example:${p}`],
  ['foreign name without a port', () => 'evil.example'],
  ['loopback name as a subdomain', (p: number) => `localhost.evil.example:${p}`],
  ['loopback address as a subdomain', (p: number) => `127.0.0.1.nip.io:${p}`],
  ['userinfo trick', (p: number) => `127.0.0.1@evil.example:${p}`],
  ['two ports', (p: number) => `127.0.0.1:${p}:80`],
  ['IPv6 of another machine', (p: number) => `[2001:db8::1]:${p}`],
].flatMap(([what, host]) =>
  (['GET', 'POST'] as const).map((method) => ({
    name: `Host ${what} (${method})`,
    method,
    path: method === 'GET' ? '/health' : CREATE,
    headers: (p: number) => ({ ...JSON_TYPE, host: (host as (p: number) => string)(p) }),
    ...(method === 'POST' ? { body: createBody('via-foreign-host') } : {}),
    status: 403,
    code: 'MISDIRECTED_HOST',
  })),
);

const originCases: Case[] = [
  ['another site', () => 'http://evil.example'],
  ['another port of the same address', (p: number) => `http://127.0.0.1:${p + 1}`],
  ['a lookalike name', (p: number) => `http://127.0.0.1.evil.example:${p}`],
  ['another scheme', (p: number) => `chrome-extension://abcdef:${p}`],
  ['an opaque origin', () => 'null'],
  ['a malformed origin', () => 'http://'],
].map(([what, origin]) => ({
  name: `Origin ${what}`,
  method: 'POST',
  path: CREATE,
  headers: (p: number) => ({ ...JSON_TYPE, origin: (origin as (p: number) => string)(p) }),
  body: createBody('via-foreign-origin'),
  status: 403,
  code: 'FORBIDDEN_ORIGIN',
}));

const fetchSiteCases: Case[] = [
  { name: 'Sec-Fetch-Site cross-site write', site: 'cross-site', method: 'POST', mode: 'cors' },
  { name: 'Sec-Fetch-Site same-site write', site: 'same-site', method: 'POST', mode: 'cors' },
  { name: 'Sec-Fetch-Site cross-site no-cors write', site: 'cross-site', method: 'POST', mode: 'no-cors' },
  { name: 'Sec-Fetch-Site cross-site read by a script', site: 'cross-site', method: 'GET', mode: 'cors' },
  { name: 'Sec-Fetch-Site same-site image', site: 'same-site', method: 'GET', mode: 'no-cors' },
].map(({ name, site, method, mode }) => ({
  name,
  method,
  path: method === 'GET' ? '/api/v1/models' : CREATE,
  headers: () => ({ ...JSON_TYPE, 'sec-fetch-site': site, 'sec-fetch-mode': mode }),
  ...(method === 'POST' ? { body: createBody('via-other-site') } : {}),
  status: 403,
  code: 'FORBIDDEN_ORIGIN',
}));

/** Writes a page can send without a preflight, carrying no Origin (a browser that omits it). */
const shapeCases: Case[] = [
  ['text/plain', 'text/plain'],
  ['text/plain with a charset', 'text/plain;charset=UTF-8'],
  ['upper-case TEXT/PLAIN', 'TEXT/PLAIN'],
  ['padded text/plain', '  text/plain ; x=application/json'],
  ['form-encoded', 'application/x-www-form-urlencoded'],
  ['multipart without X-Slipway-Client', 'multipart/form-data; boundary=x'],
  ['no Content-Type (a typeless Blob) on the control API', null],
].map(([what, type]) => ({
  name: `POST ${what}`,
  method: 'POST',
  path: CREATE,
  headers: (): Record<string, string> => (type === null ? {} : { 'content-type': type as string }),
  body: createBody('via-simple-request'),
  status: 403,
  code: 'CROSS_SITE_REQUEST',
}));
shapeCases.push(
  {
    name: 'POST without body or Content-Type (a bodiless job run)',
    method: 'POST',
    path: '/api/v1/jobs/anything/runs',
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
  {
    name: 'POST text/plain to inference',
    method: 'POST',
    path: INFER,
    headers: () => ({ 'content-type': 'text/plain' }),
    body: inferBody,
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
  {
    name: 'POST text/plain to an MLflow run',
    method: 'POST',
    path: '/api/2.0/mlflow/runs/create',
    headers: () => ({ 'content-type': 'text/plain' }),
    body: JSON.stringify({ experiment_id: '0' }),
    status: 403,
    code: 'CROSS_SITE_REQUEST',
  },
);

const SECRET = `slw_${'A1b2C3d4'.repeat(5)}xyz`;
const tokenCases: Case[] = [
  `/api/v1/models?token=${SECRET}`,
  `/api/v1/models?access_token=${SECRET}`,
  `/api/v1/models?API_KEY=${SECRET}`,
  `/api/v1/models?apikey=${SECRET}`,
  `/api/v1/models?limit=5&filter=${SECRET}`,
  `/api/v1/models?${SECRET}`,
  `/v2/models/echo?token=${SECRET}`,
  `/nowhere?access_token=${SECRET}`,
  `/api/2.0/mlflow/experiments/get?experiment_id=0&auth_token=${SECRET}`,
].map((path) => ({
  name: `token in ${path.split('?')[0]}`,
  method: 'GET',
  path,
  status: 400,
  code: 'TOKEN_IN_URL',
}));

/** Requests that break no rule. */
const passing: Case[] = [
  {
    name: 'same-origin JSON write',
    method: 'POST',
    path: CREATE,
    body: createBody('same-origin'),
    status: 201,
  },
  {
    name: 'same-origin write through localhost',
    method: 'POST',
    path: CREATE,
    headers: (p) => ({ ...JSON_TYPE, host: `localhost:${p}`, origin: `http://localhost:${p}` }),
    body: createBody('same-origin-localhost'),
    status: 201,
  },
  {
    name: 'write through [::1] with Sec-Fetch-Site same-origin',
    method: 'POST',
    path: CREATE,
    headers: (p) => ({ ...JSON_TYPE, host: `[::1]:${p}`, 'sec-fetch-site': 'same-origin' }),
    body: createBody('ipv6-name'),
    status: 201,
  },
  {
    name: 'upper-case LOCALHOST',
    method: 'GET',
    path: '/health',
    headers: (p) => ({ host: `LOCALHOST:${p}` }),
    status: 200,
  },
  {
    name: 'a followed link (cross-site navigation)',
    method: 'GET',
    path: '/health',
    headers: () => ({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }),
    status: 200,
  },
  {
    name: 'a typed address (Sec-Fetch-Site none)',
    method: 'GET',
    path: '/health',
    headers: () => ({ 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' }),
    status: 200,
  },
  {
    name: 'a read from an opaque origin',
    method: 'GET',
    path: '/health',
    headers: () => ({ origin: 'null' }),
    status: 200,
  },
  {
    name: 'inference without a Content-Type (tritonclient)',
    method: 'POST',
    path: INFER,
    headers: () => ({}),
    body: inferBody,
    status: 200,
  },
  {
    name: 'text/plain with X-Slipway-Client reaches the parser',
    method: 'POST',
    path: CREATE,
    headers: () => ({ 'content-type': 'text/plain', 'x-slipway-client': 'curl' }),
    body: createBody('typed-plain'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'text/plain with a token reaches the parser',
    method: 'POST',
    path: CREATE,
    headers: () => ({ 'content-type': 'text/plain', authorization: 'Bearer x' }),
    body: createBody('typed-plain'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a paging token is not a credential',
    method: 'GET',
    path: '/api/v1/models?page_token=zzz',
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
];

beforeAll(async () => {
  server = await startServer({ SLIPWAY_LOG_LEVEL: 'info' }, { logger });
  port = Number(new URL(server.url).port);
  expect((await server.push('echo', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] })).status).toBe(201);
});
afterAll(() => server.stop());

describe('the request guard', () => {
  it('has a corpus covering every rule', () => {
    expect(hostCases.length).toBeGreaterThanOrEqual(14);
    expect(originCases.length + fetchSiteCases.length).toBeGreaterThanOrEqual(10);
    expect(shapeCases.length).toBeGreaterThanOrEqual(10);
    expect(tokenCases.length).toBeGreaterThanOrEqual(8);
  });

  it.each([...hostCases, ...originCases, ...fetchSiteCases, ...shapeCases, ...tokenCases])(
    'refuses $name: $status $code',
    async ({ method, path, headers, body, status, code }) => {
      const answer = await send(method, path, { ...(headers?.(port) ?? {}) }, body);
      expect([answer.status, answer.body?.code], JSON.stringify(answer.body)).toEqual([status, code]);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    },
  );

  it.each(passing)('lets through $name: $status', async ({ method, path, headers, body, status, code }) => {
    const answer = await send(method, path, headers?.(port) ?? (body ? JSON_TYPE : {}), body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(status);
    if (code) expect(answer.body.code).toBe(code);
  });

  it('refuses a request without any Host header (HTTP/1.0)', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end(
          'POST /api/v1/models HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}',
        ),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.[01] 403/);
    expect(answer).toContain('"MISDIRECTED_HOST"');
  });

  it('lets uploads through with X-Slipway-Client, as the CLI sends it', async () => {
    const form = new FormData();
    form.set('model', new Blob([readFileSync(join(FIXTURES, 'echo.onnx'))]), 'model.onnx');
    const refused = await fetch(`${server.url}/api/v1/models/echo/versions`, { method: 'POST', body: form });
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([
      403,
      'CROSS_SITE_REQUEST',
    ]);
    const accepted = await server.request('POST', '/api/v1/models/echo/versions', form);
    expect(accepted.status, accepted.text).toBe(201);
  });

  it('changed nothing for any refused request', async () => {
    const models = (await server.request('GET', '/api/v1/models')).body.models.map(
      (m: { name: string }) => m.name,
    );
    expect(models.sort()).toEqual(['echo', 'ipv6-name', 'same-origin', 'same-origin-localhost']);
    const versions = (await server.request('GET', '/api/v1/models/echo/versions')).body.versions;
    expect(versions).toHaveLength(2);
  });

  it('never writes a token from a URL into the log', () => {
    const log = logText.join('');
    expect(log).toContain('TOKEN_IN_URL');
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(SECRET.slice(4, 30));
  });

  it('grants CORS to nobody by default: a preflight from another origin is refused', async () => {
    const answer = await send('OPTIONS', CREATE, {
      origin: 'http://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect([answer.status, answer.body.code]).toEqual([403, 'FORBIDDEN_ORIGIN']);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('SLIPWAY_ALLOWED_ORIGINS and SLIPWAY_ALLOWED_HOSTS', () => {
  let listed: TestServer;
  let listedPort: number;
  const UI = 'https://ui.example.com';
  beforeAll(async () => {
    listed = await startServer({
      SLIPWAY_ALLOWED_ORIGINS: `${UI}, http://localhost:3000`,
      SLIPWAY_ALLOWED_HOSTS: 'slipway.example.com,127.0.0.1',
    });
    listedPort = Number(new URL(listed.url).port);
  });
  afterAll(() => listed.stop());

  it("answers a listed origin's preflight and its requests with CORS headers", async () => {
    const preflight = await send(
      'OPTIONS',
      CREATE,
      {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
      undefined,
      listedPort,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(UI);
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    const created = await send(
      'POST',
      CREATE,
      { ...JSON_TYPE, origin: UI, 'sec-fetch-site': 'cross-site' },
      createBody('from-ui'),
      listedPort,
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers['access-control-allow-origin']).toBe(UI);
  });

  it('still refuses origins it does not list', async () => {
    const answer = await send(
      'POST',
      CREATE,
      { ...JSON_TYPE, origin: 'https://other.example.com' },
      createBody('x'),
      listedPort,
    );
    expect([answer.status, answer.body.code]).toEqual([403, 'FORBIDDEN_ORIGIN']);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers only the listed host names', async () => {
    expect(
      (await send('GET', '/health', { host: `slipway.example.com:${listedPort}` }, undefined, listedPort))
        .status,
    ).toBe(200);
    expect(
      (await send('GET', '/health', { host: 'slipway.example.com' }, undefined, listedPort)).status,
    ).toBe(200);
    const loopbackName = await send(
      'GET',
      '/health',
      { host: `localhost:${listedPort}` },
      undefined,
      listedPort,
    );
    expect([loopbackName.status, loopbackName.body.code]).toEqual([403, 'MISDIRECTED_HOST']);
  });
});
