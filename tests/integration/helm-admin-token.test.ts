import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/token-service.js';
import { storesForUri } from '../../src/stores-for-uri.js';
import { CLI } from '../helpers/cli.js';
import { freshDatabase } from '../helpers/postgres.js';

/**
 * The Helm chart's admin token bootstrap (deploy/helm/slipway/files/create-admin-token.mjs), run as its
 * hook Job runs it, with the real `slipway` command on a real PostgreSQL registry, against a stand-in for
 * the Kubernetes API that keeps Secrets in memory and checks the service account's token.
 */
const SCRIPT = resolve(import.meta.dirname, '../../deploy/helm/slipway/files/create-admin-token.mjs');
const TSX = import.meta.resolve('tsx');
const NAMESPACE = 'models';
const ACCOUNT_TOKEN = 'service-account-token';

let api: Server;
let apiUrl: string;
let registry: { url: string; drop: () => Promise<void> };
const accountDir = mkdtempSync(join(tmpdir(), 'service-account-'));
/** Secrets by name, as created through the stand-in API. */
const secrets = new Map<string, { metadata: { name: string }; stringData: Record<string, string> }>();
let failCreate = false;

beforeAll(async () => {
  registry = await freshDatabase();
  mkdirSync(accountDir, { recursive: true });
  writeFileSync(join(accountDir, 'namespace'), `${NAMESPACE}\n`);
  writeFileSync(join(accountDir, 'token'), ACCOUNT_TOKEN);
  api = createServer((request, response) => {
    const reply = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (request.headers.authorization !== `Bearer ${ACCOUNT_TOKEN}`)
      return reply(401, { reason: 'Unauthorized' });
    const base = `/api/v1/namespaces/${NAMESPACE}/secrets`;
    if (request.method === 'GET' && request.url?.startsWith(`${base}/`)) {
      const secret = secrets.get(decodeURIComponent(request.url.slice(base.length + 1)));
      return secret ? reply(200, secret) : reply(404, { reason: 'NotFound' });
    }
    if (request.method === 'POST' && request.url === base) {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        if (failCreate) return reply(403, { reason: 'Forbidden' });
        const secret = JSON.parse(body);
        if (secrets.has(secret.metadata.name)) return reply(409, { reason: 'AlreadyExists' });
        secrets.set(secret.metadata.name, secret);
        reply(201, secret);
      });
      return;
    }
    reply(404, { reason: 'NotFound' });
  });
  await new Promise<void>((done) => api.listen(0, '127.0.0.1', done));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => api?.close(done));
  await registry?.drop();
});

function bootstrap(
  tokenName: string,
  secretName: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'admin-token-data-'));
  return new Promise((done) => {
    execFile(
      process.execPath,
      [SCRIPT, process.execPath, '--import', TSX, CLI],
      {
        cwd: dataDir,
        env: {
          PATH: process.env.PATH,
          SLIPWAY_REGISTRY_URI: registry.url,
          SLIPWAY_DATA_DIR: dataDir,
          SLIPWAY_LOG_LEVEL: 'silent',
          SECRET_NAME: secretName,
          TOKEN_NAME: tokenName,
          KUBERNETES_API_URL: apiUrl,
          SERVICE_ACCOUNT_DIR: accountDir,
        },
      },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function authenticates(token: string): Promise<string> {
  const { database, tokens, audit } = storesForUri(registry.url);
  try {
    const actor = await new TokenService(tokens, audit).authenticate(`Bearer ${token}`);
    return `${actor.name}:${actor.role}`;
  } finally {
    await database.close();
  }
}

describe('the admin token bootstrap of the Helm chart', () => {
  it('creates the token in the registry and stores it only in the Secret', async () => {
    const first = await bootstrap('admin', 'slipway-admin-token');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const secret = secrets.get('slipway-admin-token');
    expect(secret?.stringData).toMatchObject({ name: 'admin', role: 'admin' });
    const token = secret?.stringData.token as string;
    expect(token).toMatch(/^slw_/);
    // The Job's log says where the token is, never the token.
    expect(first.stdout).not.toContain(token);
    expect(await authenticates(token)).toBe('admin:admin');
  }, 60_000);

  it('does nothing when the Secret exists (every upgrade runs it again)', async () => {
    const stored = secrets.get('slipway-admin-token')?.stringData.token;
    const again = await bootstrap('admin', 'slipway-admin-token');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    expect(secrets.get('slipway-admin-token')?.stringData.token).toBe(stored);
  }, 60_000);

  it('fails, naming the way out, when the token exists but its Secret is gone', async () => {
    const lost = await bootstrap('admin', 'another-secret');
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('adminToken.name');
    expect(secrets.has('another-secret')).toBe(false);
  }, 60_000);

  it('fails when the Secret cannot be stored, and says to revoke the token it made', async () => {
    failCreate = true;
    try {
      const refused = await bootstrap('ops', 'ops-token');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('slipway tokens revoke ops');
      expect(refused.stderr).not.toMatch(/slw_/);
    } finally {
      failCreate = false;
    }
  }, 60_000);
});
