import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectConsoleErrors,
  ensureConsoleBuilt,
  launchBrowser,
  seriousViolations,
} from '../helpers/browser.js';
import { type ConsoleDemo, openScreen, startConsoleDemo } from '../helpers/console-demo.js';
import { ROOT } from '../helpers/server.js';

const run = promisify(execFile);
/** The test venv's Python, with the real `mlflow` client (`make .venv/.stamp`). */
const PYTHON = join(ROOT, '.venv/bin/python');
/** The first screen's JavaScript, gzipped, may not exceed this (the budget). */
const FIRST_SCREEN_JS_BUDGET = 200 * 1024;

/**
 * Every screen of the console, in local mode (no sign-in), on the console demo's data, at 1280 and 390
 * pixels wide: each shows its heading and finishes loading, axe-core finds no serious or critical
 * violation, and no page logs a console error. The link the real `mlflow` client prints for a run opens
 * that run.
 */
let demo: ConsoleDemo;
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  ensureConsoleBuilt();
  demo = await startConsoleDemo({ mlflowRuns: 120 });
  ({ browser, close: closeBrowser } = await launchBrowser());
}, 180_000);

afterAll(async () => {
  await closeBrowser?.();
  await demo?.server.stop();
});

describe('every console screen', () => {
  for (const width of [1280, 390]) {
    it(`shows, loads and passes axe-core at ${width} pixels wide, with no console error`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const errors = collectConsoleErrors(page);
      for (const screen of demo.screens) {
        await openScreen(page, demo.server.url, screen);
        expect(await seriousViolations(page), `${screen.name} at ${width}`).toEqual([]);
      }
      // A page of runs, not all of them: the experiment has more than one page.
      await openScreen(page, demo.server.url, demo.screens.find((s) => s.name === 'runs')!);
      expect(await page.getByRole('region', { name: 'Runs' }).locator('tbody tr').count()).toBe(100);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText('Page 2').waitFor();
      await expect
        .poll(() => page.getByRole('region', { name: 'Runs' }).locator('tbody tr').count())
        .toBe(20);
      await context.close();
      expect(errors).toEqual([]);
    }, 120_000);
  }

  it(`loads at most ${FIRST_SCREEN_JS_BUDGET / 1024} KB of JavaScript, gzipped, for the first screen`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const sizes: Promise<number>[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() === 'script') {
        sizes.push(response.body().then((body) => gzipSync(body).length));
      }
    });
    await openScreen(page, demo.server.url, demo.screens[0]!);
    const total = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    expect(sizes.length).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(FIRST_SCREEN_JS_BUDGET);
    await context.close();
  });
});

describe('traffic in the console', () => {
  it('sets a split by clicks as a new revision, and shows what it changed', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectConsoleErrors(page);
    await page.goto(`${demo.server.url}/#/deployments/staging/penguin-species`);
    await page.getByRole('heading', { name: /in force/ }).waitFor();
    await page.getByRole('button', { name: 'Set traffic' }).click();
    await page.getByRole('button', { name: 'Add a version' }).click();
    await page.locator('#split-version-1').selectOption('1');
    await page.locator('#split-percent-0').fill('70');
    await page.locator('#split-percent-1').fill('30');
    await page.getByLabel('Reason').fill('A/B by hand');
    await page.getByRole('button', { name: 'Apply as a new revision' }).click();
    const history = page.getByRole('region', { name: 'Revision history' });
    await history.getByText('v1 0% → 30%; v2 100% → 70%').waitFor();
    const current = await demo.server.request(
      'GET',
      '/api/v1/environments/staging/deployments/penguin-species',
    );
    expect([current.body.revision.kind, current.body.revision.reason, current.body.revision.traffic]).toEqual(
      [
        'traffic',
        'A/B by hand',
        [
          { version: 2, percent: 70 },
          { version: 1, percent: 30 },
        ],
      ],
    );
    await context.close();
    expect(errors).toEqual([]);
  });
});

describe('jobs in the console', () => {
  it('runs a date and backfills a range by clicks, and follows the new run to its log', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectConsoleErrors(page);
    await openScreen(page, demo.server.url, demo.screens.find((s) => s.name === 'job')!);
    await page.getByLabel('Logical date').fill('2001-06-20');
    await page.getByRole('button', { name: 'Run 2001-06-20' }).click();
    await page.getByText(/^Queued run \d+ for 2001-06-20\.$/).waitFor();
    const runs = page.getByRole('region', { name: 'Runs' });
    // The table follows the run without a reload, until it has succeeded.
    const row = runs.getByRole('row').filter({ hasText: '2001-06-20' });
    await row.getByText('succeeded').waitFor({ timeout: 30_000 });
    await row.getByRole('link').click();
    await page
      .getByRole('log', { name: 'Run log' })
      .getByText(/succeeded in/)
      .waitFor();
    await page.goBack();
    await page.getByLabel('From').fill('2001-06-18');
    await page.getByLabel('To').fill('2001-06-19');
    await page.getByRole('button', { name: 'Backfill' }).click();
    await page.getByText('Queued 2 runs; skipped 0.').waitFor();
    await runs.getByRole('row').filter({ hasText: '2001-06-18' }).waitFor();
    await context.close();
    expect(errors).toEqual([]);
  });
});

describe('the link the mlflow client prints', () => {
  it('opens the run it names, with its parameters and a chart of its metric by step', async () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: make .venv/.stamp`).toBe(true);
    const script = [
      'import mlflow',
      'mlflow.set_experiment("console-link")',
      'with mlflow.start_run(run_name="printed-link") as run:',
      '    mlflow.log_param("alpha", 0.5)',
      '    for step, loss in enumerate([0.9, 0.6, 0.4, 0.3]):',
      '        mlflow.log_metric("loss", loss, step=step)',
      'print("RUN", run.info.run_id)',
    ].join('\n');
    const { stdout, stderr } = await run(PYTHON, ['-c', script], {
      env: { ...process.env, MLFLOW_TRACKING_URI: demo.server.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' },
    });
    const printed = `${stdout}\n${stderr}`;
    const link = /View run printed-link at: (\S+)/.exec(printed)?.[1];
    const runId = /RUN (\w+)/.exec(printed)?.[1];
    expect(link, printed).toMatch(/\/#\/experiments\/\d+\/runs\/\w+$/);
    expect(link).toContain(runId);

    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectConsoleErrors(page);
    await page.goto(link!);
    await page.getByRole('heading', { level: 1, name: 'Run printed-link' }).waitFor();
    await page.getByText(runId!).waitFor();
    await page.getByRole('region', { name: 'Metric loss' }).locator('canvas').waitFor();
    expect(await page.getByRole('region', { name: 'Parameters' }).textContent()).toContain('alpha');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
    expect(errors).toEqual([]);
  });
});
