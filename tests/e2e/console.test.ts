import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectConsoleErrors,
  ensureConsoleBuilt,
  launchBrowser,
  seriousViolations,
} from '../helpers/browser.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FIXTURES, startServer, type TestServer, uploadForm } from '../helpers/server.js';

/**
 * The console in Debian's Chromium, driven by clicks: one user signs in and promotes a version to prod,
 * a second user with the approver role approves it, the canary moves a step while traffic flows, and
 * the first user rolls it back. Every screen passes axe-core (no serious or critical violation) and
 * logs no browser console error. Canary time runs on a manual clock, so each step moves when the test
 * says so.
 */
const CONFIG = `
environments:
  - name: dev
  - name: staging
  - name: prod
    rollout: { steps: [10, 50, 100], bake_seconds: 60, min_requests: 0, max_error_rate: 0.5 }
`;

let server: TestServer;
let clock: ManualClock;
let browser: Browser;
let closeBrowser: () => Promise<void>;
const secrets: Record<string, string> = {};
/** Each page's console errors and uncaught exceptions. */
const consoleErrors: string[][] = [];

async function api(method: string, path: string, body?: unknown) {
  const response = await server.request(method, path, body, { authorization: `Bearer ${secrets.admin}` });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
  return response.body;
}

/** A page of its own browser context (its own sessionStorage: a separate user), its console watched. */
async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  consoleErrors.push(collectConsoleErrors(page));
  return page;
}

async function signIn(page: Page, who: string): Promise<void> {
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await expectAccessible(page);
  await page.getByLabel('API token').fill(secrets[who]!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Environments', level: 1 }).waitFor();
}

async function expectAccessible(page: Page): Promise<void> {
  expect(await seriousViolations(page), page.url()).toEqual([]);
}

beforeAll(async () => {
  ensureConsoleBuilt();
  clock = new ManualClock(Date.now());
  server = await startServer(
    { SLIPWAY_AUTH: 'on', SLIPWAY_ANALYSIS_INTERVAL_MS: 1000 },
    { allInOne: true, configYaml: CONFIG, clock },
  );
  const system = { actor: { name: 'setup', role: 'admin' as const }, requestId: null };
  for (const [name, role] of [
    ['admin', 'admin'],
    ['dee', 'deployer'],
    ['ava', 'approver'],
  ] as const) {
    secrets[name] = (await server.app.tokens.create(name, role, system)).secret;
  }
  // Version 1 serves everywhere; version 2 has reached staging.
  const admin = { authorization: `Bearer ${secrets.admin}` };
  expect((await server.request('POST', '/api/v1/models', { name: 'm' }, admin)).status).toBe(201);
  for (const file of ['echo.onnx', 'plus-one.onnx']) {
    const uploaded = await server.request(
      'POST',
      '/api/v1/models/m/versions',
      uploadForm(join(FIXTURES, file), { sample: [{ x: 1 }] }),
      admin,
    );
    expect(uploaded.status, uploaded.text).toBe(201);
    const version = uploaded.body.version;
    await api('POST', '/api/v1/environments/staging/promotions', { model: 'm', version });
    if (version === 2) break;
    const prod = await api('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version,
      confirm: 'prod',
    });
    await api('POST', `/api/v1/promotions/${prod.id}/approve`, {});
  }
  ({ browser, close: closeBrowser } = await launchBrowser());
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
});

describe('the console', () => {
  it('serves its page with a strict Content-Security-Policy and hashed assets cached for good', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('takes a version to prod by clicks: promote, approve as another user, a canary step, roll back', async () => {
    const dee = await newPage();
    await signIn(dee, 'dee');
    await expectAccessible(dee);
    const staging = dee.getByRole('region', { name: 'staging' });
    const card = staging.getByRole('article', { name: 'm in staging' });
    await card.getByRole('button', { name: 'Promote to prod' }).click();
    await card.getByLabel('Canary').check();
    await card.getByLabel('Type prod to confirm').fill('prod');
    await card.getByRole('button', { name: 'Promote v2 to prod' }).click();
    await dee.getByRole('heading', { name: /m v2 → prod/ }).waitFor();
    await dee.getByText('awaiting approval').first().waitFor();
    // The deployer may not approve: the button says which role it needs.
    const approveAsDee = dee.getByRole('button', { name: /Approve/ });
    expect(await approveAsDee.isDisabled()).toBe(true);
    expect(await approveAsDee.textContent()).toContain('needs approver');
    await expectAccessible(dee);
    const promotionUrl = dee.url();
    const promotionId = promotionUrl.split('/').pop()!;

    const ava = await newPage();
    await signIn(ava, 'ava');
    await ava.getByRole('link', { name: 'Promotions' }).click();
    await ava
      .getByRole('region', { name: 'Promotions in progress' })
      .getByRole('link', { name: promotionId })
      .click();
    await ava.getByLabel('Type prod to confirm').fill('prod');
    await ava.getByRole('button', { name: 'Approve' }).click();
    await ava.getByText('Step 1 of 3 (10%)').waitFor();

    // Traffic flows to prod while the canary runs; the figures on the page come from /metrics.
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        await server.request(
          'POST',
          '/envs/prod/v1/models/m:predict',
          { instances: [[1]] },
          {
            authorization: `Bearer ${secrets.dee}`,
          },
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await dee.getByText('Step 1 of 3 (10%)').waitFor();
      await clock.advance(61_000);
      await dee.getByText('Step 2 of 3 (50%)').waitFor();
      // Live figures: the candidate's requests per second fill in without a reload.
      await dee.waitForFunction(() => {
        // biome-ignore lint/suspicious/noExplicitAny: a browser global.
        const { document } = globalThis as any;
        const cell = document.querySelector('table.figures tbody tr td');
        return cell !== null && cell.textContent !== '—' && cell.textContent !== '0';
      });
      await expectAccessible(dee);
      // Pause and resume, by clicks: the canary keeps its share while paused.
      await dee.getByRole('button', { name: 'Pause' }).click();
      await dee.getByRole('heading', { level: 1 }).getByText('paused').waitFor();
      await dee.getByRole('button', { name: 'Resume' }).click();
      await dee.getByRole('heading', { level: 1 }).getByText('rolling out').waitFor();

      // The first user rolls back from the deployment's history.
      await dee.getByRole('link', { name: 'traffic and history' }).click();
      await dee.getByRole('heading', { name: 'm in prod' }).waitFor();
      const history = await api('GET', '/api/v1/environments/prod/deployments/m/revisions');
      // The revision in force before this promotion changed anything.
      const before = history.revisions.find(
        (r: { promotion_id: string | null }) => r.promotion_id !== promotionId,
      );
      await expectAccessible(dee);
      await dee.getByRole('button', { name: `Roll back to revision ${before.number}` }).click();
      await dee
        .getByRole('heading', { name: /in force/ })
        .filter({ hasText: String(history.revisions[0].number + 1) })
        .waitFor();
    } finally {
      flowing = false;
      await traffic;
    }
    const now = await api('GET', '/api/v1/environments/prod/deployments/m');
    expect([now.revision.kind, now.revision.actor, now.revision.traffic]).toEqual([
      'rollback',
      'dee',
      [{ version: 1, percent: 100 }],
    ]);
    expect((await api('GET', `/api/v1/promotions/${promotionId}`)).status).toBe('ABORTED');
    expect(consoleErrors.flat()).toEqual([]);
  });
});
