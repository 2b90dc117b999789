import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { type App, createApp } from '../../src/app.js';
import type { ConfigOverrides } from '../../src/config/index.js';
import type { Clock } from '../../src/domain/clock.js';
import { freshDatabase } from './postgres.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'tests/fixtures/models');
export const EXAMPLE = join(ROOT, 'examples/penguin-species');

/** A real Slipway on a free loopback port with its own data folder, and helpers to call it. */
export interface TestServer {
  readonly app: App;
  readonly url: string;
  readonly dataDir: string;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse>;
  push(model: string, file: string, manifest?: unknown): Promise<TestResponse>;
  stop(): Promise<void>;
}

export interface TestResponse {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server answered.
  readonly body: any;
  readonly text: string;
}

/**
 * Starts a server. By default it is local mode (no tokens) serving `dev` at the plain inference
 * paths, where every push is deployed at once; `allInOne` serves every environment (plain paths:
 * the last one, prod) as `slipway serve` without `--env` does.
 */
/**
 * Settings of a quiet local-mode server (no tokens) on a free port, serving dev, with its data and
 * its slipway.yaml (if any) in `dataDir`: what `startServer` uses, and what a test uses to start a
 * second server on the same folder.
 */
export function localServer(dataDir: string): ConfigOverrides {
  const registry = registries.get(dataDir);
  return {
    ...(registry ? { SLIPWAY_REGISTRY_URI: registry } : {}),
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_PORT: 0,
    SLIPWAY_LOG_LEVEL: 'silent',
    SLIPWAY_AUTH: 'off',
    SLIPWAY_ENV: 'dev',
    SLIPWAY_CONFIG_FILE: join(dataDir, 'slipway.yaml'),
  };
}

/**
 * With `TEST_REGISTRY=postgres` in the environment, each data folder `startServer` makes gets a fresh
 * PostgreSQL database (on the run's server, removed with it at the end) as its registry, instead of
 * its `registry.db`; a server started again on the folder (`localServer`, or `SLIPWAY_DATA_DIR`) finds
 * the same one. `TEST_REGISTRY=postgres npx vitest run tests/integration/…` runs a suite that way.
 */
const registries = new Map<string, string>();

export async function startServer(
  overrides: ConfigOverrides = {},
  options: { allInOne?: boolean; configYaml?: string; logger?: Logger; clock?: Clock } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-test-'));
  if (options.configYaml !== undefined) writeFileSync(join(dataDir, 'slipway.yaml'), options.configYaml);
  if (process.env.TEST_REGISTRY === 'postgres') registries.set(dataDir, (await freshDatabase()).url);
  const base = localServer(dataDir);
  const reused = registries.get(String(overrides.SLIPWAY_DATA_DIR));
  if (reused) base.SLIPWAY_REGISTRY_URI = reused;
  if (options.allInOne) delete base.SLIPWAY_ENV;
  const app = await createApp({
    overrides: { ...base, SLIPWAY_INFERENCE_WORKERS: 2, ...overrides },
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const url = await app.listen();
  const request = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' || body instanceof FormData ? body : JSON.stringify(body);
      if (body instanceof FormData) {
        // Slipway's clients name themselves on uploads (a multipart POST is otherwise a form).
        (init.headers as Record<string, string>)['x-slipway-client'] ??= 'slipway-tests';
      } else if (!('content-type' in headers)) {
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
    }
    const response = await fetch(`${url}${path}`, init);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };
  return {
    app,
    url,
    dataDir,
    request,
    async push(model, file, manifest) {
      const created = await request('POST', '/api/v1/models', { name: model });
      if (created.status !== 201 && created.status !== 409) throw new Error(`create model: ${created.text}`);
      return request('POST', `/api/v1/models/${model}/versions`, uploadForm(file, manifest));
    },
    async stop() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A multipart upload body: optional manifest field, then the file field `model`. */
export function uploadForm(file: string, manifest?: unknown): FormData {
  const form = new FormData();
  if (manifest !== undefined)
    form.set('manifest', typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  form.set('model', new Blob([readFileSync(file)]), 'model.onnx');
  return form;
}

export const penguinManifest = (): { sample: Record<string, unknown>[] } & Record<string, unknown> =>
  JSON.parse(readFileSync(join(EXAMPLE, 'manifest.json'), 'utf8'));
