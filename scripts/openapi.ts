/**
 * Writes docs/openapi.json from the route schemas. A test fails when the committed file differs from
 * what the code generates; run `npm run openapi` after changing a route.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.js';

export async function generateOpenApi(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slipway-openapi-'));
  const app = await createApp({
    overrides: { SLIPWAY_DATA_DIR: dataDir, SLIPWAY_LOG_LEVEL: 'silent', SLIPWAY_INFERENCE_WORKERS: 1 },
  });
  try {
    await app.http.ready();
    return `${JSON.stringify(app.http.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/openapi.json', import.meta.url), await generateOpenApi());
}
