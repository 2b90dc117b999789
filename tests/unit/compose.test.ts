import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ConfigOverrides, compileConfig } from '../../src/config/index.js';

/**
 * deploy/compose.yaml is a valid Compose file (the Compose Specification's JSON schema, from the
 * compose-go module that Docker Compose itself uses), and what it hands Slipway is what Slipway
 * accepts: each server's environment and slipway.yaml compile with the real configuration code, and
 * Prometheus scrapes the metrics listeners the servers open.
 */
const DEPLOY = resolve(import.meta.dirname, '../../deploy');
const COMPOSE_GO = 'github.com/compose-spec/compose-go/v2@v2.4.9';

/** The schema from the Go module proxy (cached in Go's module cache after the first download). */
function composeSchema(): object {
  const json = execFileSync('go', ['mod', 'download', '-json', COMPOSE_GO], {
    cwd: mkdtempSync(join(tmpdir(), 'compose-schema-')),
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
  });
  const { Dir } = JSON.parse(json) as { Dir: string };
  // Its $schema spells draft-07's address without the trailing '#' that Ajv knows it by.
  const { $schema: _draft, ...schema } = JSON.parse(
    readFileSync(join(Dir, 'schema/compose-spec.json'), 'utf8'),
  );
  return schema;
}

// biome-ignore lint/suspicious/noExplicitAny: a Compose file is free-form YAML.
const compose: any = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true });
const slipwayServices = ['control', 'prod-1', 'prod-2'];

describe('deploy/compose.yaml', () => {
  it('is valid against the Compose Specification', () => {
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(composeSchema());
    const valid = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs a control server, two prod servers, Prometheus and Grafana, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'control',
      'grafana',
      'prod-1',
      'prod-2',
      'prometheus',
    ]);
    for (const [name, service] of Object.entries<{ healthcheck?: { test: unknown } }>(compose.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
    }
    expect(compose.services.control.command).toEqual(['serve']);
    expect(compose.services['prod-1'].command).toEqual(['serve', '--env', 'prod']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['grafana-data', 'prometheus-data', 'slipway-data']);
    // Published ports answer on the host's loopback only.
    for (const service of Object.values<{ ports?: string[] }>(compose.services)) {
      for (const port of service.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it("hands each Slipway server settings and a slipway.yaml that Slipway's configuration accepts", () => {
    for (const name of slipwayServices) {
      const service = compose.services[name];
      const mount = service.volumes.find((v: string) => v.endsWith(':/etc/slipway/slipway.yaml:ro'));
      const file = resolve(DEPLOY, mount.split(':')[0]);
      const overrides = { ...service.environment, SLIPWAY_CONFIG_FILE: file } as ConfigOverrides;
      const env = service.command.includes('--env') ? { SLIPWAY_ENV: 'prod' } : {};
      const config = compileConfig({ ...overrides, ...env }, {}, mkdtempSync(join(tmpdir(), 'compose-')));
      expect(config.host).toBe('0.0.0.0');
      expect(config.metricsPort).toBe(9464);
      expect(config.environments.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
      expect(config.allowedHosts).not.toBeNull();
    }
  });

  it('scrapes every Slipway server from Prometheus, with the rules and dashboard mounted from deploy/', () => {
    const prometheus = compose.services.prometheus;
    const mounts: string[] = prometheus.volumes.filter((v: string) => v.startsWith('./'));
    for (const mount of mounts)
      expect(existsSync(resolve(DEPLOY, mount.split(':')[0] as string)), mount).toBe(true);
    const scrape = parse(readFileSync(join(DEPLOY, 'compose/prometheus/prometheus.yml'), 'utf8'));
    expect(scrape.scrape_configs[0].job_name).toBe('slipway');
    expect(scrape.scrape_configs[0].static_configs[0].targets).toEqual(
      slipwayServices.map((s) => `${s}:9464`),
    );
    for (const mount of compose.services.grafana.volumes.filter((v: string) => v.startsWith('./'))) {
      expect(existsSync(resolve(DEPLOY, mount.split(':')[0])), mount).toBe(true);
    }
  });
});
