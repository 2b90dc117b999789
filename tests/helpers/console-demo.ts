import type { Page } from 'playwright-core';
import { DEMO_JOB, DEMO_MODEL, demoManifest, penguinRows, prepareDemo } from '../../src/cli/demo.js';
import { EXAMPLE, startServer, type TestServer, uploadForm } from './server.js';
import { waitFor } from './wait.js';

/**
 * The demo's data and a little more story, for the console's screen tests and its screenshots: the
 * demo (penguin-species and flight-delay through every environment, the nightly job with a run), a
 * version 2 of penguin-species rolling out to prod as a canary, traffic to every environment (live
 * figures, and the prediction log that drift reads), a backfill, and an MLflow experiment of runs.
 */
export const CONSOLE_DEMO_CONFIG = `
environments:
  - name: dev
    prediction_log: { sample_rate: 1 }
  - name: staging
    prediction_log: { sample_rate: 1 }
  - name: prod
    prediction_log: { sample_rate: 1 }
    rollout: { steps: [10, 50, 100], bake_seconds: 3600, min_requests: 0, max_error_rate: 0.5 }
`;

/** One screen of the console: its name, its address (a fragment), and the heading it shows. */
export interface ConsoleScreen {
  readonly name: string;
  readonly hash: string;
  readonly heading: RegExp;
}

export interface ConsoleDemo {
  readonly server: TestServer;
  readonly screens: readonly ConsoleScreen[];
}

async function ok(server: TestServer, method: string, path: string, body?: unknown) {
  const response = await server.request(method, path, body);
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
  return response.body;
}

/** Sends `count` predictions of the penguins to an environment, a few at a time. */
export async function penguinTraffic(server: TestServer, environment: string, count: number): Promise<void> {
  const rows = penguinRows().map(({ species: _species, ...inputs }) => inputs);
  for (let i = 0; i < count; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, j) =>
        ok(server, 'POST', `/envs/${environment}/v1/models/${DEMO_MODEL}:predict`, {
          instances: [rows[(i + j) % rows.length]],
        }),
      ),
    );
  }
}

/** An MLflow experiment of `runs` runs, logged through the MLflow REST API as the client logs them. */
async function mlflowRuns(
  server: TestServer,
  runs: number,
): Promise<{ experiment: string; runIds: string[] }> {
  const mlflow = '/api/2.0/mlflow';
  const { experiment_id: experiment } = await ok(server, 'POST', `${mlflow}/experiments/create`, {
    name: 'penguin-tuning',
  });
  const runIds: string[] = [];
  for (let i = 0; i < runs; i++) {
    const start = Date.now() - (runs - i) * 60_000;
    const { run } = await ok(server, 'POST', `${mlflow}/runs/create`, {
      experiment_id: experiment,
      run_name: `lr-${i + 1}`,
      start_time: start,
    });
    const id = run.info.run_id as string;
    const rate = 0.01 * (i + 1);
    const metrics = Array.from({ length: 20 }, (_, step) => [
      { key: 'loss', value: 1 / (1 + step * rate * 10) + 0.02 * i, timestamp: start + step * 1000, step },
      {
        key: 'accuracy',
        value: 0.7 + 0.28 * (1 - Math.exp(-step * rate * 5)),
        timestamp: start + step * 1000,
        step,
      },
    ]).flat();
    await ok(server, 'POST', `${mlflow}/runs/log-batch`, {
      run_id: id,
      metrics,
      params: [
        { key: 'learning_rate', value: String(rate) },
        { key: 'max_iter', value: '1000' },
        { key: 'solver', value: i % 2 ? 'lbfgs' : 'saga' },
      ],
      tags: [{ key: 'team', value: 'penguins' }],
    });
    await ok(server, 'POST', `${mlflow}/runs/update`, {
      run_id: id,
      status: 'FINISHED',
      end_time: start + 20_000,
    });
    runIds.push(id);
  }
  return { experiment, runIds };
}

