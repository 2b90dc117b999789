import type { Kysely, Selectable } from 'kysely';
import type { Role } from '../../domain/roles.js';
import { SlipwayError } from '../../errors/index.js';
import { forWrite, writeTransaction } from '../../storage/sql-support.js';
import type { StoredToken, TokenStore } from '../token-store.js';
import type { TokenTables } from './schema.js';

type Db = Kysely<TokenTables>;

/** `TokenStore` on the registry's own database (table `tokens`). */
export class SqlTokenStore implements TokenStore {
  constructor(
    private readonly db: Db,
    private readonly immediate: boolean,
  ) {}

  create(token: StoredToken, hash: string): Promise<StoredToken> {
    return writeTransaction(this.db, this.immediate, async (trx) => {
      // The unique name decides: of two creations of one name, exactly one inserts.
      const { numInsertedOrUpdatedRows } = await trx
        .insertInto('tokens')
        .values({
          id: token.id,
          name: token.name,
          role: token.role,
          hash,
          created_by: token.createdBy,
          created_at: token.createdAt,
          revoked_at: null,
        })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .executeTakeFirst();
      if (numInsertedOrUpdatedRows === 0n) {
        throw new SlipwayError('ALREADY_EXISTS', `A token named "${token.name}" already exists.`, {
          name: token.name,
        });
      }
      return token;
    });
  }

  async find(hash: string): Promise<StoredToken | null> {
    const row = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async list(): Promise<StoredToken[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .selectAll()
      .orderBy('created_at')
      .orderBy('name')
      .execute();
    return rows.map(toToken);
  }

  revoke(name: string): Promise<StoredToken> {
    return writeTransaction(this.db, this.immediate, async (trx) => {
      const row = await forWrite(
        trx,
        trx.selectFrom('tokens').selectAll().where('name', '=', name),
      ).executeTakeFirst();
      if (!row) throw new SlipwayError('NOT_FOUND', `No token is named "${name}".`, { name });
      const revokedAt = row.revoked_at ?? new Date().toISOString();
      await trx.updateTable('tokens').set({ revoked_at: revokedAt }).where('name', '=', name).execute();
      return toToken({ ...row, revoked_at: revokedAt });
    });
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('tokens')
      .select(({ fn }) => fn.countAll().as('n'))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}

function toToken(row: Selectable<TokenTables['tokens']>): StoredToken {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
