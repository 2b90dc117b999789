import type { Kysely, Migration } from 'kysely';

/**
 * The leadership module's schema migrations (names are global across modules; never edit one that
 * has shipped). Times are milliseconds since the epoch, `bigint` on both databases.
 */
export const leadershipMigrations: Record<string, Migration> = {
  // Named leases: the lead among replicas (one holder at a time), and each replica's heartbeat.
  '0008_leases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('until_ms', 'bigint', (c) => c.notNull())
        .addColumn('acquired_ms', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

/** The leadership module's tables as Kysely sees them. */
export interface LeaseTables {
  leases: {
    name: string;
    /** Who holds it: one process of one replica (`replica/pid/random`). */
    holder: string;
    /** When the hold lapses unless renewed. */
    until_ms: number;
    /** When this holder took it. */
    acquired_ms: number;
  };
}
