import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/browser.js';
import { slipway } from '../helpers/cli.js';
import { captureLog } from '../helpers/log.js';
import { EXAMPLE, FIXTURES, penguinManifest, startServer, type TestServer } from '../helpers/server.js';

/**
 * A page on another web site, open in the operator's real browser (Debian's Chromium), tries every way a
 * page has to make a local-mode Slipway change something: forms, `no-cors` fetches, typeless Blobs, JSON
 * that needs a preflight, uploads, jobs, promotions, MLflow runs and artifacts, and DNS rebinding. Nothing
 * may change, while same-origin pages, the CLI and Triton-style inference keep working.
 */
const ATTACKER_HOST = 'attacker.test';
const REBIND_HOST = 'rebind.test';

/**
 * The browser globals the page scripts use. The page scripts run in Chromium; this file is type-checked
 * without the DOM library, so they are loosely typed here.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser objects, untyped in a Node program.
type PageGlobals = { document: any; DataTransfer: any; File: any };
// biome-ignore lint/suspicious/noExplicitAny: a DOM form element.
type FormElement = any;

/** One request Slipway answered, as its log tells it (the page itself sees only opaque answers). */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly code: string | undefined;
}

let server: TestServer;
let attacker: Server;
let attackerPort: number;
let browser: BrowserContext;
let profile: string;
let slipwayPort: number;

/** Slipway's log lines, as objects: the server's own account of every request it answered. */
const { logger, lines: logLines } = captureLog('info');

