import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VARIABLES } from '../../src/config/index.js';
import { ALL_ERROR_CODES } from '../../src/errors/index.js';
import { ERROR_STATUS } from '../../src/http/error-status.js';
import { ROOT } from '../helpers/server.js';

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('docs stay true to the code', () => {
  it('docs/errors.md lists every error code with its HTTP status', () => {
    const doc = read('docs/errors.md');
    const missing = ALL_ERROR_CODES.filter(
      (code) => !new RegExp(`\\|\\s*\`?${code}\`?\\s*\\|\\s*${ERROR_STATUS[code]}\\s*\\|`).test(doc),
    );
    expect(missing, 'add a row "| CODE | status | meaning | fix |" to docs/errors.md for each').toEqual([]);
  });

  it('docs/config.md and .env.example list every SLIPWAY_ variable', () => {
    const names = Object.keys(VARIABLES);
    expect(
      names.filter((name) => !read('docs/config.md').includes(name)),
      'document in docs/config.md',
    ).toEqual([]);
    expect(
      names.filter((name) => !read('.env.example').includes(name)),
      'list in .env.example',
    ).toEqual([]);
  });

  it('mentions no SLIPWAY_ variable that the code does not read', () => {
    const mentioned = new Set([...read('docs/config.md').matchAll(/SLIPWAY_[A-Z_]+/g)].map((m) => m[0]));
    expect([...mentioned].filter((name) => !(name in VARIABLES))).toEqual([]);
  });

  it('has a quickstart of exactly make demo and make test', () => {
    const readme = read('README.md');
    expect(readme).toContain('make demo');
    expect(readme).toContain('make test');
  });
});
