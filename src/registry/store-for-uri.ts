import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { AuditStore } from '../audit/audit-store.js';
import { SqlAuditStore } from '../audit/sql/sql-audit-store.js';
import { SqlTokenStore } from '../auth/sql/sql-token-store.js';
import type { TokenStore } from '../auth/token-store.js';
import type { DeploymentStore } from '../deployments/deployment-store.js';
import { SqlDeploymentStore } from '../deployments/sql/sql-deployment-store.js';
import { SlipwayError } from '../errors/index.js';
import type { JobStore } from '../jobs/job-store.js';
import { SqlJobStore } from '../jobs/sql/sql-job-store.js';
import type { MlflowTables } from '../mlflow/sql/schema.js';
import { SqlTrackingStore } from '../mlflow/sql/sql-tracking-store.js';
import type { TrackingStore } from '../mlflow/tracking-store.js';
import type { RegistryStore } from './registry-store.js';
import type { RegistryTables } from './sql/schema.js';
import { SqlRegistryStore } from './sql/sql-registry-store.js';

/** URI schemes with a registry implementation. */
export const REGISTRY_SCHEMES = ['sqlite:'] as const;

/**
 * The stores that live in the registry database: the registry itself, deployment state (revisions,
 * promotions, datasets), the audit trail, API tokens, batch jobs (jobs, runs, leases) and MLflow
 * tracking. `registry.migrate()` migrates them all; `registry.close()` closes the database.
 */
export interface Stores {
  readonly registry: RegistryStore;
  readonly deployments: DeploymentStore;
  readonly audit: AuditStore;
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
  /** The MLflow tracking domain (experiments, runs, logged models). */
  readonly tracking: TrackingStore;
}

/**
 * Opens the registry database a URI names: `sqlite:/path/to/registry.db` (or a relative path). An
 * unknown scheme is refused with the list of known ones.
 */
export function storesForUri(uri: string): Stores {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(uri)?.[0]?.toLowerCase();
  if (scheme === 'sqlite:') return openSqlite(uri.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_REGISTRY_URI "${uri}" has an unsupported scheme; expected one of ${REGISTRY_SCHEMES.join(', ')}.`,
    { variable: 'SLIPWAY_REGISTRY_URI' },
  );
}

function openSqlite(path: string): Stores {
  if (path === '' || path === ':memory:') {
    // An in-memory database would silently lose the registry on restart.
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      'SLIPWAY_REGISTRY_URI must name a SQLite file, not an in-memory database.',
    );
  }
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  const database = new Database(file);
  // WAL lets readers proceed while the single writer commits; FULL sync makes each registry commit
  // durable (they are rare, so the cost does not matter); busy_timeout makes a second process wait
  // for the write lock instead of failing.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<RegistryTables>({ dialect: new SqliteDialect({ database }) });
  return {
    registry: new SqlRegistryStore({ db, immediateTransactions: true }),
    deployments: new SqlDeploymentStore(db, true),
    audit: new SqlAuditStore(db, true),
    tokens: new SqlTokenStore(db, true),
    jobs: new SqlJobStore(db, true),
    // One handle for every store of the database; the tracking store only sees its own tables.
    tracking: new SqlTrackingStore(db as unknown as Kysely<MlflowTables>, true),
  };
}
