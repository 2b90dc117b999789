/** The audit trail's table as Kysely sees it (created by migration 0002_deployments). */
export interface AuditTables {
  audit_events: {
    seq: number;
    time: string;
    actor: string;
    action: string;
    target: string;
    before: string | null;
    after: string | null;
    result: string;
    request_id: string | null;
    details: string | null;
  };
}
