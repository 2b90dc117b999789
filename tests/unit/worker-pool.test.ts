import { execFileSync, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { startWorker, WorkerPool } from '../../src/runtime/onnx/worker-pool.js';
import { EXAMPLE, FIXTURES } from '../helpers/server.js';

describe('worker pool', () => {
  it('retries a worker that fails to start, with backoff, and then serves', async () => {
    const logged: unknown[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    let starts = 0;
    const pool = new WorkerPool({
      size: 1,
      runTimeoutMs: 5_000,
      logger,
      // The first two starts die at once, as a worker with a broken install would.
      startWorker: () => {
        starts += 1;
        return starts <= 2 ? fork('-e', ['process.exit(3)'], { execArgv: [] }) : startWorker();
      },
    });
    try {
      const began = performance.now();
      await pool.started();
      expect(starts).toBe(3);
      expect(performance.now() - began).toBeGreaterThanOrEqual(300);
      expect(logged).toMatchObject([
        { msg: 'inference worker failed to start', attempt: 1, retry_in_ms: 200 },
        { msg: 'inference worker failed to start', attempt: 2, retry_in_ms: 400 },
      ]);
      const inspection = await pool.inspect<{ signature: { inputs: unknown[] } }>(
        readFileSync(join(EXAMPLE, 'model.onnx')),
      );
      expect(inspection.signature.inputs).toHaveLength(6);
    } finally {
      await pool.close();
    }
  });

  it('keeps more workers while a reservation holds them, each with every model, and stops them after', async () => {
    const pool = new WorkerPool({ size: 1, runTimeoutMs: 10_000, logger: pino({ level: 'silent' }) });
    const children = () =>
      execFileSync('pgrep', ['-P', String(process.pid)])
        .toString()
        .trim()
        .split('\n').length;
    const model = readFileSync(join(FIXTURES, 'echo.onnx'));
    const run = (x: number) =>
      pool.run<{ y: { data: Float32Array } }>({
        op: 'run',
        key: 'echo',
        inputs: { x: { datatype: 'FP32', shape: [1, 1], data: new Float32Array([x]) } },
        outputs: ['y'],
      });
    try {
      await pool.started();
      const before = children();
      await pool.load('echo', model);
      const releaseThree = pool.reserve(3);
      const releaseTwo = pool.reserve(2);
      expect(pool.size).toBe(3);
      expect(children()).toBe(before + 2);
      // Once all are ready, calls go to the least busy: four to each worker, every one of which must
      // answer for the model loaded before it started (a worker without it refuses the call).
      await pool.started();
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => run(i)));
      expect(answers.map((answer) => answer.y.data[0])).toEqual(Array.from({ length: 12 }, (_, i) => i));

      await releaseThree();
      await releaseThree();
      expect(pool.size).toBe(2);
      expect(children()).toBe(before + 1);
      await releaseTwo();
      expect(pool.size).toBe(1);
      expect(children()).toBe(before);
      expect((await run(7)).y.data[0]).toBe(7);
    } finally {
      await pool.close();
    }
  });

  it('spreads calls made in the same tick over its ready workers', async () => {
    // A stand-in worker that speaks the pool's protocol and answers every call with its process id.
    const script =
      "process.on('message', (m) => process.send({ id: m.id, ok: true, result: process.pid }));" +
      'process.send({ id: -1, ready: true });';
    const pool = new WorkerPool({
      size: 3,
      runTimeoutMs: 5_000,
      logger: pino({ level: 'silent' }),
      startWorker: () => fork('-e', [script], { execArgv: [] }),
    });
    try {
      await pool.started();
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => pool.run<number>({ op: 'unload', key: 'none' })),
      );
      const perWorker = new Map<number, number>();
      for (const pid of answers) perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
      expect([...perWorker.values()]).toEqual([2, 2, 2]);
    } finally {
      await pool.close();
    }
  });

  it('fails, rather than leaves waiting, a call for a worker that never started when the pool closes', async () => {
    const pool = new WorkerPool({
      size: 1,
      runTimeoutMs: 5_000,
      logger: pino({ level: 'silent' }),
      startWorker: () => fork('-e', ['process.exit(3)'], { execArgv: [] }),
    });
    const failed = expect(pool.run({ op: 'unload', key: 'none' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await pool.close();
    await failed;
  });
});
