import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { penguinRows } from '../../src/cli/demo.js';
import { slipway } from '../helpers/cli.js';
import { EXAMPLE, penguinManifest, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Every logged request is kept, and a drift check runs every second over the last hour. */
const CONFIG = `
environments:
  - name: dev
    auto_deploy: true
    prediction_log: { sample_rate: 1 }
drift_checks:
  - { name: penguins-hourly, model: penguin-species, environment: dev, schedule: '* * * * * *', window: 1h, min_rows: 100 }
`;

const FEATURES = ['island', 'sex', 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'];
const features = (rows: Record<string, unknown>[]) => rows.map(({ species: _species, ...inputs }) => inputs);
/** The penguins with one measurement 15% heavier: that feature, and only it, drifts. */
const heavier = (rows: Record<string, unknown>[]) =>
  rows.map((row) => ({
    ...row,
    body_mass_g: typeof row.body_mass_g === 'number' ? row.body_mass_g * 1.15 : row.body_mass_g,
  }));

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
const drifted = (report: any) =>
  report.features.filter((f: { drifted: boolean }) => f.drifted).map((f: { name: string }) => f.name);

describe('drift against the training data', () => {
  let server: TestServer;
  const penguins = penguinRows();
  beforeAll(async () => {
    // All in one: the control server is the process that runs scheduled checks.
    server = await startServer({}, { allInOne: true, configYaml: CONFIG });
    const pushed = await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(pushed.status, pushed.text).toBe(201);
    const dataset = await server.request('PUT', '/api/v1/models/penguin-species/datasets/training', {
      label: 'species',
      rows: penguins,
    });
    expect(dataset.status, dataset.text).toBe(201);
  }, 60_000);
  afterAll(() => server.stop());

  it('profiles the version on its training data: every feature, and its predictions', async () => {
    const { status, body } = await server.request('GET', '/api/v1/models/penguin-species/versions/1/profile');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      model: 'penguin-species',
      version: 1,
      source: 'dataset:training',
      rows: 344,
    });
    expect(body.features.map((f: { name: string }) => f.name)).toEqual(FEATURES);
    const island = body.features[0];
    expect(island.kind).toBe('categorical');
    expect(island.categories).toEqual({ Biscoe: 168 / 344, Dream: 124 / 344, Torgersen: 52 / 344 });
    const mass = body.features[5];
    expect(mass).toMatchObject({ kind: 'numerical', count: 344, null_share: 2 / 344 });
    expect(mass.summary.min).toBe(2700);
    expect(mass.summary.max).toBe(6300);
    expect(body.prediction).toMatchObject({ name: 'prediction', kind: 'categorical' });
    expect(Object.keys(body.prediction.categories).sort()).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    expect(body).not.toHaveProperty('features.0.values');
  });

  it('finds no drift in the training data itself, and in a file of it through the CLI', async () => {
    const same = await server.request('POST', '/api/v1/models/penguin-species/versions/1/drift', {
      rows: features(penguins),
    });
    expect(same.status, same.text).toBe(200);
    expect(same.body.dataset_drift).toBe(false);
    expect(drifted(same.body)).toEqual([]);
    // Evidently's defaults on 344 reference rows: ks for measurements, chi-square for island's three
    // values, the z-test for the two of sex.
    const methods = Object.fromEntries(
      same.body.features.map((f: { name: string; method: string }) => [f.name, f.method]),
    );
    expect(methods).toEqual({
      island: 'chisquare',
      sex: 'z',
      bill_length_mm: 'ks',
      bill_depth_mm: 'ks',
      flipper_length_mm: 'ks',
      body_mass_g: 'ks',
    });
    for (const feature of same.body.features) expect(feature.statistic).toBeCloseTo(1, 9);
    const file = join(server.dataDir, 'penguins.json');
    writeFileSync(file, JSON.stringify(features(penguins)));
    const cli = await slipway(['--json', 'drift', 'penguin-species', '1', '--file', file], {
      SLIPWAY_SERVER: server.url,
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).dataset_drift).toBe(false);
    // The same with --version, and a shifted file: exit status 8 when the data set drifted.
    const grownFile = join(server.dataDir, 'grown.json');
    writeFileSync(
      grownFile,
      JSON.stringify(
        features(penguins).map((row) => ({
          ...row,
          bill_length_mm: typeof row.bill_length_mm === 'number' ? row.bill_length_mm * 1.15 : null,
          flipper_length_mm: typeof row.flipper_length_mm === 'number' ? row.flipper_length_mm * 1.15 : null,
          body_mass_g: typeof row.body_mass_g === 'number' ? row.body_mass_g * 1.15 : null,
        })),
      ),
    );
    const shifted = await slipway(['drift', 'penguin-species', '--version', '1', '--file', grownFile], {
      SLIPWAY_SERVER: server.url,
    });
    expect(shifted.code, shifted.stderr).toBe(8);
    expect(shifted.stdout).toMatch(/DATASET DRIFT: 50% of features drifted/);
    const version = await slipway(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('sees the shifted feature, and only it, drift in a data set', async () => {
    const report = await server.request('POST', '/api/v1/models/penguin-species/versions/1/drift', {
      rows: features(heavier(penguins)),
    });
    expect(report.status).toBe(200);
    expect(drifted(report.body)).toEqual(['body_mass_g']);
    const mass = report.body.features.find((f: { name: string }) => f.name === 'body_mass_g');
    expect(mass).toMatchObject({ method: 'ks', threshold: 0.05, drifted: true, current_rows: 342 });
    expect(mass.statistic).toBeLessThan(1e-6);
    expect(report.body.drift_share).toBeCloseTo(1 / 6, 12);
    expect(report.body.dataset_drift).toBe(false);
  });

  it('sees it in the prediction log, through the API, the CLI and the scheduled check', async () => {
    const shifted = features(heavier(penguins));
    for (let start = 0; start < shifted.length; start += 40) {
      const answer = await server.request('POST', '/envs/dev/v1/models/penguin-species:predict', {
        instances: shifted.slice(start, start + 40),
      });
      expect(answer.status, answer.text).toBe(200);
    }
    await server.app.predictionLog.flush();
    const report = await server.request('GET', '/api/v1/models/penguin-species/drift?environment=dev');
    expect(report.status, report.text).toBe(200);
    expect(report.body).toMatchObject({ environment: 'dev', version: 1, current_rows: 344 });
    expect(drifted(report.body)).toEqual(['body_mass_g']);

    const cli = await slipway(['drift', 'penguin-species', '--env', 'dev'], { SLIPWAY_SERVER: server.url });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/body_mass_g\s+numerical\s+ks\s+\S+\s+0\.05\s+DRIFT/);
    expect(cli.stdout).toMatch(/no dataset drift: 17% of features drifted/);

    const check = await waitFor('the scheduled check to run', async () => {
      const { body } = await server.request('GET', '/api/v1/drift/checks');
      const last = body.checks[0].last;
      return last?.report?.current_rows >= 344 ? body.checks[0] : undefined;
    });
    expect(check.last.status).toBe('ok');
    expect(drifted(check.last.report)).toEqual(['body_mass_g']);
    const metrics = (await server.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/^slipway_drift_detected\{model="penguin-species",environment="dev"\} 0$/m);
    expect(metrics).toMatch(
      /^slipway_feature_drift_statistic\{model="penguin-species",environment="dev",feature="body_mass_g",method="ks"\} \S+$/m,
    );
  });

  it('refuses what it cannot compare, with a clear error', async () => {
    const none = await server.request('POST', '/api/v1/models/penguin-species/versions/1/drift', {
      rows: [],
    });
    expect(none.status).toBe(400);
    const unknown = await server.request('POST', '/api/v1/models/penguin-species/versions/9/drift', {
      rows: features(penguins),
    });
    expect(unknown.status).toBe(404);
    const backwards = await server.request(
      'GET',
      '/api/v1/models/penguin-species/drift?environment=dev&from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z',
    );
    expect(backwards.status).toBe(400);
    const empty = await server.request(
      'GET',
      '/api/v1/models/penguin-species/drift?environment=dev&from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z',
    );
    expect(empty.status).toBe(409);
    expect(empty.body.code).toBe('FAILED_PRECONDITION');
    const method = await server.request('GET', '/api/v1/models/penguin-species/drift?method=magic');
    expect(method.status).toBe(400);
    const missing = await server.request('POST', '/api/v1/drift/checks/nope/run', {});
    expect(missing.status, missing.text).toBe(404);
  });
});

describe('a scheduled check that finds dataset drift', () => {
  const received: { body: string }[] = [];
  let receiver: Server;
  let server: TestServer;
  /** Four of the six features 15% larger: a drifted data set (at least half its features). */
  const grown = (rows: Record<string, unknown>[]) =>
    rows.map((row) => {
      const next = { ...row };
      for (const name of ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g']) {
        if (typeof row[name] === 'number') next[name] = (row[name] as number) * 1.15;
      }
      return next;
    });

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    server = await startServer(
      {},
      {
        allInOne: true,
        configYaml: `${CONFIG}
alerts:
  webhooks:
    - { name: on-call, url: 'http://127.0.0.1:${port}/hook', events: [drift] }
`,
      },
    );
    const pushed = await server.push('penguin-species', join(EXAMPLE, 'model.onnx'), penguinManifest());
    expect(pushed.status, pushed.text).toBe(201);
    const dataset = await server.request('PUT', '/api/v1/models/penguin-species/datasets/training', {
      label: 'species',
      rows: penguinRows(),
    });
    expect(dataset.status, dataset.text).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    await new Promise<void>((resolve) => {
      receiver.closeAllConnections();
      receiver.close(() => resolve());
    });
  });

  it('sets the drift gauge, and alerts once with the drifted features while the drift lasts', async () => {
    const shifted = features(grown(penguinRows()));
    for (let start = 0; start < shifted.length; start += 40) {
      const answer = await server.request('POST', '/envs/dev/v1/models/penguin-species:predict', {
        instances: shifted.slice(start, start + 40),
      });
      expect(answer.status, answer.text).toBe(200);
    }
    await server.app.predictionLog.flush();
    const check = await waitFor('the scheduled check to find drift', async () => {
      const { body } = await server.request('GET', '/api/v1/drift/checks');
      return body.checks[0].last?.status === 'drift' ? body.checks[0] : undefined;
    });
    expect(check.last.report.dataset_drift).toBe(true);
    const [alert] = await waitFor('the drift webhook', async () =>
      received.length > 0 ? received.map((r) => JSON.parse(r.body)) : undefined,
    );
    expect(alert).toMatchObject({
      event: 'drift',
      details: {
        check: 'penguins-hourly',
        model: 'penguin-species',
        version: 1,
        environment: 'dev',
        rows: 344,
        features_tested: 6,
        share_threshold: 0.5,
      },
    });
    expect(alert.details.drifted_features.map((f: { name: string }) => f.name).sort()).toEqual([
      'bill_depth_mm',
      'bill_length_mm',
      'body_mass_g',
      'flipper_length_mm',
    ]);
    const metrics = (await server.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/^slipway_drift_detected\{model="penguin-species",environment="dev"\} 1$/m);

    // The check keeps running every second and keeps finding drift: still one alert.
    const runs = async () => (await server.request('GET', '/api/v1/drift/checks')).body.checks[0].last.at;
    const first = await runs();
    await waitFor('two more runs of the check', async () => {
      const at = await runs();
      return Date.parse(at) >= Date.parse(first) + 2000 ? at : undefined;
    });
    expect(received).toHaveLength(1);
  });
});
