import { type Static, Type } from '@sinclair/typebox';
import type { AuditEvent } from '../../domain/promotion.js';
import { NextPageToken, Nullable, PageQuery } from './common.js';

/** The audit area of the control API (`/api/v1/audit`): who did what to what, when, and how it ended. */

export const AuditEventSchema = Type.Object(
  {
    seq: Type.Integer(),
    time: Type.String({ format: 'date-time' }),
    actor: Type.String(),
    action: Type.String({ description: 'Dotted verb, e.g. `version.push`, `promotion.approve`.' }),
    target: Type.String(),
    before: Type.Unknown(),
    after: Type.Unknown(),
    result: Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('denied')]),
    request_id: Nullable(Type.String()),
    details: Nullable(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'AuditEvent' },
);

export const AuditQuery = Type.Object({
  target: Type.Optional(Type.String({ maxLength: 300 })),
  actor: Type.Optional(Type.String({ maxLength: 200 })),
  action: Type.Optional(Type.String({ maxLength: 100, description: 'An action, or a prefix ending in `.`' })),
  ...PageQuery,
});

export const AuditPage = Type.Object({
  events: Type.Array(Type.Ref(AuditEventSchema)),
  next_page_token: NextPageToken,
});

export type WireAuditEvent = Static<typeof AuditEventSchema>;
export type WireAuditPage = Static<typeof AuditPage>;

export function toWireAudit(e: AuditEvent): WireAuditEvent {
  return {
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    target: e.target,
    before: e.before,
    after: e.after,
    result: e.result,
    request_id: e.requestId,
    details: e.details ? { ...e.details } : null,
  };
}