/** Every request Slipway answered while `action` ran, with its status and error code. */
async function watch(page: Page, action: () => Promise<unknown>): Promise<Seen[]> {
  const from = logLines.length;
  await action();
  // Let the last form navigations land; a request's "completed" line is written once its answer has
  // gone out, so wait (bounded) until every request seen has one.
  await page.waitForLoadState('load');
  const deadline = Date.now() + 5000;
  let seen = collect(logLines.slice(from));
  while (seen.some((s) => s.status === 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    seen = collect(logLines.slice(from));
  }
  return seen;
}

function collect(lines: readonly Record<string, unknown>[]): Seen[] {
  // A request writes a "request refused" line (its code), then one line with the request and status.
  const byId = new Map<string, { method?: string; path?: string; status?: number; code?: string }>();
  for (const line of lines) {
    const id = line.reqId as string | undefined;
    if (id === undefined) continue;
    const entry = byId.get(id) ?? {};
    byId.set(id, entry);
    const req = line.req as { method: string; url: string } | undefined;
    if (req) Object.assign(entry, { method: req.method, path: req.url });
    if (typeof line.code === 'string') entry.code = line.code;
    const res = line.res as { statusCode: number } | undefined;
    if (res) entry.status = res.statusCode;
  }
  // The browser asks for a page's icon on its own, whenever it likes: not one of the test's requests.
  return [...byId.values()]
    .filter((e) => e.path !== '/favicon.ico')
    .map((e) => ({ method: e.method ?? '', path: e.path ?? '', status: e.status ?? 0, code: e.code }));
}

beforeAll(async () => {
  server = await startServer({ SLIPWAY_LOG_LEVEL: 'info' }, { allInOne: true, logger });
  slipwayPort = Number(new URL(server.url).port);
  const pushed = await server.push('victim', join(FIXTURES, 'echo.onnx'), { sample: [{ x: 1 }] });
  expect(pushed.status, pushed.text).toBe(201);
  const job = await server.request('POST', '/api/v1/jobs', {
    name: 'nightly',
    model: 'victim/1',
    source: { query: 'SELECT CAST(1 AS DOUBLE) AS x' },
    sink: { table: 'scores' },
  });
  expect(job.status, job.text).toBe(201);

  attacker = createServer((_request, response) => {
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>cat pictures</title>');
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerPort = (attacker.address() as AddressInfo).port;

  profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...CHROMIUM_ARGS,
      // Other sites' names, resolved to this machine: the attacker's page and a rebinding name.
      `--host-resolver-rules=MAP ${ATTACKER_HOST} 127.0.0.1, MAP ${REBIND_HOST} 127.0.0.1`,
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => attacker?.close(resolve));
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('a page on another site cannot change a local-mode Slipway', () => {
  it('refuses forms, no-cors fetches, typeless Blobs, uploads, jobs, promotions and MLflow writes', async () => {
    const page = await browser.newPage();
    await page.goto(`http://${ATTACKER_HOST}:${attackerPort}/`);
    const model = readFileSync(join(FIXTURES, 'echo.onnx')).toString('base64');
    const seen = await watch(page, () =>
      page.evaluate(
        async ({ target, model }) => {
          const { document, DataTransfer, File } = globalThis as unknown as PageGlobals;
          const bytes = Uint8Array.from(atob(model), (c) => c.charCodeAt(0));
          const outcomes: string[] = [];
          const attempt = async (what: string, url: string, init: RequestInit) => {
            try {
              const response = await fetch(`${target}${url}`, init);
              outcomes.push(`${what}: ${response.type} ${response.status}`);
            } catch (error) {
              outcomes.push(`${what}: ${(error as Error).name}`);
            }
          };
          const noCors = (body?: RequestInit['body']): RequestInit => ({
            method: 'POST',
            mode: 'no-cors',
            ...(body === undefined ? {} : { body }),
          });
          const json = (value: unknown) => JSON.stringify(value);
          await attempt('text/plain model', '/api/v1/models', noCors(json({ name: 'csrf-text' })));
          await attempt(
            'typeless Blob model',
            '/api/v1/models',
            noCors(new Blob([json({ name: 'csrf-blob' })])),
          );
          await attempt(
            'typeless Blob inference',
            '/envs/dev/v2/models/victim/infer',
            noCors(new Blob([json({ inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }] })])),
          );
          await attempt('JSON model (needs a preflight)', '/api/v1/models', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: json({ name: 'csrf-json' }),
          });
          const form = new FormData();
          form.set('model', new Blob([bytes]), 'model.onnx');
          await attempt('multipart upload', '/api/v1/models/victim/versions', noCors(form));
          await attempt(
            'job create',
            '/api/v1/jobs',
            noCors(
              json({
                name: 'csrf-job',
                model: 'victim/1',
                source: { query: 'SELECT 1.0 AS x' },
                sink: { table: 't' },
              }),
            ),
          );
          await attempt('job run', '/api/v1/jobs/nightly/runs', noCors(json({ logical_date: '2001-01-01' })));
          await attempt('bodyless job run', '/api/v1/jobs/nightly/runs', noCors());
          await attempt(
            'promotion',
            '/api/v1/environments/staging/promotions',
            noCors(json({ model: 'victim', version: 1 })),
          );
          await attempt('approval', '/api/v1/promotions/prm_000000000000/approve', noCors());
          await attempt('MLflow run', '/api/2.0/mlflow/runs/create', noCors(json({ experiment_id: '0' })));
          await attempt(
            'MLflow artifact (needs a preflight)',
            '/api/2.0/mlflow-artifacts/artifacts/csrf/a.txt',
            {
              method: 'PUT',
              body: 'planted',
            },
          );

          // Forms submit into frames, as a hidden frame on a real page would.
          const submit = (enctype: string, url: string, fill: (form: FormElement) => void) =>
            new Promise<void>((resolve) => {
              const frame = document.createElement('iframe');
              frame.name = `sink-${Math.random().toString(36).slice(2)}`;
              document.body.append(frame);
              frame.addEventListener('load', () => resolve(), { once: true });
              const element = document.createElement('form');
              element.method = 'POST';
              element.enctype = enctype;
              element.action = `${target}${url}`;
              element.target = frame.name;
              fill(element);
              document.body.append(element);
              element.submit();
            });
          const field = (form: FormElement, name: string, value: string) => {
            const input = document.createElement('input');
            input.name = name;
            input.value = value;
            form.append(input);
          };
          await submit('application/x-www-form-urlencoded', '/api/v1/models', (f) =>
            field(f, 'name', 'csrf-form'),
          );
          await submit('text/plain', '/api/v1/models', (f) => field(f, '{"name":"csrf-plain","x":"', '"}'));
          await submit('multipart/form-data', '/api/v1/models/victim/versions', (f) => {
            const input = document.createElement('input');
            input.type = 'file';
            input.name = 'model';
            const files = new DataTransfer();
            files.items.add(new File([bytes], 'model.onnx'));
            input.files = files.files;
            f.append(input);
          });
          return outcomes;
        },
        { target: server.url, model },
      ),
    );

    // Every request that reached Slipway was refused before anything read it; the two that need a
    // preflight never got past it (Slipway grants none), so their POST and PUT were never sent.
    expect(seen.length).toBe(15);
    for (const response of seen) {
      expect([response.status, response.code], `${response.method} ${response.path}`).toEqual([
        403,
        'FORBIDDEN_ORIGIN',
      ]);
    }
    expect(
      seen
        .filter((s) => s.method === 'OPTIONS')
        .map((s) => s.path)
        .sort(),
    ).toEqual(['/api/2.0/mlflow-artifacts/artifacts/csrf/a.txt', '/api/v1/models']);
    expect(seen.some((s) => s.method === 'PUT')).toBe(false);
    await page.close();
  });

  it('refuses a rebinding page, whose own name now points at Slipway', async () => {
    const page = await browser.newPage();
    // The page is same-origin with Slipway as far as the browser knows: its Origin matches its Host.
    const landing = await page.goto(`http://${REBIND_HOST}:${slipwayPort}/health`);
    expect(landing?.status()).toBe(403);
    const seen = await watch(page, () =>
      page.evaluate(async () => {
        await fetch('/api/v1/models', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'csrf-rebind' }),
        });
        await fetch('/envs/dev/v2/models/victim/infer', {
          method: 'POST',
          body: new Blob([
            JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }] }),
          ]),
        });
        await fetch('/api/v1/models');
      }),
    );
    expect(seen.map((s) => [s.method, s.status, s.code])).toEqual([
      ['POST', 403, 'MISDIRECTED_HOST'],
      ['POST', 403, 'MISDIRECTED_HOST'],
      ['GET', 403, 'MISDIRECTED_HOST'],
    ]);
    await page.close();
  });

  it('refuses a foreign Host sent straight from a program', async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: slipwayPort,
          method: 'POST',
          path: '/api/v1/models',
          headers: { host: `evil.example:${slipwayPort}`, 'content-type': 'application/json' },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify({ name: 'csrf-host' }));
    });
    expect([answer.status, JSON.parse(answer.body).code]).toEqual([403, 'MISDIRECTED_HOST']);
  });

  it('still serves its own pages: a same-origin page can write', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/docs/`);
    const status = await page.evaluate(async () => {
      const response = await fetch('/api/v1/models', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'same-origin' }),
      });
      return response.status;
    });
    expect(status).toBe(201);
    await page.close();
  });

  it('still serves the CLI and inference without a Content-Type (as tritonclient sends it)', async () => {
    const pushed = await slipway([
      '--server',
      server.url,
      '--json',
      'models',
      'push',
      join(EXAMPLE, 'model.onnx'),
      '--manifest',
      join(EXAMPLE, 'manifest.json'),
    ]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const typeless = await fetch(`${server.url}/envs/dev/v1/models/penguin-species:predict`, {
      method: 'POST',
      body: new Blob([JSON.stringify({ instances: [penguinManifest().sample[0]] })]),
    });
    expect(typeless.status, await typeless.clone().text()).toBe(200);
    expect(((await typeless.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
  });

  it('changed nothing through the attacks: no model, version, job, run, promotion or MLflow run', async () => {
    const models = await server.request('GET', '/api/v1/models');
    expect(models.body.models.map((m: { name: string }) => m.name).sort()).toEqual([
      'penguin-species',
      'same-origin',
      'victim',
    ]);
    const versions = await server.request('GET', '/api/v1/models/victim/versions');
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
    const jobs = await server.request('GET', '/api/v1/jobs');
    expect(jobs.body.jobs.map((j: { name: string }) => j.name)).toEqual(['nightly']);
    expect((await server.request('GET', '/api/v1/jobs/nightly/runs')).body.runs).toEqual([]);
    // Only the pushes' own deployments to dev: nothing was promoted or approved.
    const promotions = (await server.request('GET', '/api/v1/promotions')).body.promotions;
    expect(
      promotions.map((p: { model: string; environment: string }) => `${p.model}@${p.environment}`).sort(),
    ).toEqual(['penguin-species@dev', 'victim@dev']);
    const runs = await server.request('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: ['0'] });
    expect(runs.status, runs.text).toBe(200);
    expect(runs.body.runs ?? []).toEqual([]);
    const artifact = await server.request('GET', '/api/2.0/mlflow-artifacts/artifacts/csrf/a.txt');
    expect(artifact.status).toBe(404);
  });
});
