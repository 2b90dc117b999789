import { createReadStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../app.js';
import type { Manifest } from '../domain/manifest.js';
import type { JobRun, JobSpec } from '../jobs/job.js';

export const DEMO_MODEL = 'penguin-species';
export const DEMO_JOB = 'flight-delay-prod';
/** The last day in the flights file: the demo scores it at once, so the table has a partition. */
export const DEMO_JOB_DATE = '2001-06-30';
const DEMO_CONTEXT = { actor: { name: 'demo', role: 'admin' }, requestId: null } as const;
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** The vega-datasets data folder. The package's exports hide it from import and require: read by path. */
const VEGA_DATA = join(dirname(createRequire(import.meta.url).resolve('vega-datasets')), '..', 'data');

/** An example model's manifest (the penguins' `sample` rows make the demo's curl). */
export function demoManifest(model = DEMO_MODEL): Manifest & { sample: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(join(EXAMPLES, model, 'manifest.json'), 'utf8'));
}

/**
 * The daily batch job of the demo: score one day of flights from the Parquet file in vega-datasets,
 * with the version prod serves, into the DuckDB warehouse table `flight_delay_scores`, one partition
 * per logical date. The features are derived in the query. The source is the vega-datasets folder as
 * a `files:` warehouse, the one folder its query may read.
 */
export function demoJob(): JobSpec {
  const flights = join(VEGA_DATA, 'flights-3m.parquet').replaceAll("'", "''");
  return {
    name: DEMO_JOB,
    description: 'Every night, the chance that each of the day’s flights leaves more than 15 minutes late.',
    model: 'flight-delay',
    environment: 'prod',
    source: {
      warehouse: `files:${VEGA_DATA}`,
      query: [
        'SELECT date, origin, destination, distance, delay,',
        '       hour(date) AS hour, dayofweek(date) AS weekday, month(date) AS month',
        `FROM read_parquet('${flights}')`,
        'WHERE CAST(date AS DATE) = {{ logical_date }}',
      ].join('\n'),
    },
    sink: { warehouse: 'default', table: 'flight_delay_scores' },
    write_mode: 'replace_partition',
    schedule: '0 2 * * *',
    timezone: 'UTC',
  };
}

/**
 * Brings the demo registry to its story: penguin-species and flight-delay version 1 pushed (each
 * auto-deploys to dev), the penguins' `validation` dataset registered, both promoted through every
 * later environment (staging, then prod with its typed confirmation and approval), and the daily job
 * `flight-delay-prod` declared with one day scored. Each step is skipped when a previous run already
 * did it, so the demo restarts on the same data folder. Returns the demo run of the job.
 */
export async function prepareDemo(app: App): Promise<JobRun> {
  await prepareModel(app, DEMO_MODEL, 'Palmer penguins species classifier');
  await prepareModel(app, 'flight-delay', 'Will a flight leave more than 15 minutes late?');
  const { deployments, jobs } = app;
  const dataset = await deployments.findDataset(DEMO_MODEL, 'validation');
  if (!dataset) {
    await deployments.putDataset(
      { model: DEMO_MODEL, name: 'validation', label: 'species', rows: penguinRows() },
      DEMO_CONTEXT,
    );
  }
  await promoteEverywhere(app, DEMO_MODEL);
  await promoteEverywhere(app, 'flight-delay');
  await jobs.putJob(demoJob(), DEMO_CONTEXT);
  const ran = (await jobs.listRuns(DEMO_JOB, { limit: 1 })).items[0];
  return ran ?? jobs.trigger(DEMO_JOB, DEMO_JOB_DATE, DEMO_CONTEXT);
}

async function prepareModel(app: App, model: string, description: string): Promise<void> {
  const { registry } = app;
  const existing = await registry.listModels({ search: model });
  if (!existing.items.some((m) => m.name === model)) {
    await registry.createModel({ name: model, description }, DEMO_CONTEXT);
  }
  const versions = await registry.listVersions({ model, status: 'READY', limit: 1 });
  if (versions.items.length === 0) {
    await registry.pushVersion(
      model,
      createReadStream(join(EXAMPLES, model, 'model.onnx')),
      { manifest: demoManifest(model) },
      DEMO_CONTEXT,
    );
  }
}

