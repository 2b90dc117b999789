import { createReadStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../app.js';
import type { Manifest } from '../domain/manifest.js';
import { isSlipwayError } from '../errors/index.js';

export const DEMO_MODEL = 'penguin-species';
const DEMO_CONTEXT = { actor: { name: 'demo', role: 'admin' }, requestId: null } as const;
const EXAMPLE = fileURLToPath(new URL('../../examples/penguin-species/', import.meta.url));

/** The example model's manifest (its `sample` rows make the demo's curl). */
export function demoManifest(): Manifest & { sample: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(join(EXAMPLE, 'manifest.json'), 'utf8'));
}

/**
 * Brings the demo registry to its story: penguin-species version 1 pushed (it auto-deploys to dev),
 * the `validation` dataset registered, then version 1 promoted through every later environment
 * (staging, then prod with its typed confirmation and approval). Each step is skipped when a
 * previous run already did it, so the demo restarts on the same data folder.
 */
export async function prepareDemo(app: App): Promise<void> {
  const { registry, deployments } = app;
  const existing = await registry.store.listModels({ search: DEMO_MODEL });
  if (!existing.items.some((m) => m.name === DEMO_MODEL)) {
    await registry.createModel(
      { name: DEMO_MODEL, description: 'Palmer penguins species classifier' },
      DEMO_CONTEXT,
    );
  }
  const versions = await registry.store.listVersions({ model: DEMO_MODEL, status: 'READY', limit: 1 });
  if (versions.items.length === 0) {
    await registry.pushVersion(
      DEMO_MODEL,
      createReadStream(join(EXAMPLE, 'model.onnx')),
      { manifest: demoManifest() },
      DEMO_CONTEXT,
    );
  }
  const dataset = await deployments.store.getDataset(DEMO_MODEL, 'validation').catch((error: unknown) => {
    if (isSlipwayError(error) && error.code === 'NOT_FOUND') return null;
    throw error;
  });
  if (!dataset) {
    await deployments.putDataset(
      { model: DEMO_MODEL, name: 'validation', label: 'species', rows: penguinRows() },
      DEMO_CONTEXT,
    );
  }
  for (const policy of deployments.environments()) {
    if (await deployments.store.currentRevision(DEMO_MODEL, policy.name)) continue;
    // A run stopped between the request and its approval left the promotion waiting: approve that one.
    const waiting = await deployments.store.listPromotions({
      model: DEMO_MODEL,
      environment: policy.name,
      status: ['AWAITING_APPROVAL'],
      limit: 1,
    });
    const promotion =
      waiting.items[0] ??
      (await deployments.promote(
        {
          model: DEMO_MODEL,
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

/**
 * The Palmer penguins from vega-datasets, renamed to the model's inputs, labelled by `species`.
 * The package's exports hide its data folder from import and require, so the file is read by path.
 */
function penguinRows(): Record<string, unknown>[] {
  const main = createRequire(import.meta.url).resolve('vega-datasets');
  const file = join(dirname(main), '..', 'data', 'penguins.json');
  const penguins = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string | number | null>[];
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
