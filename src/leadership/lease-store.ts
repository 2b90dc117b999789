/** A named lease as stored. */
export interface Lease {
  readonly name: string;
  readonly holder: string;
  /** Milliseconds since the epoch after which the hold has lapsed. */
  readonly untilMs: number;
  /** When this holder took it. */
  readonly acquiredMs: number;
}

/**
 * Named leases in the registry's database, shared by every replica: an exclusive one (the lead) is
 * held by one holder at a time, and a holder keeps it by renewing before it lapses.
 */
export interface LeaseStore {
  /**
   * Takes the lease for `holder` until `untilMs` if nobody holds it, its hold lapsed before `nowMs`,
   * or `holder` already holds it (a renewal); atomically. True when `holder` holds it afterwards.
   */
  acquireLease(name: string, holder: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` holds it, so another can take it at once. */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Leases whose name starts with `prefix` and that have not lapsed at `nowMs`. */
  liveLeases(prefix: string, nowMs: number): Promise<Lease[]>;
}
