import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactStore } from '../../src/artifacts/local/local-artifact-store.js';
import { compileEnvironments, DEFAULT_ENVIRONMENTS } from '../../src/domain/environment.js';
import { PredictionLog, type PredictionLogOptions } from '../../src/observability/prediction-log.js';
import type { PredictionRecord } from '../../src/serving/prediction-recorder.js';
import { GatedArtifactStore } from '../helpers/gated-artifact-store.js';
import { captureLog } from '../helpers/log.js';

/** A prediction of `rows` rows of the penguin model's shape at `time`. */
function prediction(
  time: Date,
  rows = 1,
  extra: Partial<PredictionRecord> = {},
): PredictionRecord & { requestId: string } {
  return {
    environment: 'dev',
    model: 'penguins',
    version: 1,
    revision: 1,
    requestId: `req-${time.getTime()}-${rows}`,
    time,
    inputs: {
      island: {
        datatype: 'BYTES',
        shape: [rows, 1],
        data: Array.from({ length: rows }, (_, i) => `isle-${i}`),
      },
      mass: {
        datatype: 'FP32',
        shape: [rows, 1],
        data: Float32Array.from({ length: rows }, (_, i) => 3750.5 + i),
      },
    },
    outputs: {
      label: { datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, () => 'Adelie') },
      probabilities: {
        datatype: 'FP32',
        shape: [rows, 3],
        data: Float32Array.from({ length: rows * 3 }, (_, i) => (i % 3 === 0 ? 0.5 : 0.25)),
      },
    },
    ...extra,
  };
}

const HOUR = 3_600_000;

