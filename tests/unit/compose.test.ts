import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { allowsHost, type ConfigOverrides, compileConfig } from '../../src/config/index.js';

/**
 * deploy/compose.yaml is a valid Compose file (the Compose Specification's JSON schema, from the
 * compose-go module that Docker Compose itself uses), and what it hands Slipway is what Slipway
 * accepts: each server's environment and slipway.yaml compile with the real configuration code, every
 * server uses the PostgreSQL registry and the S3 bucket of the stack, services wait for what they need to
 * be healthy, and Prometheus scrapes the metrics listeners the servers open.
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
const oneShot = 's3-init';
/** What `docker compose` makes of `${VAR:?message}` and `${VAR:-default}`, with test values for the secrets. */
const composeVariables: Record<string, string> = {
  POSTGRES_PASSWORD: 'pg-secret',
  S3_SECRET_KEY: 's3-secret-key',
};
const interpolate = (text: string): string =>
  text.replace(/\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
    const value = composeVariables[name] ?? fallback;
    if (value === undefined) throw new Error(`${name} is not set`);
    return value;
  });

describe('deploy/compose.yaml', () => {
  it('is valid against the Compose Specification', () => {
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(composeSchema());
    const valid = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs a control server, two prod servers, PostgreSQL, S3, Prometheus and Grafana, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'control',
      'grafana',
      'postgres',
      'prod-1',
      'prod-2',
      'prometheus',
      's3',
      's3-init',
    ]);
    for (const [name, service] of Object.entries<{ healthcheck?: { test: unknown } }>(compose.services)) {
      // The one-shot bucket maker exits; the services that wait for it wait for its success instead.
      if (name === oneShot) continue;
      expect(service.healthcheck?.test, name).toBeDefined();
    }
    expect(compose.services[oneShot].restart).toBe('no');
    expect(compose.services.control.command).toEqual(['serve']);
    expect(compose.services['prod-1'].command).toEqual(['serve', '--env', 'prod']);
    expect(compose.services['prod-2'].command).toEqual(['serve', '--env', 'prod']);
    expect(Object.keys(compose.volumes).sort()).toEqual([
      'grafana-data',
      'postgres-data',
      'prometheus-data',
      's3-data',
      'slipway-data',
    ]);
    // Data lives in named volumes: every volume a service mounts from outside deploy/ is declared.
    for (const [name, service] of Object.entries<{ volumes?: string[] }>(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (!source.startsWith('./')) expect(compose.volumes, `${name}: ${volume}`).toHaveProperty(source);
      }
    }
    expect(compose.services.postgres.volumes).toContain('postgres-data:/var/lib/postgresql/data');
    expect(compose.services.s3.volumes).toContain('s3-data:/data');
    // Published ports answer on the host's loopback only; PostgreSQL and S3 are not published at all.
    for (const service of Object.values<{ ports?: string[] }>(compose.services)) {
      for (const port of service.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
    expect(compose.services.postgres.ports).toBeUndefined();
    expect(compose.services.s3.ports).toBeUndefined();
  });

  it('starts each service after what it needs is healthy, or done for the one-shot bucket maker', () => {
    const needs = (name: string) =>
      compose.services[name].depends_on as Record<string, { condition: string }>;
    for (const name of slipwayServices) {
      expect(needs(name).postgres, name).toEqual({ condition: 'service_healthy' });
      expect(needs(name)[oneShot], name).toEqual({ condition: 'service_completed_successfully' });
    }
    for (const name of ['prod-1', 'prod-2', 'prometheus']) {
      expect(needs(name).control, name).toEqual({ condition: 'service_healthy' });
    }
    expect(needs(oneShot).s3).toEqual({ condition: 'service_healthy' });
    expect(needs('grafana').prometheus).toEqual({ condition: 'service_healthy' });
    // Every condition is one that waits for health or completion, never mere start.
    for (const [name, service] of Object.entries<{ depends_on?: Record<string, { condition: string }> }>(
      compose.services,
    )) {
      for (const [needed, { condition }] of Object.entries(service.depends_on ?? {})) {
        const expected = needed === oneShot ? 'service_completed_successfully' : 'service_healthy';
        expect(condition, `${name} -> ${needed}`).toBe(expected);
      }
    }
  });

  it('keeps every Slipway server on the PostgreSQL registry and the S3 bucket, read-only, each with its own name', () => {
    const postgres = compose.services.postgres.environment;
    const s3 = compose.services.s3.environment;
    const replicaNames = new Set<string>();
    for (const name of slipwayServices) {
      const service = compose.services[name];
      const env = service.environment;
      const registry = new URL(interpolate(env.SLIPWAY_REGISTRY_URI));
      expect(registry.protocol).toBe('postgres:');
      expect(registry.host).toBe('postgres:5432');
      expect(registry.username).toBe(postgres.POSTGRES_USER);
      expect(registry.password).toBe(interpolate(postgres.POSTGRES_PASSWORD));
      expect(registry.pathname).toBe(`/${postgres.POSTGRES_DB}`);
      expect(env.SLIPWAY_ARTIFACT_URI).toBe('s3://slipway/artifacts');
      expect(env.AWS_ENDPOINT_URL).toBe('http://s3:9000');
      expect(env.AWS_ACCESS_KEY_ID).toBe(s3.MINIO_ROOT_USER);
      expect(interpolate(env.AWS_SECRET_ACCESS_KEY)).toBe(interpolate(s3.MINIO_ROOT_PASSWORD));
      replicaNames.add(env.SLIPWAY_REPLICA_NAME);
      expect(service.read_only, name).toBe(true);
      expect(service.cap_drop, name).toEqual(['ALL']);
      expect(service.tmpfs, name).toContain('/tmp');
    }
    expect([...replicaNames].sort()).toEqual([...slipwayServices].sort());
    // The bucket maker makes the bucket the servers use, with the lifecycle rule for interrupted uploads.
    const script = compose.services[oneShot].command.join(' ');
    expect(script).toContain('mc mb --ignore-existing slipway/slipway');
    expect(script).toContain('"Prefix":"artifacts/.staging/"');
    // Secrets come from the environment of `docker compose`, never from the file.
    for (const secret of [postgres.POSTGRES_PASSWORD, s3.MINIO_ROOT_PASSWORD]) {
      expect(secret).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
    }
  });

  it("hands each Slipway server settings and a slipway.yaml that Slipway's configuration accepts", () => {
    for (const name of slipwayServices) {
      const service = compose.services[name];
      const mount = service.volumes.find((v: string) => v.endsWith(':/etc/slipway/slipway.yaml:ro'));
      const file = resolve(DEPLOY, mount.split(':')[0]);
      const environment = Object.fromEntries(
        Object.entries<string>(service.environment).map(([name, value]) => [name, interpolate(value)]),
      );
      const overrides = { ...environment, SLIPWAY_CONFIG_FILE: file } as ConfigOverrides;
      const env = service.command.includes('--env') ? { SLIPWAY_ENV: 'prod' } : {};
      const config = compileConfig({ ...overrides, ...env }, {}, mkdtempSync(join(tmpdir(), 'compose-')));
      expect(config.host).toBe('0.0.0.0');
      expect(config.metricsPort).toBe(9464);
      expect(config.environments.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
      expect(config.allowedHosts).not.toBeNull();
      expect(config.registryUri).toBe('postgres://slipway:pg-secret@postgres:5432/slipway');
      expect(config.artifactUri).toBe('s3://slipway/artifacts');
      expect(config.replicaName).toBe(name);
      for (const host of ['control:8080', 'prod-1:9464', '127.0.0.1:8080']) {
        expect(allowsHost(config.allowedHosts, host), host).toBe(true);
      }
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
