import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of docs/architecture.md ("Dependency rules"), checked on the source: a module's
 * store and SQL are its own, only storage/ opens the database, and the layers point one way.
 */
const SRC = resolve(import.meta.dirname, '../../src');

interface Import {
  readonly from: string; // file, relative to src/
  readonly to: string; // imported file relative to src/, or a package name
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORTS: Import[] = sources(SRC).flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1] as string);
  return found.map((specifier) => ({
    from: relative(SRC, file),
    to: specifier.startsWith('.')
      ? relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts')
      : specifier,
  }));
});

const moduleOf = (path: string) => (path.includes('/') ? path.split('/')[0] : '');
/** The composition: the only files that may know every module's concrete classes. */
const COMPOSITION = new Set(['app.ts', 'stores-for-uri.ts', 'index.ts', 'cluster.ts']);

/** Contracts every module may use: blobs and the audit trail. */
const INFRASTRUCTURE = new Set(['artifacts/artifact-store.ts', 'audit/audit-store.ts']);
/** The exceptions, each with its reason. */
const ALLOWED = new Set([
  // A revision and its audit event commit in one transaction.
  'deployments/sql/sql-deployment-store.ts -> audit/sql/sql-audit-store.ts',
  'deployments/sql/sql-deployment-store.ts -> audit/sql/schema.ts',
]);

function violations(rule: (i: Import) => boolean): string[] {
  return IMPORTS.filter(rule).map((i) => `${i.from} -> ${i.to}`);
}

