import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Leadership } from '../../src/leadership/leadership.js';
import type { Lease, LeaseStore } from '../../src/leadership/lease-store.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An in-memory lease store whose calls can be made to hang (a network partition: no error, no answer). */
class MemoryLeases implements LeaseStore {
  rows = new Map<string, Lease>();
  hang = false;
  async acquireLease(name: string, holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    if (this.hang) return new Promise(() => {});
    const row = this.rows.get(name);
    if (!row || row.holder === holder || row.untilMs < nowMs) {
      this.rows.set(name, {
        name,
        holder,
        untilMs,
        acquiredMs: row?.holder === holder ? row.acquiredMs : nowMs,
      });
    }
    return this.rows.get(name)?.holder === holder;
  }
  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.rows.get(name)?.holder === holder) this.rows.delete(name);
  }
  async liveLeases(prefix: string, nowMs: number): Promise<Lease[]> {
    return [...this.rows.values()].filter((l) => l.name.startsWith(prefix) && l.untilMs >= nowMs);
  }
  async pruneLeases(prefix: string, beforeMs: number): Promise<number> {
    const lapsed = [...this.rows.values()].filter((l) => l.name.startsWith(prefix) && l.untilMs < beforeMs);
    for (const lease of lapsed) this.rows.delete(lease.name);
    return lapsed.length;
  }
}

describe('Leadership', () => {
  it('puts the work down before its hold lapses even when a renewal never answers', async () => {
    // Two replicas on one registry; A's connection to the database stalls (no error, no answer).
    const shared = new MemoryLeases();
    const aStore: LeaseStore = {
      acquireLease: (...args) => (aHangs ? new Promise(() => {}) : shared.acquireLease(...args)),
      releaseLease: (...args) => shared.releaseLease(...args),
      liveLeases: (...args) => shared.liveLeases(...args),
      pruneLeases: (...args) => shared.pruneLeases(...args),
    };
    let aHangs = false;
    const working = { a: false, b: false };
    const a = new Leadership({
      store: aStore,
      replica: 'a',
      leaseMs: 300,
      logger,
      onLead: async () => {
        working.a = true;
      },
      onLose: async () => {
        working.a = false;
      },
    });
    const b = new Leadership({
      store: shared,
      replica: 'b',
      leaseMs: 300,
      logger,
      onLead: async () => {
        working.b = true;
      },
      onLose: async () => {
        working.b = false;
      },
    });
    await a.start();
    await b.start();
    expect(working).toEqual({ a: true, b: false });
    aHangs = true;
    await sleep(1000); // more than three leases
    try {
      // B took the lapsed lease over; A, whose renewal is still pending, must have put its work down.
      expect(working.b).toBe(true);
      expect(working.a).toBe(false);
    } finally {
      await b.stop();
    }
  });

  it('gives the lead up (or tries again) when taking up the work failed', async () => {
    const store = new MemoryLeases();
    let attempts = 0;
    const a = new Leadership({
      store,
      replica: 'a',
      leaseMs: 300,
      logger,
      onLead: async () => {
        attempts += 1;
        // e.g. cleanupStaging on S3 or failPendingVersions hitting a transient error
        if (attempts === 1) throw new Error('S3 ListObjectsV2: socket hang up');
      },
      onLose: async () => {},
    });
    await a.start();
    await sleep(800);
    try {
      // It still holds the lease, so no other replica can lead; and it never retries onLead.
      expect(a.isLeading && attempts === 1).toBe(false);
    } finally {
      await a.stop();
    }
  });
});
