import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Cancel, Clock } from '../domain/clock.js';
import type { DeploymentStore, PromotionLease } from './deployment-store.js';

/**
 * This process's holds on the promotions it is gating and deploying. A hold is a lease in the
 * registry, renewed every third of its length while the work runs; when the process dies the
 * renewals stop, the lease lapses, and recovery (on any server) knows the promotion is orphaned.
 */
export class PromotionLeases {
  /** Names this process in the promotions it holds; unique across restarts and servers. */
  private readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly renewals = new Map<string, Cancel>();

  constructor(
    private readonly store: Pick<DeploymentStore, 'renewPromotionLease'>,
    private readonly clock: Clock,
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** A lease for this process from now; pass it when creating or moving a promotion into GATING. */
  lease(): PromotionLease {
    return { holder: this.holder, until: new Date(this.clock.now() + this.leaseMs).toISOString() };
  }

  /** Keeps renewing the hold on `id` until the returned function is called. */
  hold(id: string): () => void {
    const renewLater = () => {
      this.renewals.set(
        id,
        this.clock.schedule(Math.max(1, Math.floor(this.leaseMs / 3)), async () => {
          if (!this.renewals.has(id)) return;
          const held = await this.store.renewPromotionLease(id, this.lease()).catch((error: unknown) => {
            // A missed renewal is not fatal: the next one comes well within the lease.
            this.logger.warn({ promotion: id, err: error }, 'could not renew a promotion lease');
            return true;
          });
          if (held && this.renewals.has(id)) renewLater();
        }),
      );
    };
    renewLater();
    return () => {
      this.renewals.get(id)?.();
      this.renewals.delete(id);
    };
  }

  /** Stops every renewal (shutdown); the leases then lapse. */
  stop(): void {
    for (const cancel of this.renewals.values()) cancel();
    this.renewals.clear();
  }
}