/** Starts a local-mode, all-in-one server with the console demo's data, and lists its screens. */
export async function startConsoleDemo(options: { mlflowRuns?: number } = {}): Promise<ConsoleDemo> {
  const server = await startServer({}, { allInOne: true, configYaml: CONSOLE_DEMO_CONFIG });
  await prepareDemo(server.app);
  // Version 2 of the penguins: the same graph, retrained (its manifest says), on its way to prod.
  const manifest = demoManifest();
  const v2 = await server.request(
    'POST',
    `/api/v1/models/${DEMO_MODEL}/versions`,
    uploadForm(`${EXAMPLE}/model.onnx`, {
      ...manifest,
      description: 'retrained with the 2009 field season',
      metrics: { ...(manifest.metrics as Record<string, number>), accuracy: 0.991, log_loss: 0.027 },
    }),
  );
  if (v2.status !== 201) throw new Error(`push: ${v2.text}`);
  await ok(server, 'PUT', `/api/v1/models/${DEMO_MODEL}/aliases/champion`, { version: 1 });
  await ok(server, 'PUT', `/api/v1/models/${DEMO_MODEL}/aliases/challenger`, { version: 2 });
  await ok(server, 'POST', '/api/v1/environments/staging/promotions', { model: DEMO_MODEL, version: 2 });
  const canary = await ok(server, 'POST', '/api/v1/environments/prod/promotions', {
    model: DEMO_MODEL,
    version: 2,
    canary: true,
    confirm: 'prod',
    reason: 'retrained: +1.2% accuracy on validation',
  });
  await ok(server, 'POST', `/api/v1/promotions/${canary.id}/approve`, {
    reason: 'validation figures reviewed',
  });
  for (const environment of ['dev', 'staging', 'prod']) await penguinTraffic(server, environment, 100);
  await server.app.predictionLog.flush();
  await ok(server, 'POST', `/api/v1/jobs/${DEMO_JOB}/backfill`, { from: '2001-06-27', to: '2001-06-29' });
  const { experiment, runIds } = await mlflowRuns(server, options.mlflowRuns ?? 12);
  // The demo's run, and the backfill's, finish before the screens are shown.
  await waitFor(
    'the job runs',
    async () => {
      const { runs } = await ok(server, 'GET', `/api/v1/jobs/${DEMO_JOB}/runs`);
      return (
        runs.every((r: { status: string }) => r.status !== 'queued' && r.status !== 'running') || undefined
      );
    },
    120_000,
  );
  const screens: ConsoleScreen[] = [
    { name: 'environments', hash: '#/', heading: /^Environments$/ },
    { name: 'models', hash: '#/models', heading: /^Models$/ },
    { name: 'model', hash: `#/models/${DEMO_MODEL}`, heading: new RegExp(`^${DEMO_MODEL}$`) },
    { name: 'version', hash: `#/models/${DEMO_MODEL}/versions/2`, heading: /v2/ },
    { name: 'compare-versions', hash: `#/models/${DEMO_MODEL}/compare?a=1&b=2`, heading: /v1 and v2/ },
    { name: 'promotions', hash: '#/promotions', heading: /^Promotions$/ },
    { name: 'promotion', hash: `#/promotions/${canary.id}`, heading: /→ prod/ },
    { name: 'traffic', hash: `#/deployments/prod/${DEMO_MODEL}`, heading: /in prod/ },
    { name: 'jobs', hash: '#/jobs', heading: /^Jobs$/ },
    { name: 'job', hash: `#/jobs/${DEMO_JOB}`, heading: new RegExp(`^${DEMO_JOB}$`) },
    { name: 'job-run', hash: `#/jobs/${DEMO_JOB}/runs/1`, heading: /run #1/ },
    { name: 'drift', hash: `#/drift?deployment=${DEMO_MODEL}@prod&hours=24`, heading: /^Drift$/ },
    { name: 'experiments', hash: '#/experiments', heading: /^Experiments$/ },
    { name: 'runs', hash: `#/experiments/${experiment}`, heading: /penguin-tuning/ },
    { name: 'run', hash: `#/experiments/${experiment}/runs/${runIds[0]}`, heading: /^Run lr-1$/ },
    {
      name: 'compare-runs',
      hash: `#/compare-runs?runs=${runIds.slice(0, 3).join(',')}`,
      heading: /Compare 3 runs/,
    },
    { name: 'audit', hash: '#/audit', heading: /^Audit trail$/ },
  ];
  return { server, screens };
}

/**
 * Opens a screen in a fresh document and waits until it is usable: its heading shows and nothing on it
 * is still loading. Answers the milliseconds that took.
 */
export async function openScreen(page: Page, url: string, screen: ConsoleScreen): Promise<number> {
  await page.goto('about:blank');
  const started = Date.now();
  await page.goto(`${url}/${screen.hash}`);
  await page.getByRole('heading', { level: 1, name: screen.heading }).waitFor();
  await page.waitForFunction(() => {
    // biome-ignore lint/suspicious/noExplicitAny: a browser global, untyped in a Node program.
    const { document } = globalThis as any;
    const statuses = [...document.querySelectorAll('main [role=status]')] as { textContent: string }[];
    // Charts draw once their library has loaded; until then a line of text stands in for each.
    return (
      !statuses.some((s) => s.textContent.startsWith('Loading')) && !document.querySelector('.chart-loading')
    );
  });
  return Date.now() - started;
}
