import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AuditTables } from '../../audit/sql/schema.js';
import { insertAuditEvent } from '../../audit/sql/sql-audit-store.js';
import type { Page, PageRequest } from '../../domain/page.js';
import type { Dataset, NewAuditEvent, Promotion } from '../../domain/promotion.js';
import type { Revision, RevisionKind } from '../../domain/revision.js';
import { SlipwayError } from '../../errors/index.js';
import type { SqlDatabase } from '../../storage/database.js';
import {
  forWrite,
  isForeignKeyViolation,
  lockAppends,
  notify,
  paging,
  toPage,
  writeTransaction,
} from '../../storage/sql-support.js';
import type { DeploymentStore, NewRevision, PromotionLease } from '../deployment-store.js';
import type { DeploymentTables } from './schema.js';

type Db = Kysely<DeploymentTables>;
type Executor = Db | Transaction<DeploymentTables>;

/** The channel a committed revision is announced on (PostgreSQL `NOTIFY`). */
const REVISIONS_CHANNEL = 'slipway_revisions';

/** `DeploymentStore` on the registry's own database (same Kysely handle, same migrations). */
export class SqlDeploymentStore implements DeploymentStore {
  constructor(
    private readonly db: Db,
    private readonly immediate: boolean,
    /** The database's notices (SqlDatabase.listen), where it has them. */
    private readonly listen: SqlDatabase['listen'] = () => null,
  ) {}

  watchRevisions(onChange: () => void): Promise<() => Promise<void>> | null {
    return this.listen(REVISIONS_CHANNEL, onChange);
  }