describe('dependency rules', () => {
  it('reads some imports (the scanner works)', () => {
    expect(IMPORTS.length).toBeGreaterThan(200);
    expect(IMPORTS).toContainEqual({ from: 'app.ts', to: 'stores-for-uri.ts' });
  });

  it('only storage/ opens a database (better-sqlite3, Kysely instances)', () => {
    expect(violations((i) => i.to === 'better-sqlite3' && !i.from.startsWith('storage/'))).toEqual([]);
    const kyselyInstances = sources(SRC)
      .filter((file) => /new Kysely\b/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(kyselyInstances).toEqual(['storage/database.ts']);
  });

  it('no module reaches another module’s store or SQL', () => {
    const isStore = (path: string) => /(^|\/)[a-z-]+-store\.ts$/.test(path) || /\/sql\//.test(path);
    expect(
      violations(
        (i) =>
          isStore(i.to) &&
          i.to.includes('/') &&
          !COMPOSITION.has(i.from) &&
          moduleOf(i.from) !== moduleOf(i.to) &&
          // storage/'s SQL helpers, the artifact store and the audit trail are infrastructure every
          // module builds on (each module records its own audit events)
          !i.to.startsWith('storage/') &&
          !INFRASTRUCTURE.has(i.to) &&
          !ALLOWED.has(`${i.from} -> ${i.to}`),
      ),
    ).toEqual([]);
  });

  it('storage/ knows no module; domain/ and errors/ stay at the bottom', () => {
    expect(
      violations(
        (i) =>
          i.from.startsWith('storage/') && i.to.endsWith('.ts') && !/^(storage|errors|domain)\//.test(i.to),
      ),
    ).toEqual([]);
    expect(
      violations(
        (i) => i.from.startsWith('domain/') && i.to.endsWith('.ts') && !/^(domain|errors)\//.test(i.to),
      ),
    ).toEqual([]);
    expect(
      violations((i) => i.from.startsWith('errors/') && i.to.endsWith('.ts') && !i.to.startsWith('errors/')),
    ).toEqual([]);
  });

  it("only the composition, the entry points, the MLflow routes and gRPC's status table import http/; nothing imports cli/", () => {
    expect(
      violations(
        (i) =>
          i.to.startsWith('http/') &&
          !i.from.startsWith('http/') &&
          !i.from.startsWith('mlflow/http/') &&
          !COMPOSITION.has(i.from) &&
          // the CLI shares the API's wire schemas, and nothing else of http/
          !(i.from.startsWith('cli/') && i.to.startsWith('http/wire')) &&
          // gRPC statuses follow each code's HTTP status: one classification of every error
          !(i.from.startsWith('grpc/') && i.to === 'http/error-status.ts'),
      ),
    ).toEqual([]);
    expect(violations((i) => i.to.startsWith('cli/') && !i.from.startsWith('cli/'))).toEqual([]);
  });

  it('lower layers know nothing of the ones above: serving reads the registry through its own port, http knows no MLflow', () => {
    expect(
      violations(
        (i) => i.from.startsWith('serving/') && /^(registry|deployments|jobs|mlflow|http|drift)\//.test(i.to),
      ),
    ).toEqual([]);
    expect(violations((i) => i.from.startsWith('http/') && i.to.startsWith('mlflow/'))).toEqual([]);
    expect(
      violations((i) => i.from.startsWith('registry/') && /^(deployments|jobs|mlflow|http)\//.test(i.to)),
    ).toEqual([]);
  });

  it('observability/ knows no module above it: modules report to it, it reads nothing of theirs', () => {
    expect(
      violations(
        (i) =>
          i.from.startsWith('observability/') &&
          /^(registry|deployments|jobs|mlflow|http|grpc|serving|cli|auth)\//.test(i.to) &&
          // the prediction log implements the port the data plane records through
          i.to !== 'serving/prediction-recorder.ts',
      ),
    ).toEqual([]);
  });

  it('drift/ reads the data plane, registry and prediction log through ports app.ts fills; only its statistics are shared', () => {
    expect(
      violations(
        (i) =>
          i.from.startsWith('drift/') &&
          /^(registry|deployments|jobs|mlflow|http|grpc|serving|cli|auth)\//.test(i.to),
      ),
    ).toEqual([]);
    // Canary analysis measures prediction divergence with the drift statistics; the API calls the service.
    expect(
      violations(
        (i) =>
          !i.from.startsWith('drift/') &&
          i.to.startsWith('drift/') &&
          i.to !== 'drift/statistics.ts' &&
          // slipway.yaml's `drift_checks:` is checked with the rest of the configuration
          !(i.from.startsWith('config/') && i.to === 'drift/drift-checks.ts') &&
          !i.from.startsWith('http/') &&
          i.from !== 'app.ts',
      ),
    ).toEqual([]);
  });

  it('only observability/tracing.ts touches OpenTelemetry, and it loads the SDK only on demand', () => {
    // Serving, runtime and the protocols report to a RequestTrace; none of them sees a span.
    expect(
      violations((i) => i.to.startsWith('@opentelemetry/') && i.from !== 'observability/tracing.ts'),
    ).toEqual([]);
    const tracing = readFileSync(join(SRC, 'observability/tracing.ts'), 'utf8');
    const staticImports = [...tracing.matchAll(/^import (?!type )[^;]*from '(@opentelemetry\/[^']+)'/gm)];
    expect(staticImports.map((m) => m[1])).toEqual([]);
    expect(tracing).toContain("import('@opentelemetry/sdk-trace-base')");
  });

  it('alerts/ is reached only through the AlertSink of domain/, and reads nothing of the modules it alerts about', () => {
    // Modules raise alerts through domain/alert.ts; only the composition builds the notifier, and
    // config/ compiles the `alerts:` section with alerts/' own schema.
    expect(
      violations(
        (i) =>
          i.to.startsWith('alerts/') &&
          !i.from.startsWith('alerts/') &&
          !COMPOSITION.has(i.from) &&
          i.from !== 'config/config.ts',
      ),
    ).toEqual([]);
    expect(
      violations(
        (i) =>
          i.from.startsWith('alerts/') &&
          i.to.endsWith('.ts') &&
          !/^(alerts|domain|errors)\//.test(i.to) &&
          i.to !== 'version.ts',
      ),
    ).toEqual([]);
  });
});
