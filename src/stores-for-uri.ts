import type { AuditStore } from './audit/audit-store.js';
import { SqlAuditStore } from './audit/sql/sql-audit-store.js';
import { SqlTokenStore } from './auth/sql/sql-token-store.js';
import type { TokenStore } from './auth/token-store.js';
import type { DeploymentStore } from './deployments/deployment-store.js';
import { deploymentMigrations } from './deployments/sql/migrations.js';
import { SqlDeploymentStore } from './deployments/sql/sql-deployment-store.js';
import { SqlTrafficStore } from './deployments/sql/sql-traffic-store.js';
import type { TrafficFigureStore } from './deployments/traffic-figures.js';
import type { JobStore } from './jobs/job-store.js';
import { jobMigrations } from './jobs/sql/migrations.js';
import { SqlJobStore } from './jobs/sql/sql-job-store.js';
import type { LeaseStore } from './leadership/lease-store.js';
import { leadershipMigrations } from './leadership/sql/migrations.js';
import { SqlLeaseStore } from './leadership/sql/sql-lease-store.js';
import { mlflowMigrations } from './mlflow/sql/migrations.js';
import { SqlTrackingStore } from './mlflow/sql/sql-tracking-store.js';
import type { TrackingStore } from './mlflow/tracking-store.js';
import type { RegistryStore } from './registry/registry-store.js';
import { registryMigrations } from './registry/sql/migrations.js';
import { SqlRegistryStore } from './registry/sql/sql-registry-store.js';
import { openDatabase, type SqlDatabase } from './storage/database.js';

/** For printing the URI: its password hidden. */
export { redactDatabaseUri } from './storage/database.js';

/**
 * Every module's store on the one database `SLIPWAY_REGISTRY_URI` names. `database` opens, migrates
 * and closes it; each store sees only its module's tables.
 */
export interface Stores {
  readonly database: Pick<SqlDatabase, 'migrate' | 'close' | 'shared'>;
  readonly registry: RegistryStore;
  /** Revisions, promotions (with their leases) and datasets. */
  readonly deployments: DeploymentStore;
  /** Every replica's traffic figures, for canary analysis. */
  readonly traffic: TrafficFigureStore;
  /** The audit trail. */
  readonly audit: AuditStore;
  /** API tokens (their sha256, never the secret). */
  readonly tokens: TokenStore;
  /** Batch jobs, runs and leases. */
  readonly jobs: JobStore;
  /** The MLflow tracking domain (experiments, runs, logged models). */
  readonly tracking: TrackingStore;
  /** The lead among replicas and their heartbeats. */
  readonly leases: LeaseStore;
}

/** The migrations of every module that keeps tables in the database. */
const MODULES = [
  registryMigrations,
  deploymentMigrations,
  jobMigrations,
  mlflowMigrations,
  leadershipMigrations,
];

/** Opens the database a URI names and builds each module's store on it (nothing is migrated yet). */
export function storesForUri(uri: string): Stores {
  const database = openDatabase(uri, MODULES);
  const { db, immediateTransactions, listen } = database;
  return {
    database,
    registry: new SqlRegistryStore({ db, immediateTransactions }),
    deployments: new SqlDeploymentStore(db, immediateTransactions, listen),
    traffic: new SqlTrafficStore(db),
    audit: new SqlAuditStore(db, immediateTransactions),
    tokens: new SqlTokenStore(db, immediateTransactions),
    jobs: new SqlJobStore(db, immediateTransactions),
    tracking: new SqlTrackingStore(db, immediateTransactions),
    leases: new SqlLeaseStore(db, immediateTransactions),
  };
}