  appendRevision(
    revision: NewRevision,
    audit: NewAuditEvent,
    expectedCurrent?: number | null,
    promotionStatus?: Promotion['status'],
  ): Promise<Revision> {
    return this.write(revision.model, async (trx) => {
      // Revisions are numbered in the order they commit (followers read them by `seq`).
      await lockAppends(trx, 'revisions');
      if (promotionStatus !== undefined && revision.promotionId !== null) {
        // The promotion keeps its status until the revision commits.
        const promotion = await forWrite(
          trx,
          trx.selectFrom('promotions').select('status').where('id', '=', revision.promotionId),
        ).executeTakeFirst();
        if (promotion?.status !== promotionStatus) {
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `Promotion ${revision.promotionId} is ${promotion?.status ?? 'gone'}, not ${promotionStatus}; it changed meanwhile, so the deployment was left as it is.`,
            { promotion: revision.promotionId, status: promotion?.status ?? null },
          );
        }
      }
      const current = await this.current(trx, revision.model, revision.environment);
      const currentNumber = current?.number ?? null;
      if (expectedCurrent !== undefined && expectedCurrent !== currentNumber) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `${revision.model}-${revision.environment} changed while this change was prepared (revision ${currentNumber ?? 'none'}, expected ${expectedCurrent ?? 'none'}); retry.`,
          { current: currentNumber, expected: expectedCurrent },
        );
      }
      const seq = await nextSeq(trx, 'revisions');
      const stored: Revision = {
        ...revision,
        number: (currentNumber ?? 0) + 1,
        createdAt: new Date().toISOString(),
      };
      await trx
        .insertInto('revisions')
        .values({
          seq,
          model_name: stored.model,
          environment: stored.environment,
          number: stored.number,
          traffic: JSON.stringify(stored.traffic),
          tags: JSON.stringify(stored.tags),
          shadow: stored.shadow ? JSON.stringify(stored.shadow) : null,
          kind: stored.kind,
          actor: stored.actor,
          reason: stored.reason,
          promotion_id: stored.promotionId,
          request_id: stored.requestId,
          created_at: stored.createdAt,
        })
        .execute();
      // Followers on other servers look at once instead of at their next poll.
      await notify(trx, REVISIONS_CHANNEL);
      // The audit trail's table is in the same database: the event commits with the revision.
      await insertAuditEvent(trx as unknown as Transaction<AuditTables>, {
        ...audit,
        before: audit.before ?? (current ? wireTraffic(current) : null),
        after: audit.after ?? { revision: stored.number, ...wireTraffic(stored) },
      });
      return stored;
    });
  }

  currentRevision(model: string, environment: string): Promise<Revision | null> {
    return this.current(this.db, model, environment);
  }

  async getRevision(model: string, environment: string, number: number): Promise<Revision> {
    const row = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where('model_name', '=', model)
      .where('environment', '=', environment)
      .where('number', '=', number)
      .executeTakeFirst();
    if (!row) {
      throw new SlipwayError('NOT_FOUND', `${model}-${environment} has no revision ${number}.`, {
        model,
        environment,
        revision: number,
      });
    }
    return toRevision(row);
  }

  async listRevisions(
    model: string,
    environment: string,
    request: PageRequest = {},
  ): Promise<Page<Revision>> {
    const { limit, offset } = paging(request);
    const rows = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where('model_name', '=', model)
      .where('environment', '=', environment)
      .orderBy('number', 'desc')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    return toPage(rows.map(toRevision), limit, offset);
  }

  async currentRevisions(environment?: string): Promise<Revision[]> {
    const rows = await this.db
      .selectFrom('revisions as r')
      .selectAll('r')
      .$if(environment !== undefined, (q) => q.where('r.environment', '=', environment as string))
      .where(({ eb, selectFrom }) =>
        eb(
          'r.number',
          '=',
          selectFrom('revisions as newer')
            .select(({ fn }) => fn.max('newer.number').as('n'))
            .whereRef('newer.model_name', '=', 'r.model_name')
            .whereRef('newer.environment', '=', 'r.environment'),
        ),
      )
      .orderBy('r.model_name')
      .orderBy('r.environment')
      .execute();
    return rows.map(toRevision);
  }

  async revisionCursor(): Promise<number> {
    const row = await this.db
      .selectFrom('revisions')
      .select(({ fn }) => fn.max('seq').as('seq'))
      .executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  async changedSince(cursor: number) {
    const rows = await this.db
      .selectFrom('revisions')
      .select(['seq', 'model_name', 'environment'])
      .where('seq', '>', cursor)
      .orderBy('seq')
      .execute();
    const deployments = new Map<string, { model: string; environment: string }>();
    for (const row of rows) {
      deployments.set(`${row.model_name}/${row.environment}`, {
        model: row.model_name,
        environment: row.environment,
      });
    }
    return { cursor: Number(rows.at(-1)?.seq ?? cursor), deployments: [...deployments.values()] };
  }

  async createPromotion(promotion: Promotion, lease?: PromotionLease): Promise<Promotion> {
    await this.db
      .insertInto('promotions')
      .values({ ...promotionRow(promotion), ...leaseRow(lease) })
      .execute();
    return promotion;
  }

  async updatePromotion(
    promotion: Promotion,
    from: Promotion['status'],
    lease?: PromotionLease,
  ): Promise<Promotion> {
    const updated = { ...promotion, updatedAt: new Date().toISOString() };
    const { id: _id, created_at: _created, ...values } = promotionRow(updated);
    const result = await this.db
      .updateTable('promotions')
      .set({ ...values, ...(lease ? leaseRow(lease) : {}) })
      .where('id', '=', promotion.id)
      .where('status', '=', from)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      const now = await this.getPromotion(promotion.id);
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Promotion ${promotion.id} is ${now.status}, not ${from}; it changed meanwhile.`,
        { promotion: promotion.id, status: now.status },
      );
    }
    return updated;
  }

  async renewPromotionLease(id: string, lease: PromotionLease): Promise<boolean> {
    const result = await this.db
      .updateTable('promotions')
      .set({ lease_until: lease.until })
      .where('id', '=', id)
      .where('holder', '=', lease.holder)
      .where('status', '=', 'GATING')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async abandonedPromotions(now: string): Promise<Promotion[]> {
    const rows = await this.db
      .selectFrom('promotions')
      .selectAll()
      .where('status', '=', 'GATING')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('created_at')
      .execute();
    return rows.map(toPromotion);
  }

  async getPromotion(id: string): Promise<Promotion> {
    const row = await this.db.selectFrom('promotions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new SlipwayError('NOT_FOUND', `No promotion has the id "${id}".`, { promotion: id });
    return toPromotion(row);
  }

  async listPromotions(
    query: PageRequest & { model?: string; environment?: string; status?: Promotion['status'][] },
  ): Promise<Page<Promotion>> {
    const { limit, offset } = paging(query);
    const rows = await this.db
      .selectFrom('promotions')
      .selectAll()
      .$if(query.model !== undefined, (q) => q.where('model_name', '=', query.model as string))
      .$if(query.environment !== undefined, (q) => q.where('environment', '=', query.environment as string))
      .$if(query.status !== undefined, (q) => q.where('status', 'in', query.status as string[]))
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    return toPage(rows.map(toPromotion), limit, offset);
  }

  putDataset(dataset: Dataset): Promise<{ replaced: boolean }> {
    return this.write(dataset.model, async (trx) => {
      const values = {
        label: dataset.label,
        rows: JSON.stringify(dataset.rows),
        row_count: dataset.rows.length,
        created_by: dataset.createdBy,
        created_at: dataset.createdAt,
      };
      const deleted = await trx
        .deleteFrom('datasets')
        .where('model_name', '=', dataset.model)
        .where('name', '=', dataset.name)
        .executeTakeFirst();
      // Another transaction may have put the same name meanwhile: the last one wins.
      await trx
        .insertInto('datasets')
        .values({ model_name: dataset.model, name: dataset.name, ...values })
        .onConflict((conflict) => conflict.columns(['model_name', 'name']).doUpdateSet(values))
        .execute();
      return { replaced: Number(deleted.numDeletedRows) > 0 };
    });
  }

  async getDataset(model: string, name: string): Promise<Dataset> {
    const row = await this.db
      .selectFrom('datasets')
      .selectAll()
      .where('model_name', '=', model)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) {
      throw new SlipwayError('NOT_FOUND', `Model "${model}" has no dataset "${name}".`, {
        model,
        dataset: name,
      });
    }
    return {
      model: row.model_name,
      name: row.name,
      label: row.label,
      rows: JSON.parse(row.rows) as Record<string, unknown>[],
      createdBy: row.created_by,
      createdAt: row.created_at,
    };
  }

  private async current(db: Executor, model: string, environment: string): Promise<Revision | null> {
    const row = await db
      .selectFrom('revisions')
      .selectAll()
      .where('model_name', '=', model)
      .where('environment', '=', environment)
      .orderBy('number', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toRevision(row) : null;
  }

  /**
   * Every row of this store names a model, and the database refuses (foreign key) a row whose model
   * does not exist: that refusal is the store's MODEL_NOT_FOUND, with no read of the registry's table.
   */
  private write<T>(model: string, work: (trx: Transaction<DeploymentTables>) => Promise<T>): Promise<T> {
    return writeTransaction(this.db, this.immediate, work).catch((error: unknown) => {
      if (!isForeignKeyViolation(error)) throw error;
      throw new SlipwayError('MODEL_NOT_FOUND', `Model "${model}" does not exist.`, { model });
    });
  }
}

/** The next value of a table's sequence column; callers hold `lockAppends(table)`, so it cannot race. */
async function nextSeq(trx: Executor, table: 'revisions'): Promise<number> {
  const row = await trx
    .selectFrom(table)
    .select(({ fn }) => fn.max('seq').as('seq'))
    .executeTakeFirst();
  return Number(row?.seq ?? 0) + 1;
}

const wireTraffic = (revision: Pick<Revision, 'traffic' | 'tags' | 'shadow'>) => ({
  traffic: revision.traffic,
  tags: revision.tags,
  shadow: revision.shadow,
});

function toRevision(row: Selectable<DeploymentTables['revisions']>): Revision {
  return {
    model: row.model_name,
    environment: row.environment,
    number: Number(row.number),
    traffic: JSON.parse(row.traffic),
    tags: JSON.parse(row.tags),
    shadow: row.shadow ? JSON.parse(row.shadow) : null,
    kind: row.kind as RevisionKind,
    actor: row.actor,
    reason: row.reason,
    promotionId: row.promotion_id,
    requestId: row.request_id,
    createdAt: row.created_at,
  };
}

const leaseRow = (lease: PromotionLease | undefined) => ({
  holder: lease?.holder ?? null,
  lease_until: lease?.until ?? null,
});

function promotionRow(p: Promotion): Omit<DeploymentTables['promotions'], 'holder' | 'lease_until'> {
  return {
    id: p.id,
    model_name: p.model,
    environment: p.environment,
    version: p.version,
    status: p.status,
    requested_by: p.requestedBy,
    reason: p.reason,
    options: JSON.stringify(p.options),
    gate_results: JSON.stringify(p.gates),
    approval: p.approval ? JSON.stringify(p.approval) : null,
    rollout: p.rollout ? JSON.stringify(p.rollout) : null,
    baseline: p.baseline ? JSON.stringify(p.baseline) : null,
    failure: p.failure,
    request_id: p.requestId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

function toPromotion(row: Selectable<DeploymentTables['promotions']>): Promotion {
  return {
    id: row.id,
    model: row.model_name,
    environment: row.environment,
    version: Number(row.version),
    status: row.status as Promotion['status'],
    requestedBy: row.requested_by,
    reason: row.reason,
    options: JSON.parse(row.options),
    gates: JSON.parse(row.gate_results),
    approval: row.approval ? JSON.parse(row.approval) : null,
    rollout: row.rollout ? JSON.parse(row.rollout) : null,
    baseline: row.baseline ? JSON.parse(row.baseline) : null,
    failure: row.failure,
    requestId: row.request_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
