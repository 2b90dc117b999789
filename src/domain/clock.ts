/** Cancels a scheduled callback; calling it after the callback ran does nothing. */
export type Cancel = () => void;

/**
 * Time as the deployment code sees it: what time it is, and running something later. Code that
 * reads the time or waits takes a Clock, so tests can move time forward instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Runs `task` once, `ms` from now. A task that returns a promise is finished when it settles;
   * scheduled tasks never keep the process alive on their own.
   */
  schedule(ms: number, task: () => void | Promise<void>): Cancel;
}

/** The wall clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, task) {
    const timer = setTimeout(() => void task(), ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** The clock's time as an ISO 8601 string, the form timestamps are stored in. */
export const isoNow = (clock: Clock): string => new Date(clock.now()).toISOString();
