import type { Kysely } from 'kysely';
import { writeTransaction } from '../../storage/sql-support.js';
import type { Lease, LeaseStore } from '../lease-store.js';
import type { LeaseTables } from './migrations.js';

/** `LeaseStore` on the registry's database: one row per lease, taken by a guarded upsert. */
export class SqlLeaseStore implements LeaseStore {
  constructor(
    private readonly db: Kysely<LeaseTables>,
    private readonly immediate: boolean,
  ) {}

  acquireLease(name: string, holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    return writeTransaction(this.db, this.immediate, async (trx) => {
      // One statement: the row is inserted, or updated only where the hold is ours or lapsed. Two
      // replicas racing for a lapsed lease both try it; the database orders them and the second
      // finds the first's fresh hold.
      await trx
        .insertInto('leases')
        .values({ name, holder, until_ms: untilMs, acquired_ms: nowMs })
        .onConflict((conflict) =>
          conflict
            .column('name')
            .doUpdateSet((eb) => ({
              holder: eb.ref('excluded.holder'),
              until_ms: eb.ref('excluded.until_ms'),
              acquired_ms: eb
                .case()
                .when('leases.holder', '=', eb.ref('excluded.holder'))
                .then(eb.ref('leases.acquired_ms'))
                .else(eb.ref('excluded.acquired_ms'))
                .end(),
            }))
            .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.until_ms', '<', nowMs)])),
        )
        .execute();
      const row = await trx.selectFrom('leases').select('holder').where('name', '=', name).executeTakeFirst();
      return row?.holder === holder;
    });
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  async liveLeases(prefix: string, nowMs: number): Promise<Lease[]> {
    const rows = await this.db
      .selectFrom('leases')
      .selectAll()
      .where('name', '>=', prefix)
      .where('name', '<', `${prefix}\u{10FFFF}`)
      .where('until_ms', '>=', nowMs)
      .orderBy('name')
      .execute();
    return rows.map((row) => ({
      name: row.name,
      holder: row.holder,
      untilMs: Number(row.until_ms),
      acquiredMs: Number(row.acquired_ms),
    }));
  }
}
