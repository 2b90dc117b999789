import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Page } from '../../domain/page.js';
import type { AuditEvent, NewAuditEvent } from '../../domain/promotion.js';
import { lockAppends, paging, toPage, writeTransaction } from '../../storage/sql-support.js';
import type { AuditQuery, AuditStore } from '../audit-store.js';
import type { AuditTables } from './schema.js';

type Db = Kysely<AuditTables>;

/** `AuditStore` on the registry's own database (table `audit_events`). */
export class SqlAuditStore implements AuditStore {
  constructor(
    private readonly db: Db,
    private readonly immediate: boolean,
  ) {}

  record(event: NewAuditEvent): Promise<AuditEvent> {
    return writeTransaction(this.db, this.immediate, (trx) => insertAuditEvent(trx, event));
  }

  async list(query: AuditQuery): Promise<Page<AuditEvent>> {
    const { limit, offset } = paging(query);
    const action = query.action;
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .$if(query.target !== undefined, (q) => q.where('target', '=', query.target as string))
      .$if(query.actor !== undefined, (q) => q.where('actor', '=', query.actor as string))
      .$if(action !== undefined, (q) =>
        action?.endsWith('.')
          ? q.where('action', '>=', action).where('action', '<', `${action.slice(0, -1)}/`)
          : q.where('action', '=', action as string),
      )
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    return toPage(rows.map(toAudit), limit, offset);
  }
}

/**
 * Inserts one audit event inside a write transaction the caller holds, so an event can commit
 * together with the change it records (a revision). Appends to the trail are serialized until the
 * transaction ends (`lockAppends`), so `seq` has no gaps and commits in order.
 */
export async function insertAuditEvent(
  trx: Transaction<AuditTables>,
  event: NewAuditEvent,
): Promise<AuditEvent> {
  await lockAppends(trx, 'audit_events');
  const last = await trx
    .selectFrom('audit_events')
    .select(({ fn }) => fn.max('seq').as('seq'))
    .executeTakeFirst();
  const stored: AuditEvent = {
    seq: Number(last?.seq ?? 0) + 1,
    time: new Date().toISOString(),
    actor: event.actor,
    action: event.action,
    target: event.target,
    before: event.before ?? null,
    after: event.after ?? null,
    result: event.result,
    requestId: event.requestId ?? null,
    details: event.details ?? null,
  };
  await trx
    .insertInto('audit_events')
    .values({
      seq: stored.seq,
      time: stored.time,
      actor: stored.actor,
      action: stored.action,
      target: stored.target,
      before: stored.before === null ? null : JSON.stringify(stored.before),
      after: stored.after === null ? null : JSON.stringify(stored.after),
      result: stored.result,
      request_id: stored.requestId,
      details: stored.details === null ? null : JSON.stringify(stored.details),
    })
    .execute();
  return stored;
}

function toAudit(row: Selectable<AuditTables['audit_events']>): AuditEvent {
  return {
    seq: Number(row.seq),
    time: row.time,
    actor: row.actor,
    action: row.action,
    target: row.target,
    before: row.before === null ? null : JSON.parse(row.before),
    after: row.after === null ? null : JSON.parse(row.after),
    result: row.result as AuditEvent['result'],
    requestId: row.request_id,
    details: row.details === null ? null : JSON.parse(row.details),
  };
}
