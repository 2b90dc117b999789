import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/index.js';

const empty = () => mkdtempSync(join(tmpdir(), 'slipway-config-'));

describe('config', () => {
  it('has safe defaults: loopback only, data under ./.slipway', () => {
    const cwd = empty();
    const config = compileConfig({}, {}, cwd);
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: join(cwd, '.slipway') });
    expect(config.registryUri).toBe(`sqlite:${join(cwd, '.slipway', 'registry.db')}`);
    expect(config.artifactUri).toBe(`file:${join(cwd, '.slipway', 'artifacts')}`);
    expect(config.inferenceWorkers).toBeGreaterThanOrEqual(1);
  });

  it('takes overrides over the environment over .env over defaults', () => {
    const cwd = empty();
    writeFileSync(join(cwd, '.env'), 'SLIPWAY_PORT=7000\nSLIPWAY_LOG_LEVEL=debug\nSLIPWAY_HOST=10.0.0.1\n');
    const config = compileConfig({ SLIPWAY_HOST: '0.0.0.0' }, { SLIPWAY_PORT: '7100' }, cwd);
    expect(config).toMatchObject({ host: '0.0.0.0', port: 7100, logLevel: 'debug' });
  });

  it.each([
    ['SLIPWAY_PORT', 'eighty'],
    ['SLIPWAY_PORT', '70000'],
    ['SLIPWAY_MAX_UPLOAD_BYTES', '-1'],
    ['SLIPWAY_INFERENCE_WORKERS', '0'],
    ['SLIPWAY_LOG_LEVEL', 'loud'],
  ])('refuses %s=%s at boot, naming the variable', (name, value) => {
    expect(() => compileConfig({}, { [name]: value }, empty())).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: name } }),
    );
  });
});
