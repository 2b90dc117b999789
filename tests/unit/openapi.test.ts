import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateOpenApi } from '../../scripts/openapi.js';
import { ROOT } from '../helpers/server.js';

it('docs/openapi.json is what the route schemas generate (run `npm run openapi` to refresh it)', async () => {
  const committed = readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8');
  expect(await generateOpenApi()).toBe(committed);
});
