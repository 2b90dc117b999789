import type { Logger } from 'pino';
import { type Clock, systemClock } from '../domain/clock.js';
import {
  type ServedWindow,
  type ShadowStats,
  type ShadowWindow,
  sumServed,
  WINDOW_MS,
  type WindowStats,
} from '../domain/traffic.js';
import type { TrafficStats } from '../serving/traffic-stats.js';

/** Served windows as read back: the figures of one replica's window of one version. */
export type StoredServedWindow = Pick<
  ServedWindow,
  'windowStart' | 'requests' | 'failures' | 'latency' | 'predictions'
>;

/**
 * Where every replica's traffic windows are kept (the registry's database), so canary analysis on
 * any server counts the requests of all of them.
 */
export interface TrafficFigureStore {
  /** Appends one replica's windows; several writes of the same window add up. */
  writeTraffic(
    replica: string,
    windows: { served: readonly ServedWindow[]; shadow: readonly ShadowWindow[] },
  ): Promise<void>;
  /** The served windows of one version that end after `sinceMs`, every replica's. */
  servedWindows(
    environment: string,
    model: string,
    version: number,
    sinceMs: number,
  ): Promise<StoredServedWindow[]>;
  /** The shadow comparison of one revision of a deployment, summed over replicas; null when none mirrored. */
  shadowOf(environment: string, model: string, revision: number): Promise<ShadowStats | null>;
  /** Deletes windows that started before `beforeMs`; how many went. */
  pruneTraffic(beforeMs: number): Promise<number>;
}

export interface TrafficFigureOptions {
  readonly stats: TrafficStats;
  readonly store: TrafficFigureStore;
  /** Names this server's windows (SLIPWAY_REPLICA_NAME). */
  readonly replica: string;
  readonly clock?: Clock;
  /** How long windows are kept: a canary step is judged on at most this much of its traffic. */
  readonly retentionMs?: number;
  readonly logger: Logger;
}

/** Windows are kept a day. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
/** How often a server deletes windows past their retention. */
const PRUNE_EVERY_MS = 10 * 60 * 1000;

/**
 * Traffic figures as every replica counted them: this server writes the windows its `TrafficStats`
 * recorded once a window (and before every read, and when it stops), and reads come from the store,
 * where every replica's windows are summed. A server killed without a chance to write loses at most
 * its last window.
 */
export class TrafficFigures {
  private readonly clock: Clock;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(private readonly options: TrafficFigureOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Writes once a window until `stop`. */
  start(): void {
    this.timer = setInterval(() => void this.flush(), WINDOW_MS);
    this.timer.unref();
  }

  /** Stops writing on a timer, and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /**
   * Writes the windows recorded since the last write. Writes run one at a time; windows that could
   * not be written go with the next one.
   */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const windows = this.options.stats.drain();
      if (windows.served.length + windows.shadow.length > 0) {
        try {
          await this.options.store.writeTraffic(this.options.replica, windows);
        } catch (error) {
          this.options.stats.restore(windows);
          this.options.logger.warn({ err: error }, 'could not write traffic figures; retrying');
        }
      }
      await this.prune();
    });
    return this.writing;
  }

  /** One version's figures since a moment (ms since the epoch), every replica's requests counted. */
  async since(environment: string, model: string, version: number, sinceMs: number): Promise<WindowStats> {
    await this.flush();
    return sumServed(await this.options.store.servedWindows(environment, model, version, sinceMs));
  }

  /** The predictions one version answered since a moment, every replica's (the canary quality check). */
  async predictions(
    environment: string,
    model: string,
    version: number,
    sinceMs: number,
  ): Promise<(number | string)[]> {
    await this.flush();
    const windows = await this.options.store.servedWindows(environment, model, version, sinceMs);
    return windows.flatMap((w) => w.predictions);
  }

  /** The shadow comparison of a deployment's revision, every replica's mirrored requests counted. */
  async shadow(environment: string, model: string, revision: number): Promise<ShadowStats | null> {
    await this.flush();
    return this.options.store.shadowOf(environment, model, revision);
  }

  private async prune(): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    await this.options.store
      .pruneTraffic(now - (this.options.retentionMs ?? RETENTION_MS))
      .catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'could not delete old traffic figures'),
      );
  }
}
