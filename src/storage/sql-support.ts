import { type Kysely, sql, type Transaction } from 'kysely';
import type { Page, PageRequest } from '../domain/page.js';
import { SlipwayError } from '../errors/index.js';
import { decodePageToken, encodePageToken } from './page-token.js';

/**
 * Runs `work` in one write transaction. SQLite allows one writer, and a transaction that reads
 * before it writes must take the write lock when it begins (`BEGIN IMMEDIATE`); otherwise the upgrade
 * fails with SQLITE_BUSY without waiting for busy_timeout. Other dialects use ordinary transactions.
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
