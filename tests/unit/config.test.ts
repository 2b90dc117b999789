import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/index.js';

const empty = () => mkdtempSync(join(tmpdir(), 'slipway-config-'));

describe('config', () => {
  it('has safe defaults: loopback only, data under ./.slipway', () => {
    const cwd = empty();
    const config = compileConfig({}, {}, cwd);
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: join(cwd, '.slipway') });
    expect(config.registryUri).toBe(`sqlite:${join(cwd, '.slipway', 'registry.db')}`);
    expect(config.artifactUri).toBe(`file:${join(cwd, '.slipway', 'artifacts')}`);
    expect(config.inferenceWorkers).toBeGreaterThanOrEqual(1);
  });

  it('takes overrides over the environment over .env over defaults', () => {
    const cwd = empty();
    writeFileSync(join(cwd, '.env'), 'SLIPWAY_PORT=7000\nSLIPWAY_LOG_LEVEL=debug\nSLIPWAY_HOST=10.0.0.1\n');
    const config = compileConfig({ SLIPWAY_HOST: '0.0.0.0' }, { SLIPWAY_PORT: '7100' }, cwd);
    expect(config).toMatchObject({ host: '0.0.0.0', port: 7100, logLevel: 'debug' });
  });

  it.each([
    ['SLIPWAY_PORT', 'eighty'],
    ['SLIPWAY_PORT', '70000'],
    ['SLIPWAY_MAX_UPLOAD_BYTES', '-1'],
    ['SLIPWAY_INFERENCE_WORKERS', '0'],
    ['SLIPWAY_JOB_WORKERS', '0'],
    ['SLIPWAY_JOB_WORKERS', 'all'],
    ['SLIPWAY_LOG_LEVEL', 'loud'],
    ['SLIPWAY_AUTH', 'maybe'],
    ['SLIPWAY_ENV', 'qa'],
    ['SLIPWAY_MAX_BATCH_SIZE', '0'],
    ['SLIPWAY_BATCH_DELAY_MS', 'soon'],
  ])('refuses %s=%s at boot, naming the variable', (name, value) => {
    expect(() => compileConfig({}, { [name]: value }, empty())).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: name } }),
    );
  });

  it('scores batch runs with every inference worker of the server unless told otherwise', () => {
    expect(compileConfig({}, { SLIPWAY_INFERENCE_WORKERS: '6' }, empty())).toMatchObject({
      inferenceWorkers: 6,
      jobWorkers: 6,
    });
    expect(
      compileConfig({}, { SLIPWAY_INFERENCE_WORKERS: '6', SLIPWAY_JOB_WORKERS: '2' }, empty()).jobWorkers,
    ).toBe(2);
  });

  it('refuses local mode (no tokens) beyond loopback', () => {
    expect(() => compileConfig({}, { SLIPWAY_AUTH: 'off', SLIPWAY_HOST: '0.0.0.0' }, empty())).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: 'SLIPWAY_AUTH' } }),
    );
    expect(compileConfig({}, { SLIPWAY_AUTH: 'off' }, empty()).auth).toBe(false);
  });

  it('reads per-model batching and environments from slipway.yaml', () => {
    const cwd = empty();
    writeFileSync(
      join(cwd, 'slipway.yaml'),
      'models:\n  fast: { batching: { max_batch_size: 8, max_queue_delay_ms: 0.5 } }\nenvironments:\n  - name: dev\n  - name: live\n',
    );
    const config = compileConfig({}, { SLIPWAY_MAX_BATCH_SIZE: '32' }, cwd);
    expect(config.batching('fast')).toEqual({ maxBatchSize: 8, maxQueueDelayMs: 0.5 });
    expect(config.batching('other')).toEqual({ maxBatchSize: 32, maxQueueDelayMs: 0 });
    expect(config.environments.map((e) => e.name)).toEqual(['dev', 'live']);
    expect(config.defaultEnvironment).toBe('live');
  });

  it('refuses a malformed slipway.yaml with the field at fault', () => {
    const cwd = empty();
    writeFileSync(join(cwd, 'slipway.yaml'), 'models:\n  fast: { batching: { max_batch_size: 0 } }\n');
    expect(() => compileConfig({}, {}, cwd)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        details: { field: 'models.fast.batching.max_batch_size' },
      }),
    );
    writeFileSync(join(cwd, 'slipway.yaml'), '- just\n- a list\n');
    expect(() => compileConfig({}, {}, cwd)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('reads named warehouses with environment variables filled in, and jobs checked as the API checks them', () => {
    const cwd = empty();
    const yaml = (jobWarehouse: string) =>
      [
        'warehouses:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: slipway.yaml's own ${VAR} syntax
        '  pg: "postgres://scorer:${PGPASSWORD}@127.0.0.1:5432/warehouse"',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: slipway.yaml's own ${VAR} syntax
        '  local: "duckdb:${WAREHOUSE_DIR}/scores.duckdb"',
        'jobs:',
        '  - name: nightly',
        '    model: scorer@champion',
        `    source: { warehouse: ${jobWarehouse}, query: "SELECT 1 AS x" }`,
        '    sink: { warehouse: local, table: scores }',
        '    schedule: "0 2 * * *"',
      ].join('\n');
    writeFileSync(join(cwd, 'slipway.yaml'), yaml('pg'));
    const env = { PGPASSWORD: 'p@ss/word', WAREHOUSE_DIR: '/srv/data' };
    const config = compileConfig({}, env, cwd);
    expect(config.warehouses).toEqual({
      pg: 'postgres://scorer:p%40ss%2Fword@127.0.0.1:5432/warehouse',
      local: 'duckdb:/srv/data/scores.duckdb',
    });
    expect(config.jobs.map((j) => j.name)).toEqual(['nightly']);
    expect(() => compileConfig({}, { WAREHOUSE_DIR: '/srv' }, cwd)).toThrow(/PGPASSWORD/);
    writeFileSync(join(cwd, 'slipway.yaml'), yaml('nowhere'));
    expect(() => compileConfig({}, env, cwd)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'jobs.0' } }),
    );
    writeFileSync(join(cwd, 'slipway.yaml'), yaml('pg').replace('0 2 * * *', 'nightly'));
    expect(() => compileConfig({}, env, cwd)).toThrow(/cron expression/);
  });

  it('reads drift checks, and refuses each kind of bad one with the field at fault', () => {
    const cwd = empty();
    const check = (fields: string) =>
      `drift_checks:\n  - { name: hourly, model: penguins, environment: prod, schedule: '0 * * * *', window: 24h${fields} }\n`;
    writeFileSync(join(cwd, 'slipway.yaml'), check(', min_rows: 50, method: psi, threshold: 0.2'));
    expect(compileConfig({}, {}, cwd).driftChecks).toEqual([
      {
        name: 'hourly',
        model: 'penguins',
        environment: 'prod',
        schedule: '0 * * * *',
        windowSeconds: 86_400,
        minRows: 50,
        method: 'psi',
        threshold: 0.2,
      },
    ]);
    const refused: [string, string][] = [
      [check('').replace('hourly', 'Hourly!'), 'drift_checks.0.name'],
      [check('').replace('prod', 'qa'), 'drift_checks.0.environment'],
      [check('').replace("'0 * * * *'", 'hourly'), 'drift_checks.0.schedule'],
      [check('').replace('24h', '24 hours'), 'drift_checks.0.window'],
      [check('').replace('24h', '91d'), 'drift_checks.0.window'],
      [check(', method: magic'), 'drift_checks.0.method'],
      [check(', threshold: 0'), 'drift_checks.0.threshold'],
      [check(', extra: 1'), 'drift_checks.0'],
      [
        `${check('')}  - { name: hourly, model: m, environment: dev, schedule: '* * * * *', window: 1h }\n`,
        'drift_checks.1.name',
      ],
    ];
    for (const [yaml, field] of refused) {
      writeFileSync(join(cwd, 'slipway.yaml'), yaml);
      expect(() => compileConfig({}, {}, cwd), yaml).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          details: expect.objectContaining({ field: expect.stringContaining(field) }),
        }),
      );
    }
  });

  it('compiles the documented example slipway.yaml', () => {
    const config = compileConfig(
      { SLIPWAY_CONFIG_FILE: join(import.meta.dirname, '../../examples/slipway.yaml') },
      {},
      empty(),
    );
    expect(config.environments.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
    const prod = config.environments[2];
    expect(prod?.rollout?.maxPredictionDivergence).toBe(0.2);
    expect(prod?.predictionLog).toEqual({ sampleRate: 0.05, retentionDays: 30 });
    expect(config.driftChecks).toEqual([
      expect.objectContaining({
        name: 'penguins-daily',
        environment: 'prod',
        windowSeconds: 86_400,
        minRows: 200,
      }),
    ]);
  });
});
