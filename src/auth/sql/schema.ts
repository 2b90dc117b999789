/** The API tokens' table as Kysely sees it (created by migration 0002_deployments). */
export interface TokenTables {
  tokens: {
    id: string;
    name: string;
    role: string;
    hash: string;
    created_by: string;
    created_at: string;
    revoked_at: string | null;
  };
}
