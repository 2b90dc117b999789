import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { artifactStoreForUri } from './artifacts/artifact-store-for-uri.js';
import { type Config, type ConfigOverrides, compileConfig } from './config/index.js';
import { SlipwayError } from './errors/index.js';
import { buildHttpServer } from './http/server.js';
import { RegistryService } from './registry/registry-service.js';
import { registryStoreForUri } from './registry/store-for-uri.js';
import { OnnxInferenceRuntime } from './runtime/onnx/onnx-inference-runtime.js';
import { DataPlane } from './serving/data-plane.js';
import { ModelHost } from './serving/model-host.js';
import { AliasOrLatestResolver } from './serving/version-resolver.js';
import { SLIPWAY_VERSION } from './version.js';

/** A running Slipway: its parts, and how to stop it. */
export interface App {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly registry: RegistryService;
  readonly dataPlane: DataPlane;
  readonly logger: Logger;
  /** The URL the server listens on, once `listen` has resolved. */
  url(): string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  readonly overrides?: ConfigOverrides;
  readonly logger?: Logger;
}

/**
 * The composition root: the only place that knows concrete classes. Start-up order is config ->
 * stores (migrated, crash leftovers cleaned) -> inference workers -> services -> HTTP; shutdown is the
 * reverse, so no request meets a closed store.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<App> {
  const config = compileConfig(options.overrides);
  // Logs go to stderr as JSON lines, so stdout stays free for command output (`slipway serve --json`).
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { service: 'slipway' } }, pino.destination(2));

  const store = registryStoreForUri(config.registryUri);
  await store.migrate();
  const artifacts = artifactStoreForUri(config.artifactUri);
  const leftovers = await artifacts.cleanupStaging();
  const abandoned = await store.failPendingVersions('the server stopped before the upload completed');
  if (leftovers + abandoned > 0) logger.warn({ leftovers, abandoned }, 'cleaned up interrupted uploads');

  const runtime = new OnnxInferenceRuntime({
    workers: config.inferenceWorkers,
    inferenceTimeoutMs: config.inferenceTimeoutMs,
    logger,
  });
  await runtime.started();
  const host = new ModelHost({
    runtime,
    artifacts,
    maxLoaded: config.maxLoadedVersions,
    warmupTimeoutMs: Math.max(config.inferenceTimeoutMs, 60_000),
    logger,
  });
  const dataPlane = new DataPlane({
    registry: store,
    host,
    resolver: new AliasOrLatestResolver(store),
    logger,
  });
  const registry = new RegistryService({
    store,
    artifacts,
    gate: {
      inspect: (bytes) => runtime.inspect(bytes),
      prepare: (bytes, model) => host.prepare(bytes, model),
    },
    maxUploadBytes: config.maxUploadBytes,
    serving: {
      preload: (model, version) => dataPlane.preload(model, version),
      refresh: (model) => dataPlane.refresh(model),
    },
    logger,
  });

  let ready = false;
  const http = await buildHttpServer(
    { config, registry, dataPlane, version: SLIPWAY_VERSION, isReady: () => ready },
    logger,
  );
  let address = '';
  const close = async () => {
    await http.close();
    await runtime.close();
    await store.close();
  };

  return {
    config,
    http,
    registry,
    dataPlane,
    logger,
    url: () => address,
    async listen() {
      try {
        address = await http.listen({ host: config.host, port: config.port });
      } catch (error) {
        await close();
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new SlipwayError(
            'UNAVAILABLE',
            `Port ${config.port} on ${config.host} is already in use; choose another with --port or SLIPWAY_PORT.`,
          );
        }
        throw error;
      }
      // Models load after the port opens, so liveness answers at once; readiness waits for them.
      void dataPlane.start().finally(() => {
        ready = true;
      });
      return address;
    },
    close,
  };
}
