import type { Cancel, Clock } from '../../src/domain/clock.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly task: () => void | Promise<void>;
}

/**
 * A clock that moves only when a test says so. `advance` runs every task that falls due, in time
 * order, and waits for each one (and what it schedules within the step) to finish.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(ms: number, task: () => void | Promise<void>): Cancel {
    const entry: Pending = { at: this.time + Math.max(0, ms), seq: this.seq++, task };
    this.pending.push(entry);
    return () => {
      this.pending = this.pending.filter((p) => p !== entry);
    };
  }

  /** How many tasks wait to run. */
  get scheduled(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, running each task that falls due at its own moment. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.time = Math.max(this.time, due.at);
      await due.task();
    }
    this.time = until;
  }
}