async function promoteEverywhere(app: App, model: string): Promise<void> {
  const { deployments } = app;
  for (const policy of deployments.environments()) {
    const deployed = await deployments.currentRevisions(policy.name);
    if (deployed.some((revision) => revision.model === model)) continue;
    // A run stopped between the request and its approval left the promotion waiting: approve that one.
    const waiting = await deployments.listPromotions({
      model,
      environment: policy.name,
      status: ['AWAITING_APPROVAL'],
      limit: 1,
    });
    const promotion =
      waiting.items[0] ??
      (await deployments.promote(
        {
          model,
          version: 1,
          environment: policy.name,
          reason: 'demo',
          ...(policy.confirm ? { confirm: policy.name } : {}),
        },
        DEMO_CONTEXT,
      ));
    if (promotion.status === 'AWAITING_APPROVAL') {
      await deployments.approve(promotion.id, 'demo', DEMO_CONTEXT);
    }
  }
}

/** The Palmer penguins from vega-datasets, renamed to the model's inputs, labelled by `species`. */
export function penguinRows(): Record<string, unknown>[] {
  const penguins = JSON.parse(readFileSync(join(VEGA_DATA, 'penguins.json'), 'utf8')) as Record<
    string,
    string | number | null
  >[];
  return penguins.map((p) => {
    const sex = typeof p.Sex === 'string' ? p.Sex.toLowerCase() : null;
    return {
      island: p.Island,
      sex: sex === 'female' || sex === 'male' ? sex : null,
      bill_length_mm: p['Beak Length (mm)'],
      bill_depth_mm: p['Beak Depth (mm)'],
      flipper_length_mm: p['Flipper Length (mm)'],
      body_mass_g: p['Body Mass (g)'],
      species: p.Species,
    };
  });
}

/** What a running demo is made of, wherever it runs: one server, or replicas behind a load balancer. */
export interface DemoFacts {
  /** Where clients call it: the server, or the load balancer in front of the replicas. */
  readonly url: string;
  /** The environments served, in promotion order. */
  readonly environments: readonly string[];
  /** The environment the plain paths (no `/envs/<env>` prefix) serve. */
  readonly defaultEnvironment: string;
  /** The demo run of the batch job. */
  readonly run: { readonly seq: number; readonly logicalDate: string };
}

/** What `slipway demo` prints: the addresses, a curl that predicts, and the job's commands (`--json` prints it as is). */
export interface DemoSummary {
  readonly url: string;
  readonly console: string;
  readonly docs: string;
  readonly default_environment: string;
  readonly predict: Record<string, string>;
  readonly curl: string;
  readonly status: string;
  readonly job: {
    readonly name: string;
    readonly run: number;
    readonly logical_date: string;
    readonly table: string;
    readonly runs: string;
    readonly backfill: string;
  };
}

export function demoSummary(facts: DemoFacts): DemoSummary {
  const { url, run } = facts;
  const predict = Object.fromEntries(
    facts.environments.map((env) => [env, `${url}/envs/${env}/v1/models/${DEMO_MODEL}:predict`]),
  );
  const body = JSON.stringify({ instances: demoManifest().sample.slice(0, 2) });
  return {
    url,
    console: `${url}/`,
    docs: `${url}/docs`,
    default_environment: facts.defaultEnvironment,
    predict,
    curl: `curl -s -X POST ${url}/v1/models/${DEMO_MODEL}:predict -H 'content-type: application/json' -d '${body}'`,
    status: `slipway --server ${url} status`,
    job: {
      name: DEMO_JOB,
      run: run.seq,
      logical_date: run.logicalDate,
      table: demoJob().sink.table,
      runs: `slipway --server ${url} jobs runs ${DEMO_JOB}`,
      backfill: `slipway --server ${url} jobs backfill ${DEMO_JOB} --from 2001-06-01 --to 2001-06-07`,
    },
  };
}

/**
 * The demo's text: `heading` (what runs where) first, then what was promoted where, the curl, and the
 * batch job. `warehouse` says where the job's DuckDB file lives.
 */
export function demoText(summary: DemoSummary, heading: readonly string[], warehouse: string): string {
  const { job } = summary;
  return [
    '',
    ...heading,
    '',
    `${DEMO_MODEL} version 1 went through every environment's gates (prod: confirmed and approved):`,
    ...Object.entries(summary.predict).map(([env, address]) => `  ${env.padEnd(8)}  ${address}`),
    '',
    `Predict the species of two penguins (the plain paths serve ${summary.default_environment}):`,
    `  ${summary.curl}`,
    '',
    `What serves where, and the revisions: ${summary.status}`,
    '',
    `Batch job ${DEMO_JOB} (daily at 02:00 UTC) scores a day of flights from vega-datasets'`,
    `flights-3m.parquet with the flight-delay version prod serves, into the DuckDB table ${job.table}`,
    `(one partition per date, in ${warehouse}). Run #${job.run} scores ${job.logical_date}:`,
    `  ${job.runs}`,
    `  ${job.backfill}`,
    '',
  ].join('\n');
}