describe('PredictionLog', () => {
  let dir: string;
  let root: string;
  let logs: PredictionLog[];
  const open = (options: Partial<PredictionLogOptions> = {}, sampleRate = 1, retentionDays = 30) => {
    const log = new PredictionLog({
      artifacts: new LocalArtifactStore(root),
      environments: [{ name: 'dev', predictionLog: { sampleRate, retentionDays } }],
      logger: captureLog('silent').logger,
      tempDir: dir,
      ...options,
    });
    logs.push(log);
    return log;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-prediction-log-test-'));
    root = join(dir, 'artifacts');
    logs = [];
  });
  afterEach(async () => {
    await Promise.all(logs.map((log) => log.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one file per hour partition and reads a window back, newest first, by version, with a limit', async () => {
    const log = open();
    const base = Date.parse('2026-03-01T22:30:00Z');
    const times = [base, base + 60_000, base + HOUR, base + 2 * HOUR]; // 22:30, 22:31, 23:30, 00:30 next day
    times.forEach((time, i) => {
      log.record(prediction(new Date(time), i + 1, { version: i < 2 ? 1 : 2, revision: i + 1 }));
    });
    await log.flush();
    expect(log.stats()).toEqual([{ environment: 'dev', model: 'penguins', written: 10, dropped: 0 }]);
    const folder = join(root, 'prediction-log/dev/penguins');
    expect(await readdir(folder)).toEqual(['date=2026-03-01', 'date=2026-03-02']);
    expect(await readdir(join(folder, 'date=2026-03-01'))).toEqual(['hour=22', 'hour=23']);
    expect(await readdir(join(folder, 'date=2026-03-01/hour=22'))).toHaveLength(1);

    const around = (extra: { limit?: number; version?: number } = {}) =>
      log.read({
        environment: 'dev',
        model: 'penguins',
        from: new Date(base - HOUR),
        to: new Date(base + 3 * HOUR),
        ...extra,
      });
    const all = await around();
    expect(all.map((r) => [r.time.getTime(), r.row])).toEqual([
      [times[3], 0],
      [times[3], 1],
      [times[3], 2],
      [times[3], 3],
      [times[2], 0],
      [times[2], 1],
      [times[2], 2],
      [times[1], 0],
      [times[1], 1],
      [times[0], 0],
    ]);
    expect(all[0]).toEqual({
      time: new Date(times[3] as number),
      requestId: `req-${times[3]}-4`,
      version: 2,
      revision: 4,
      row: 0,
      inputs: { island: 'isle-0', mass: 3750.5 },
      outputs: { label: 'Adelie', probabilities: [0.5, 0.25, 0.25] },
    });
    expect(all[1]?.inputs).toEqual({ island: 'isle-1', mass: 3751.5 });

    const window = await log.read({
      environment: 'dev',
      model: 'penguins',
      from: new Date(times[1] as number),
      to: new Date(times[3] as number),
    });
    expect(window.map((r) => r.time.getTime())).toEqual([times[2], times[2], times[2], times[1], times[1]]);
    const newest = await around({ limit: 5 });
    expect(newest).toEqual(all.slice(0, 5));
    const firstVersion = await around({ version: 1, limit: 2 });
    expect(firstVersion.map((r) => [r.version, r.time.getTime(), r.row])).toEqual([
      [1, times[1], 0],
      [1, times[1], 1],
    ]);
    expect(await log.read({ environment: 'dev', model: 'other', from: new Date(0), to: new Date() })).toEqual(
      [],
    );
    await expect(
      log.read({ environment: 'dev', model: 'penguins', from: new Date(base), to: new Date(base) }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      log.read({ environment: 'dev', model: 'penguins', from: new Date(0), to: new Date(), limit: 0 }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const [environment, model] of [
      ['dev', '../penguins'],
      ['../dev', 'penguins'],
      ['dev', 'penguins/date=2026-03-01'],
    ]) {
      await expect(
        log.read({
          environment: environment as string,
          model: model as string,
          from: new Date(0),
          to: new Date(),
        }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('holds a bounded buffer: while a write is stuck, what does not fit is dropped and counted', async () => {
    const store = new GatedArtifactStore(root);
    const counted: [string, string, string, number][] = [];
    const log = open({
      artifacts: store,
      maxBufferRows: 10,
      onCount: (environment, model, result, rows) => counted.push([environment, model, result, rows]),
    });
    const now = Date.now();
    // A failed expectation must not leave the write stuck for close() in afterEach.
    try {
      for (let i = 0; i < 10; i += 1) log.record(prediction(new Date(now + i)));
      // The eleventh row does not fit: the full buffer goes to a write, and a new one takes the row.
      log.record(prediction(new Date(now + 10)));
      await waitFor(() => store.stages === 1);
      for (let i = 11; i < 20; i += 1) log.record(prediction(new Date(now + i)));
      // The write is stuck in the store and the second buffer is full: these are dropped at once.
      log.record(prediction(new Date(now + 20), 2));
      log.record(prediction(new Date(now + 21)));
      expect(log.stats()).toEqual([{ environment: 'dev', model: 'penguins', written: 0, dropped: 3 }]);
      store.release();
      await log.flush();
      expect(log.stats()).toEqual([{ environment: 'dev', model: 'penguins', written: 20, dropped: 3 }]);
      expect(counted).toEqual([
        ['dev', 'penguins', 'dropped', 2],
        ['dev', 'penguins', 'dropped', 1],
        ['dev', 'penguins', 'written', 10],
        ['dev', 'penguins', 'written', 10],
      ]);
      const rows = await log.read({
        environment: 'dev',
        model: 'penguins',
        from: new Date(now - HOUR),
        to: new Date(now + HOUR),
      });
      expect(rows).toHaveLength(20);
    } finally {
      store.release();
    }
  });

  it('drops and counts the rows of a write the store refuses, warns once a minute, and never throws', async () => {
    const captured = captureLog('warn');
    const store = new LocalArtifactStore(root);
    // A file where the log's folder should be: every commit fails.
    await store.commit(
      await store.stage(Readable.from([Buffer.from('x')]), { maxBytes: 10 }),
      'prediction-log',
    );
    const log = open({ logger: captured.logger });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(() => log.record(prediction(new Date(), 4))).not.toThrow();
      await log.flush();
    }
    expect(log.stats()).toEqual([{ environment: 'dev', model: 'penguins', written: 0, dropped: 12 }]);
    const warnings = captured.lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'the prediction log could not write a file; its rows are dropped',
    });
    expect(await readdir(join(root, '.staging')).catch(() => [])).toEqual([]);
  });

  it('samples by the environment rate: 0 keeps nothing, 0.5 about half', async () => {
    const off = open({}, 0);
    for (let i = 0; i < 100; i += 1) off.record(prediction(new Date()));
    await off.flush();
    expect(off.stats()).toEqual([]);
    const half = open({}, 0.5);
    for (let i = 0; i < 1000; i += 1) half.record(prediction(new Date()));
    await half.flush();
    const written = half.stats()[0]?.written ?? 0;
    // 1000 draws at 0.5: outside 400..600 happens with a probability under 1e-9.
    expect(written).toBeGreaterThan(400);
    expect(written).toBeLessThan(600);
  });

  it('sweeps hour partitions that ended before the retention, and whole days', async () => {
    const store = new LocalArtifactStore(root);
    const put = async (key: string) =>
      store.commit(await store.stage(Readable.from([Buffer.from('x')]), { maxBytes: 10 }), key);
    const model = 'prediction-log/dev/penguins';
    for (const key of [
      `${model}/date=2026-01-30/hour=23/a.parquet`,
      `${model}/date=2026-01-31/hour=00/a.parquet`,
      `${model}/date=2026-01-31/hour=05/a.parquet`,
      `${model}/date=2026-01-31/hour=06/a.parquet`,
      `${model}/date=2026-01-31/hour=10/a.parquet`,
      `${model}/date=2026-02-01/hour=00/a.parquet`,
      `${model}/date=2026-01-31/notes.txt`,
      `${model}/misc/a.txt`,
      'prediction-log/staging/other/date=2026-01-01/hour=00/a.parquet',
    ]) {
      await put(key);
    }
    const log = open({}, 1, 7);
    // Seven days after 2026-01-31 06:30: hours that ended by 06:30 go (00, 05), 06 and later stay.
    expect(await log.sweep(Date.parse('2026-02-07T06:30:00Z'))).toBe(4);
    expect(await readdir(join(root, model))).toEqual(['date=2026-01-31', 'date=2026-02-01', 'misc']);
    expect(await readdir(join(root, model, 'date=2026-01-31'))).toEqual(['hour=06', 'hour=10', 'notes.txt']);
    // An environment the server does not list takes the default retention (30 days).
    expect(await readdir(join(root, 'prediction-log/staging/other'))).toEqual([]);
  });
});

describe('prediction_log in slipway.yaml', () => {
  it('defaults to 5% for 30 days, takes each environment its own, and refuses rates outside 0..1', () => {
    expect(DEFAULT_ENVIRONMENTS.map((e) => e.predictionLog)).toEqual(
      Array(3).fill({ sampleRate: 0.05, retentionDays: 30 }),
    );
    const [dev, prod] = compileEnvironments([
      { name: 'dev', prediction_log: { sample_rate: 1 } },
      { name: 'prod', prediction_log: { sample_rate: 0, retention_days: 90 } },
    ]);
    expect(dev?.predictionLog).toEqual({ sampleRate: 1, retentionDays: 30 });
    expect(prod?.predictionLog).toEqual({ sampleRate: 0, retentionDays: 90 });
    expect(() => compileEnvironments([{ name: 'dev', prediction_log: { sample_rate: 1.5 } }])).toThrow(
      /environments\.0\.prediction_log\.sample_rate/,
    );
    expect(() => compileEnvironments([{ name: 'dev', prediction_log: { retention_days: 0 } }])).toThrow(
      /retention_days/,
    );
    expect(() => compileEnvironments([{ name: 'dev', prediction_log: { rate: 1 } }])).toThrow(
      /environments\.0\.prediction_log/,
    );
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
