import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { startWorker, WorkerPool } from '../../src/runtime/onnx/worker-pool.js';
import { EXAMPLE } from '../helpers/server.js';

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
});
