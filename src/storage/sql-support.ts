import { type Kysely, PostgresAdapter, type SelectQueryBuilder, sql, type Transaction } from 'kysely';
import type { Page, PageRequest } from '../domain/page.js';
import { SlipwayError } from '../errors/index.js';
import { decodePageToken, encodePageToken } from './page-token.js';

/** The SQL databases Slipway keeps its stores in. */
export type SqlDialect = 'sqlite' | 'postgres';

/**
 * Which database a handle (or a transaction on it) talks to. The one place where store code branches
 * on the dialect: the helpers below use it, the stores use the helpers.
 */
// biome-ignore lint/suspicious/noExplicitAny: any table set; only the connection matters here.
export function dialectOf(db: Kysely<any>): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Runs `work` in one write transaction. SQLite allows one writer, and a transaction that reads
 * before it writes must take the write lock when it begins (`BEGIN IMMEDIATE`); otherwise the upgrade
 * fails with SQLITE_BUSY without waiting for busy_timeout. That lock serializes every write, so
 * nothing else is needed on SQLite.
 *
 * PostgreSQL (`immediate` false) runs ordinary READ COMMITTED transactions, many at once, from many
 * processes; a transaction that reads before it writes takes the lock it needs first, with
 * `forWrite` (the rows it will change, e.g. a model's row before numbering its next version) or
 * `lockAppends` (a table numbered by max + 1). Each statement after the lock sees every commit
 * before it.
 */
export function writeTransaction<DB, T>(
  db: Kysely<DB>,
  immediate: boolean,
  work: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  if (!immediate) return db.transaction().execute(work);
  return db.connection().execute(async (connection) => {
    await sql`begin immediate`.execute(connection);
    try {
      // The connection is exclusively ours until `execute` returns; Kysely's Transaction type is
      // only used for its query-building surface here.
      const result = await work(connection as unknown as Transaction<DB>);
      await sql`commit`.execute(connection);
      return result;
    } catch (error) {
      await sql`rollback`.execute(connection);
      throw error;
    }
  });
}

/** Limit and offset of a page request; the token is opaque to clients. */
export function paging(request: PageRequest): { limit: number; offset: number } {
  const limit = request.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `limit ${limit} is invalid: expected an integer from 1 to 1000.`,
      { field: 'limit' },
    );
  }
  const offset = request.pageToken ? decodePageToken(request.pageToken) : 0;
  return { limit, offset };
}

/** A page from `limit + 1` fetched rows: the extra row only says that there is a next page. */
export function toPage<T>(rows: T[], limit: number, offset: number): Page<T> {
  const hasMore = rows.length > limit;
  const token = hasMore ? encodePageToken(offset + limit) : null;
  return { items: rows.slice(0, limit), nextPageToken: token };
}

/**
 * Whether a statement failed because a row referenced a missing one (a foreign key): SQLite's
 * `SQLITE_CONSTRAINT_FOREIGNKEY`, PostgreSQL's SQLSTATE 23503. Stores turn it into their NOT_FOUND.
 */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

/**
 * Locks the rows `query` selects until the transaction ends (PostgreSQL: `FOR NO KEY UPDATE`, which
 * still lets other transactions insert rows that reference them), so that a read-then-write on them
 * is not interleaved with another. On SQLite the write transaction already holds the only write lock.
 */
export function forWrite<DB, TB extends keyof DB, O>(
  // biome-ignore lint/suspicious/noExplicitAny: any table set; only the dialect matters here.
  db: Kysely<any>,
  query: SelectQueryBuilder<DB, TB, O>,
): SelectQueryBuilder<DB, TB, O> {
  return dialectOf(db) === 'postgres' ? query.forNoKeyUpdate() : query;
}

/**
 * Serializes the transactions that append to `table` until they end, for tables whose rows are
 * numbered `max + 1` across the whole table (the audit trail, revisions): numbers have no gaps nor
 * duplicates, and commit in their order, so a reader that remembers the last number it saw misses
 * nothing. PostgreSQL: `LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE` (plain reads go on; writers of the
 * table wait). SQLite: the write transaction already holds the only write lock. Call it before
 * reading the table in the transaction.
 */
// biome-ignore lint/suspicious/noExplicitAny: any table set; only the dialect matters here.
export async function lockAppends(db: Kysely<any>, table: string): Promise<void> {
  if (dialectOf(db) === 'postgres') {
    await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(db);
  }
}

/**
 * The column type of a number that counts every row of a table (an audit event's `seq`): `bigint` on
 * PostgreSQL, where `integer` stops at 2^31; SQLite's `integer` is already 64-bit (and an
 * `integer primary key` is the row id), so its schema stays as it shipped.
 */
export function counterType(db: Kysely<unknown>): 'integer' | 'bigint' {
  return dialectOf(db) === 'postgres' ? 'bigint' : 'integer';
}

/**
 * Whether a statement failed on a unique constraint: SQLite's `SQLITE_CONSTRAINT_UNIQUE` or
 * `SQLITE_CONSTRAINT_PRIMARYKEY`, PostgreSQL's SQLSTATE 23505.
 */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * Tells every process listening on `channel` (SqlDatabase.listen) when the transaction commits: the
 * notice goes out only then, and not at all if it rolls back. PostgreSQL `pg_notify`; nothing on
 * SQLite, where readers poll.
 */
// biome-ignore lint/suspicious/noExplicitAny: any table set; only the dialect matters here.
export async function notify(db: Kysely<any>, channel: string): Promise<void> {
  if (dialectOf(db) === 'postgres') await sql`select pg_notify(${channel}, '')`.execute(db);
}
