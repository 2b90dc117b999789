import cluster from 'node:cluster';
import { accessSync, constants, statSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import type { App } from '../app.js';
import type { ConfigOverrides } from '../config/index.js';
import type { WireModelMetadata, WirePredictResponse } from '../http/wire/inference.js';
import type {
  WireAliasResult,
  WireModel,
  WireModelPage,
  WireVersion,
  WireVersionPage,
} from '../http/wire/models.js';
import { buildInfo, SLIPWAY_VERSION } from '../version.js';
import { ApiClient, ApiError } from './api-client.js';
import { versionOf } from './arguments.js';
import type { CliContext } from './cli-context.js';
import { clientSettings } from './client-settings.js';
import { addAuditCommands } from './commands/audit-commands.js';
import { addDatasetCommands } from './commands/dataset-commands.js';
import { addDeploymentCommands } from './commands/deployment-commands.js';
import { addDriftCommands } from './commands/drift-commands.js';
import { addJobCommands } from './commands/job-commands.js';
import { addTokenCommands } from './commands/token-commands.js';
import { EXIT, exitCodeFor, UsageError } from './exit-codes.js';
import { createOutput, type Output, table } from './output.js';
import { readInput, readRows } from './rows.js';

/** The server takes a manifest form field of at most 4 MiB. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

const program = new Command('slipway')
  .description('Slipway: register ONNX models, serve them, and keep them healthy in production.')
  // Only -V is the program's option: `--version <n>` belongs to commands that take a version
  // (`slipway drift <model> --version 2`), and `main` answers a lone `slipway --version` itself.
  .version(SLIPWAY_VERSION, '-V', 'output the version number (also --version)')
  .addOption(
    new Option(
      '--server <url>',
      'Slipway server URL (default: $SLIPWAY_SERVER, else http://127.0.0.1:$SLIPWAY_PORT, port 8080 by default)',
    ),
  )
  .addOption(new Option('--token <token>', 'API token to send (default: $SLIPWAY_TOKEN)'))
  .option('--json', 'print one JSON document instead of text')
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
const output = (): Output => createOutput(globals().json === true);
const client = (): ApiClient => {
  const { server, token } = clientSettings(globals());
  return new ApiClient(server, token);
};
const cli: CliContext = { output, client };

program
  .command('version')
  .description(
    'the version of this slipway, the git revision and time it was built, and the Node.js it runs on',
  )
  .action(() => {
    const info = buildInfo();
    output().result(
      {
        version: info.version,
        revision: info.revision,
        built_at: info.builtAt,
        node: info.node,
        platform: info.platform,
      },
      () =>
        `slipway ${info.version} (revision ${info.revision ?? 'unknown'}, built ${info.builtAt ?? 'from sources'}) on Node.js ${info.node}, ${info.platform}`,
    );
  });

program
  .command('serve')
  .description('start the server (registry, artifacts, inference) in this process')
  .option('--host <host>', 'interface to listen on (default $SLIPWAY_HOST or 127.0.0.1)')
  .option('--port <port>', 'port to listen on (default $SLIPWAY_PORT or 8080)')
  .option(
    '--data-dir <dir>',
    'folder for the SQLite registry and artifacts (default $SLIPWAY_DATA_DIR or ./.slipway)',
  )
  .option(
    '--env <env>',
    'serve only this environment (default $SLIPWAY_ENV, or all of them: each under /envs/<env>, the last at the plain paths)',
  )
  .action(async (options: { host?: string; port?: string; dataDir?: string; env?: string }) => {
    // The server's code loads only for the commands that run one, so every other command starts fast.
    const { serve } = await import('../cluster.js');
    const { url, grpc, app } = await serve(overridesFrom(options));
    if (app) stopOnSignals(app);
    // In a cluster, only the primary (which holds no app) reports the address.
    if (app && cluster.isWorker) return;
    output().result(
      { url, ...(grpc ? { grpc } : {}) },
      () =>
        `Slipway ${SLIPWAY_VERSION} listening on ${url} (API docs: ${url}/docs)${grpc ? `; gRPC (Open Inference Protocol) on ${grpc}` : ''}`,
    );
  });

program
  .command('demo')
  .description(
    'start a local server (no tokens) with the example model promoted dev -> staging -> prod, and print how to call it',
  )
  .option('--port <port>', 'port to listen on (default $SLIPWAY_PORT or 8080)')
  .option('--data-dir <dir>', 'data folder (default $SLIPWAY_DATA_DIR or ./.slipway)')
  .option(
    '--cluster',
    'run it scaled out: PostgreSQL, MinIO, replicas and HAProxy on --port, all in a temporary folder (from a checkout)',
  )
  .option('--replicas <count>', 'with --cluster: how many replicas (default 3)')
  .action(async (options: { port?: string; dataDir?: string; cluster?: boolean; replicas?: string }) => {
    if (options.cluster) return demoCluster(options);
    if (options.replicas !== undefined) throw new UsageError('--replicas goes with --cluster.');
    // Local mode: the demo is for trying Slipway on this machine, so no tokens are needed.
    const app = await start({ ...overridesFrom(options), SLIPWAY_AUTH: 'off' });
    const { demoSummary, demoText, prepareDemo } = await import('./demo.js');
    const run = await prepareDemo(app);
    const url = app.url();
    const summary = demoSummary({
      url,
      environments: app.deployments
        .environments()
        .map((e) => e.name)
        .filter((name) => app.config.environment === null || name === app.config.environment),
      defaultEnvironment: app.config.defaultEnvironment,
      run,
    });
    output().result(summary, () =>
      demoText(
        summary,
        [
          `Slipway ${SLIPWAY_VERSION} demo is running in local mode, no tokens needed (Ctrl-C stops it).`,
          `  console   ${url}/`,
          `  API docs  ${url}/docs`,
          `  health    ${url}/health`,
        ],
        "the data folder's warehouse.duckdb",
      ),
    );
  });

const models = program.command('models').description('register and inspect models and versions');

models
  .command('push')
  .description('upload an ONNX file as the next version of a model (the model is created if absent)')
  .argument('<file>', 'the ONNX file')
  .option('--name <model>', 'model name (default: the manifest\'s "model")')
  .option('--manifest <file>', 'manifest JSON: metrics, lineage, nullable inputs, sample rows')
  .option('--description <text>', 'what changed in this version')
  .action(async (file: string, options: { name?: string; manifest?: string; description?: string }) => {
    const out = output();
    readableFile(file);
    const manifestText =
      options.manifest === undefined ? undefined : await readInput(options.manifest, MAX_MANIFEST_BYTES);
    const name = options.name ?? (manifestText ? manifestModel(options.manifest!, manifestText) : undefined);
    if (!name) throw new UsageError('Name the model with --name (or a manifest with a "model" field).');
    const api = client();
    await api.post('/api/v1/models', { name }).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.code === 'ALREADY_EXISTS')) throw error;
    });
    const bar =
      out.json || !process.stderr.isTTY
        ? undefined
        : new SingleBar({ format: 'uploading [{bar}] {percentage}% {value}/{total} bytes' });
    const fields: Record<string, string> = {};
    if (manifestText !== undefined) fields.manifest = manifestText;
    if (options.description !== undefined) fields.description = options.description;
    let started = false;
    const version = await api
      .upload<WireVersion>(
        `/api/v1/models/${encodeURIComponent(name)}/versions`,
        file,
        fields,
        (sent, total) => {
          if (!bar) return;
          if (!started) bar.start(total, 0);
          started = true;
          bar.update(sent);
        },
      )
      .finally(() => bar?.stop());
    out.result(
      version,
      () =>
        `Registered ${version.model} version ${version.version} (${version.status}, sha256 ${version.sha256.slice(0, 12)}…, ${version.size_bytes} bytes).`,
    );
  });

models
  .command('ls')
  .description('list models')
  .option('--search <text>', 'only models whose name contains this')
  .action(async (options: { search?: string }) => {
    const query = options.search ? `?search=${encodeURIComponent(options.search)}` : '';
    const page = await client().get<WireModelPage>(`/api/v1/models${query}`);
    output().result(page, () =>
      page.models.length === 0
        ? 'No models yet. Push one with: slipway models push model.onnx --name my-model'
        : table(
            ['MODEL', 'LATEST', 'ALIASES', 'UPDATED'],
            page.models.map((m) => [m.name, m.latest_version, aliasList(m.aliases), m.updated_at]),
          ),
    );
  });

models
  .command('show')
  .description("show a model and its versions, or one version's details")
  .argument('<model>', 'model name')
  .argument('[version]', 'a version number, to show that version in detail')
  .action(async (name: string, number: string | undefined) => {
    const api = client();
    if (number !== undefined) {
      const version = await api.get<WireVersion>(
        `/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(number)}`,
      );
      output().result(version, () => describeVersion(version));
      return;
    }
    const model = await api.get<WireModel>(`/api/v1/models/${encodeURIComponent(name)}`);
    const page = await api.get<WireVersionPage>(`/api/v1/models/${encodeURIComponent(name)}/versions`);
    output().result({ model, versions: page.versions }, () =>
      [
        `${model.name}${model.description ? `: ${model.description}` : ''}`,
        `aliases: ${aliasList(model.aliases) || '-'}`,
        '',
        table(
          ['VERSION', 'STATUS', 'ALIASES', 'METRICS', 'SIZE', 'CREATED'],
          page.versions.map((v) => [
            v.version,
            v.status,
            v.aliases.join(','),
            metricList(v.metrics),
            v.size_bytes,
            v.created_at,
          ]),
        ),
      ].join('\n'),
    );
  });

const alias = program
  .command('alias')
  .description(
    'move named pointers to versions (labels only: environments decide what serves, see deploy and promote)',
  );
alias
  .command('set')
  .argument('<model>')
  .argument('<alias>')
  .argument('<version>')
  .description('point an alias at a version')
  .action(async (model: string, name: string, version: string) => {
    const number = versionOf(version);
    const result = await client().put<WireAliasResult>(
      `/api/v1/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(name)}`,
      { version: number },
    );
    output().result(
      result,
      () =>
        `${model}@${name} -> version ${number}${result.previous_version === null ? '' : ` (was ${result.previous_version})`}`,
    );
  });
alias
  .command('delete')
  .argument('<model>')
  .argument('<alias>')
  .description('delete an alias')
  .action(async (model: string, name: string) => {
    await client().delete(`/api/v1/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(name)}`);
    output().result({ model, alias: name, deleted: true }, () => `Deleted ${model}@${name}.`);
  });

program
  .command('predict')
  .description('predict rows from a CSV or JSON file ("-" reads standard input)')
  .argument('<model>', 'model name')
  .argument('<file>', 'rows: CSV with a header, a JSON array of rows, or {"instances": [...]}')
  .action(async (model: string, file: string) => {
    const api = client();
    const rows = await readRows(
      file,
      async () => (await api.get<WireModelMetadata>(`/v2/models/${encodeURIComponent(model)}`)).inputs,
    );
    const result = await api.post<WirePredictResponse>(`/v1/models/${encodeURIComponent(model)}:predict`, {
      instances: rows,
    });
    output().result(result, () => {
      const columns = Object.keys(result.predictions[0] ?? {});
      return table(
        ['ROW', ...columns.map((c) => c.toUpperCase())],
        result.predictions.map((p, i) => [i + 1, ...columns.map((c) => format(p[c]))]),
      );
    });
  });

addDeploymentCommands(program, cli);
addDatasetCommands(program, cli);
addDriftCommands(program, cli);
addJobCommands(program, cli);
addAuditCommands(program, cli);
addTokenCommands(program, cli);

/**
 * `slipway demo --cluster`: the demo on replicas behind HAProxy (src/cli/local-cluster.ts), the first
 * replica preparing it exactly as `slipway demo` does. Ctrl-C or SIGTERM stops everything it started.
 */
async function demoCluster(options: { port?: string; dataDir?: string; replicas?: string }): Promise<void> {
  if (options.dataDir !== undefined) {
    throw new UsageError("--cluster keeps every replica's data in a temporary folder: leave out --data-dir.");
  }
  const replicas = options.replicas === undefined ? 3 : Number(options.replicas);
  const { compileConfig } = await import('../config/index.js');
  const { port } = compileConfig(overridesFrom({ ...(options.port ? { port: options.port } : {}) }));
  const { startLocalCluster } = await import('./local-cluster.js');
  const { demoSummary, demoText } = await import('./demo.js');
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const aborted = new AbortController();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while it stops changes nothing: leaving now would leave servers running.
    if (stopping) return;
    stopping = true;
    progress(`${signal}: stopping the load balancer, the replicas, MinIO and PostgreSQL`);
    aborted.abort();
    void cluster?.stop().finally(() => process.exit(EXIT.OK));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
  process.on('exit', () => cluster?.stopNow());
  try {
    cluster = await startLocalCluster({ replicas, port, demo: true, progress, signal: aborted.signal });
  } catch (error) {
    // Ctrl-C while it started: what had started is stopped already.
    if (aborted.signal.aborted) process.exit(EXIT.OK);
    throw error;
  }
  const printed = cluster.demo!;
  const url = cluster.url;
  const summary = demoSummary({
    url,
    environments: Object.keys(printed.predict),
    defaultEnvironment: printed.default_environment,
    run: { seq: printed.job.run, logicalDate: printed.job.logical_date },
  });
  const width = Math.max(...cluster.replicas.map((r) => r.name.length), 'load balancer'.length);
  const line = (label: string, value: string) => `  ${label.padEnd(width)}  ${value}`;
  output().result(
    {
      ...summary,
      replicas: cluster.replicas.map((r) => ({ name: r.name, url: r.url, pid: r.pid })),
      registry: cluster.registryUri,
      artifacts: cluster.artifactUri,
      s3_endpoint: cluster.bucket.endpoint,
    },
    () =>
      [
        demoText(
          summary,
          [
            `Slipway ${SLIPWAY_VERSION} demo is running on ${cluster.replicas.length} replicas behind HAProxy, in local mode, no tokens needed (Ctrl-C stops it all).`,
            line('load balancer', `${url} (round-robin; x-slipway-replica names the replica that answered)`),
            line('API docs', `${url}/docs`),
            ...cluster.replicas.map((r) => line(r.name, `${r.url} (pid ${r.pid})`)),
            line('registry', cluster.registryUri),
            line('artifacts', `${cluster.artifactUri} on MinIO at ${cluster.bucket.endpoint}`),
          ],
          'the warehouse.duckdb of the data folder of the replica that runs it',
        ),
        `Stop a replica (kill -9 <pid>): HAProxy takes it out within 2 s and the others answer.`,
        '',
      ].join('\n'),
  );
}

async function start(overrides: ConfigOverrides) {
  const { createApp } = await import('../app.js');
  const app = await createApp({ overrides });
  await app.listen();
  stopOnSignals(app);
  return app;
}

function stopOnSignals(app: App): void {
  // A second signal while closing changes nothing: Ctrl-C reaches every process of the group, and
  // an HTTP process of a cluster then hears from its primary too.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    app.logger.info('shutting down');
    void app.close().then(() => process.exit(EXIT.OK));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function overridesFrom(options: {
  host?: string;
  port?: string;
  dataDir?: string;
  env?: string;
}): ConfigOverrides {
  return {
    ...(options.host !== undefined ? { SLIPWAY_HOST: options.host } : {}),
    ...(options.port !== undefined ? { SLIPWAY_PORT: options.port } : {}),
    ...(options.dataDir !== undefined ? { SLIPWAY_DATA_DIR: options.dataDir } : {}),
    ...(options.env !== undefined ? { SLIPWAY_ENV: options.env } : {}),
  };
}

/** Refuses, before anything is sent, a model file that is missing, unreadable or not a regular file. */
function readableFile(file: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  if (!statSync(file).isFile()) {
    throw new UsageError(`${file} is not a file; expected the ONNX file of the version to push.`);
  }
}

/** The manifest's `model` field, if it names one. */
function manifestModel(file: string, text: string): string | undefined {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const model = (manifest as { model?: unknown } | null)?.model;
  return typeof model === 'string' ? model : undefined;
}

function describeVersion(v: WireVersion): string {
  const tensors = (list: WireVersion['signature']['inputs']) =>
    list.map((t) => `    ${t.name}  ${t.datatype} [${t.shape.join(', ')}]`).join('\n');
  return [
    `${v.model} version ${v.version} (${v.status})${v.aliases.length ? `  aliases: ${v.aliases.join(', ')}` : ''}`,
    v.description ? `  ${v.description}` : '',
    `  sha256   ${v.sha256}`,
    `  size     ${v.size_bytes} bytes`,
    `  created  ${v.created_at} by ${v.lineage.uploader}`,
    `  metrics  ${metricList(v.metrics) || '-'}`,
    '  inputs',
    tensors(v.signature.inputs),
    '  outputs',
    tensors(v.signature.outputs),
  ]
    .filter((line) => line !== '')
    .join('\n');
}

const aliasList = (aliases: Record<string, number>) =>
  Object.entries(aliases)
    .map(([name, version]) => `${name}=${version}`)
    .join(', ');
const metricList = (metrics: Record<string, number>) =>
  Object.entries(metrics)
    .map(([name, value]) => `${name}=${Number(value.toFixed(4))}`)
    .join(' ');
const format = (value: unknown) =>
  Array.isArray(value)
    ? value.map((v) => (typeof v === 'number' ? Number(v.toFixed(4)) : v)).join(' ')
    : value;

export async function main(argv: string[]): Promise<void> {
  if (argv.length === 3 && argv[2] === '--version') {
    process.stdout.write(`${SLIPWAY_VERSION}\n`);
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    const code = exitCodeFor(error);
    const json = globals().json === true;
    const apiError = error instanceof ApiError ? error : undefined;
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: (error as Error).message, code: apiError?.code ?? (error as Error).name, request_id: apiError?.requestId, details: apiError?.details ?? undefined }, null, 2)}\n`,
      );
    } else {
      process.stderr.write(`error: ${(error as Error).message}${apiError ? ` [${apiError.code}]` : ''}\n`);
    }
    process.exitCode = code;
  }
}
