import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Migration, Migrator, SqliteDialect } from 'kysely';
import { SlipwayError } from '../errors/index.js';

/** URI schemes with a database implementation. */
export const DATABASE_SCHEMES = ['sqlite:'] as const;

/** One module's migrations, by global name (`0002_deployments`). */
export type ModuleMigrations = Readonly<Record<string, Migration>>;

/**
 * The database every store lives in. Only this module opens, migrates and closes it; each module's
 * SQL store gets the `db` handle and runs its queries on its own tables.
 */
export interface SqlDatabase {
  /** Untyped at this level: each store narrows it to its own tables. */
  // biome-ignore lint/suspicious/noExplicitAny: each module's store views the handle through its own table types.
  readonly db: Kysely<any>;
  /**
   * SQLite allows one writer: a write transaction takes the write lock when it begins
   * (`BEGIN IMMEDIATE`, see sql-support.ts). Other dialects use ordinary transactions.
   */
  readonly immediateTransactions: boolean;
  /** Brings every module's schema up to date; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the database a URI names (`sqlite:/path/to/registry.db`, or a relative path) with the
 * migrations of every module that keeps tables in it. An unknown scheme is refused with the list of
 * known ones.
 */
export function openDatabase(uri: string, modules: readonly ModuleMigrations[]): SqlDatabase {
  const migrations = mergeMigrations(modules);
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(uri)?.[0]?.toLowerCase();
  if (scheme === 'sqlite:') {
    const db = openSqlite(uri.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
    return {
      db,
      immediateTransactions: true,
      migrate: () => migrate(db, migrations),
      close: () => db.destroy(),
    };
  }
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_REGISTRY_URI "${uri}" has an unsupported scheme; expected one of ${DATABASE_SCHEMES.join(', ')}.`,
    { variable: 'SLIPWAY_REGISTRY_URI' },
  );
}

// biome-ignore lint/suspicious/noExplicitAny: see SqlDatabase.db.
function openSqlite(path: string): Kysely<any> {
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
  return new Kysely({ dialect: new SqliteDialect({ database }) });
}

/** Every module's migrations as one set; two modules claiming one name is a programming error. */
function mergeMigrations(modules: readonly ModuleMigrations[]): Record<string, Migration> {
  const merged: Record<string, Migration> = {};
  for (const module of modules) {
    for (const [name, migration] of Object.entries(module)) {
      if (name in merged) throw new Error(`Two modules define the migration ${name}.`);
      merged[name] = migration;
    }
  }
  return merged;
}

// Kysely's migrator runs them in name order and records each one, so the names interleave the
// modules' histories in the order they shipped.
async function migrate(db: Kysely<unknown>, migrations: Record<string, Migration>): Promise<void> {
  const { error, results } = await new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new SlipwayError('UNAVAILABLE', `Database migration ${failed} failed: ${(error as Error).message}`);
  }
}
