import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Lease, LeaseStore } from './lease-store.js';

/** The lease of the lead: batch jobs, rollout analysis, promotion recovery, drift checks. */
export const LEAD = 'lead';
/** Each running process's heartbeat lease is named this prefix and its holder id. */
export const HEARTBEAT = 'replica:';

export interface LeadershipOptions {
  readonly store: LeaseStore;
  /** This server's name (SLIPWAY_REPLICA_NAME); the holder id adds the process and a random part. */
  readonly replica: string;
  /** How long a hold lasts without renewal; it is renewed every third of it. */
  readonly leaseMs: number;
  /** Takes up the lead's work; called once each time this process becomes the lead. */
  readonly onLead: () => Promise<void>;
  /** Puts the lead's work down; called when the lead is lost or given up, after `onLead` finished. */
  readonly onLose: () => Promise<void>;
  readonly logger: Logger;
  /** Wall-clock time; leases are compared across machines, so never a test's clock. */
  readonly now?: () => number;
}

/** One replica's view of the cluster: who leads, and which replicas are alive. */
export interface ClusterView {
  readonly lead: { readonly replica: string; readonly holder: string; readonly since: string } | null;
  readonly replicas: readonly { readonly replica: string; readonly holder: string; readonly until: string }[];
}

/**
 * Exactly one process among every server sharing the registry leads at a time. Every process tries
 * to take the `lead` lease every third of a lease; the one that holds it renews it on the same beat
 * and does the lead's work. When it dies its renewals stop, and another takes over within one lease;
 * when it stops cleanly it gives the lease up, and another takes over within a third of one. A lead
 * that cannot renew in time (the database unreachable, the process stalled) puts the work down
 * before its hold lapses, so two never work at once as long as clocks agree to within a third of a
 * lease. Every process also keeps a heartbeat lease, which is how replicas see each other.
 */
export class Leadership {
  readonly holder: string;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private heldUntil = 0;
  private leading = false;
  private stopped = false;
  /** Lead and lose run one after the other, never interleaved. */
  private transitions: Promise<void> = Promise.resolve();

  constructor(private readonly options: LeadershipOptions) {
    this.holder = `${options.replica}/${process.pid}/${randomBytes(3).toString('hex')}`;
    this.now = options.now ?? Date.now;
  }

  /** Whether this process leads now. */
  get isLeading(): boolean {
    return this.leading;
  }

  /**
   * Tries for the lead at once, then every third of a lease until `stop`. Resolves once this process
   * has either taken up the lead's work or found another process leading.
   */
  async start(): Promise<void> {
    if (this.stopped) return;
    await this.beat();
    await this.transitions;
    this.schedule();
  }

  /** Stops trying, puts the lead's work down and gives the leases up. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) await this.lose('the server is stopping');
    await this.transitions;
    const { store } = this.options;
    await Promise.allSettled([
      store.releaseLease(LEAD, this.holder),
      store.releaseLease(HEARTBEAT + this.holder, this.holder),
    ]);
  }

  /** Who leads and which processes are alive, as the registry says now. */
  async view(): Promise<ClusterView> {
    const now = this.now();
    const [lead] = await this.options.store.liveLeases(LEAD, now);
    const beats = await this.options.store.liveLeases(HEARTBEAT, now);
    return {
      lead:
        lead && lead.name === LEAD
          ? { replica: replicaOf(lead), holder: lead.holder, since: new Date(lead.acquiredMs).toISOString() }
          : null,
      replicas: beats.map((beat) => ({
        replica: replicaOf(beat),
        holder: beat.holder,
        until: new Date(beat.untilMs).toISOString(),
      })),
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      async () => {
        await this.beat();
        this.schedule();
      },
      Math.max(1, Math.floor(this.options.leaseMs / 3)),
    );
    this.timer.unref();
  }

  /** One beat: renew the heartbeat, and take or renew the lead. */
  private async beat(): Promise<void> {
    const { store, leaseMs, logger } = this.options;
    const now = this.now();
    const until = now + leaseMs;
    try {
      await store.acquireLease(HEARTBEAT + this.holder, this.holder, now, until);
      const held = await store.acquireLease(LEAD, this.holder, now, until);
      if (this.stopped) {
        // Stopped while asking: give back what was just taken.
        await store.releaseLease(LEAD, this.holder);
        await store.releaseLease(HEARTBEAT + this.holder, this.holder);
        return;
      }
      if (held) {
        this.heldUntil = until;
        // Not awaited: taking up the work may take longer than a beat, and the beats go on.
        if (!this.leading) void this.lead();
      } else if (this.leading) {
        void this.lose('another process took the lead');
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not renew the lead lease; retrying');
      // Without a renewal, the hold lapses at heldUntil: put the work down a beat before that.
      if (this.leading && this.now() >= this.heldUntil - leaseMs / 3) {
        void this.lose('the lead lease could not be renewed');
      }
    }
  }

  private lead(): Promise<void> {
    this.leading = true;
    this.options.logger.info(
      { holder: this.holder },
      'this process leads: batch jobs, rollouts, drift checks',
    );
    this.transitions = this.transitions.then(() =>
      this.options.onLead().catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'could not take up the lead');
      }),
    );
    return this.transitions;
  }

  private lose(reason: string): Promise<void> {
    this.leading = false;
    this.options.logger.warn({ holder: this.holder, reason }, 'this process no longer leads');
    this.transitions = this.transitions.then(() =>
      this.options.onLose().catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'could not put the lead down');
      }),
    );
    return this.transitions;
  }
}

/** The replica name part of a holder id (`replica/pid/random`). */
const replicaOf = (lease: Lease): string => lease.holder.split('/')[0] as string;
