import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type pg from 'pg';
import { SlipwayError } from '../errors/index.js';
import { pg as loadPg } from './pg.js';
import type { SqlDialect } from './sql-support.js';

/** URI schemes with a database implementation. */
export const DATABASE_SCHEMES = ['sqlite:', 'postgres:', 'postgresql:'] as const;

/** Connections one process keeps to PostgreSQL at most. */
const POSTGRES_POOL_SIZE = 10;
/** PostgreSQL's type id of `bigint` (int8), which node-postgres returns as a string by default. */
const INT8_OID = 20;

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
  readonly dialect: SqlDialect;
  /**
   * Whether servers on other machines may use the database at the same time (PostgreSQL): then no
   * server may assume, when it starts, that nothing else is in the middle of a write.
   */
  readonly shared: boolean;
  /**
   * SQLite allows one writer: a write transaction takes the write lock when it begins
   * (`BEGIN IMMEDIATE`, see sql-support.ts). Other dialects use ordinary transactions.
   */
  readonly immediateTransactions: boolean;
  /**
   * Calls `onNotice` whenever a transaction that sent `notify(trx, channel)` (sql-support.ts) commits,
   * in any process (PostgreSQL `LISTEN` on a connection of its own, reconnected when it drops), and
   * once after each reconnection, since notices sent meanwhile are lost. Resolves once listening,
   * to a function that stops. Null on SQLite, which has no such thing: readers poll.
   */
  listen(channel: string, onNotice: () => void): Promise<() => Promise<void>> | null;
  /** Brings every module's schema up to date; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the database a URI names (`sqlite:/path/to/registry.db`, or a relative path;
 * `postgres://user:password@host:5432/database`) with the migrations of every module that keeps
 * tables in it. An unknown scheme is refused with the list of known ones. Nothing is connected yet:
 * PostgreSQL connects on the first query.
 */
export function openDatabase(uri: string, modules: readonly ModuleMigrations[]): SqlDatabase {
  const migrations = mergeMigrations(modules);
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(uri)?.[0]?.toLowerCase();
  if (scheme === 'sqlite:') {
    const db = openSqlite(uri.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
    return {
      db,
      dialect: 'sqlite',
      shared: false,
      immediateTransactions: true,
      listen: () => null,
      migrate: () => migrate(db, migrations),
      close: () => db.destroy(),
    };
  }
  if (scheme === 'postgres:' || scheme === 'postgresql:') {
    const db = openPostgres(uri);
    return {
      db,
      dialect: 'postgres',
      shared: true,
      immediateTransactions: false,
      listen: (channel, onNotice) => listenPostgres(uri, channel, onNotice),
      migrate: async () => {
        await migrate(db, migrations);
        await binaryCollation(db);
      },
      close: () => db.destroy(),
    };
  }
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_REGISTRY_URI "${uri}" has an unsupported scheme; expected one of ${DATABASE_SCHEMES.join(', ')}.`,
    { variable: 'SLIPWAY_REGISTRY_URI' },
  );
}

/** The URI with its password (if any) replaced by `***`: what may be printed or logged. */
export function redactDatabaseUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.password === '') return uri;
    url.password = '***';
    return url.toString();
  } catch {
    return uri;
  }
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

/**
 * A pool of at most POSTGRES_POOL_SIZE connections. A statement that runs (or waits for a lock) longer
 * than 30 s fails instead of holding a connection, as does a transaction left idle for a minute.
 * `bigint` columns come back as numbers, as they do from SQLite (exact up to 2^53).
 */
// biome-ignore lint/suspicious/noExplicitAny: see SqlDatabase.db.
function openPostgres(uri: string): Kysely<any> {
  const pool = new (loadPg().Pool)({
    connectionString: uri,
    max: POSTGRES_POOL_SIZE,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    application_name: 'slipway',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? (value: string) => Number(value)
          : loadPg().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server closed is dropped from the pool; the next query opens another.
  // Without a listener, the pool's `error` event would end the process.
  pool.on('error', () => {});
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}

/** How long a dropped `LISTEN` connection waits before it connects again. */
const RELISTEN_DELAY_MS = 1000;

/**
 * A connection of its own (notices arrive only on the connection that listens, so a pooled one will
 * not do) that `LISTEN`s on `channel`. When it drops, it connects again after a second and tells
 * the listener once, whatever it missed.
 */
async function listenPostgres(
  uri: string,
  channel: string,
  onNotice: () => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    const next = new (loadPg().Client)({ connectionString: uri, application_name: 'slipway-listen' });
    next.on('notification', (message) => {
      if (message.channel === channel) onNotice();
    });
    const dropped = () => {
      next.removeAllListeners('end');
      if (stopped || client !== next) return;
      client = null;
      void next.end().catch(() => {});
      retry = setTimeout(reconnect, RELISTEN_DELAY_MS);
      retry.unref();
    };
    next.on('error', dropped);
    next.on('end', dropped);
    await next.connect();
    await next.query(`listen ${pgIdentifier(channel)}`);
    client = next;
  };
  const reconnect = () => {
    if (stopped) return;
    connect().then(onNotice, () => {
      retry = setTimeout(reconnect, RELISTEN_DELAY_MS);
      retry.unref();
    });
  };
  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const last = client;
    client = null;
    await last?.end().catch(() => {});
  };
}

/** A channel name as a quoted identifier (channels are Slipway's own constants, but quoted anyway). */
const pgIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Text compares and sorts by its bytes on both databases, as it always has on SQLite: names list in
 * the same order, and prefix ranges (`action >= 'promotion.' and action < 'promotion/'`) mean the
 * same thing whatever locale the PostgreSQL database was created with. Every text column of the
 * migrated tables that still uses the database's collation gets `C`; on later starts there is none.
 */
// biome-ignore lint/suspicious/noExplicitAny: see SqlDatabase.db.
async function binaryCollation(db: Kysely<any>): Promise<void> {
  // Processes that start together do this one at a time (the second finds nothing left to do):
  // concurrent ALTERs of tables that reference each other would deadlock.
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('slipway.binary_collation'))`.execute(trx);
    const { rows } = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type = 'text'
        and coalesce(collation_name, '') <> 'C' and table_name not like 'kysely\\_%'
      order by table_name, column_name`.execute(trx);
    for (const { table_name: table, column_name: column } of rows) {
      await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type text collate "C"`.execute(
        trx,
      );
    }
  });
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
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new SlipwayError(
      'UNAVAILABLE',
      failed
        ? `Database migration ${failed} failed: ${(error as Error).message}`
        : `Could not migrate the database: ${(error as Error).message}`,
    );
  }
}
