import type { Page, PageRequest } from '../domain/page.js';
import type { AuditEvent, NewAuditEvent } from '../domain/promotion.js';

export interface AuditQuery extends PageRequest {
  readonly target?: string;
  readonly actor?: string;
  /** Action, or a prefix ending in `.` (`promotion.`). */
  readonly action?: string;
}

/**
 * The audit trail: who did what to what, when, and how it ended. Append-only: events are recorded
 * and listed, never changed. (A revision's event is written by the deployment store, in the
 * revision's own transaction, into the same trail.)
 */
export interface AuditStore {
  /** Appends an event, numbering it after every earlier one. */
  record(event: NewAuditEvent): Promise<AuditEvent>;
  /** Newest first. */
  list(query: AuditQuery): Promise<Page<AuditEvent>>;
}
