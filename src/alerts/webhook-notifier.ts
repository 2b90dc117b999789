import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Alert, AlertSink } from '../domain/alert.js';
import { SLIPWAY_VERSION } from '../version.js';
import { webhookBody } from './alert-body.js';
import type { WebhookSpec } from './alert-config.js';
import { backoffDelayMs, retryAfterMs } from './backoff.js';

export interface WebhookNotifierOptions {
  readonly webhooks: readonly WebhookSpec[];
  readonly logger: Logger;
  /** Deliveries per webhook not yet finished (sending or waiting to retry) past which new ones are dropped. */
  readonly capacity?: number;
  /** How long one attempt may take, connection included. */
  readonly attemptTimeoutMs?: number;
  /** How long `close` waits for unfinished deliveries before abandoning them. */
  readonly closeGraceMs?: number;
  /** The wait after a number of failed attempts; `backoffDelayMs` unless a test shortens it. */
  readonly backoff?: (failures: number) => number;
}

/** Requests in flight to one webhook at a time: a burst of alerts does not open a socket each. */
const CONCURRENCY = 4;

/** How one attempt ended. */
type Attempt =
  | { readonly delivered: true }
  | {
      readonly delivered: false;
      /** Whether another attempt may succeed (network errors, timeouts, 5xx, 429). */
      readonly retry: boolean;
      readonly why: string;
      readonly retryAfterMs: number | null;
    };

/**
 * Sends alerts to the webhooks of slipway.yaml `alerts:`. `notify` only queues: each delivery runs on
 * its own, so the action that raised an alert never waits for a receiver. A delivery makes up to the
 * webhook's `max_attempts` POSTs, each cut off after a timeout, retrying network errors, timeouts,
 * 5xx and 429 with exponential backoff and jitter (or the receiver's Retry-After, within a cap); any
 * other answer is final. A delivery that ends undelivered is logged as a warning naming the webhook
 * by name and origin only, since a webhook URL's path and query are often its credential.
 */
export class WebhookNotifier implements AlertSink {
  private readonly hooks: readonly Hook[];
  private readonly unfinished = new Set<Promise<void>>();
  /** Aborts every attempt and wait once `close` has given up waiting. */
  private readonly stopping = new AbortController();
  private closed = false;
  private readonly capacity: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoff: (failures: number) => number;

  constructor(private readonly options: WebhookNotifierOptions) {
    this.hooks = options.webhooks.map((spec) => ({
      spec,
      origin: new URL(spec.url).origin,
      pending: 0,
      slots: new Slots(CONCURRENCY),
    }));
    this.capacity = options.capacity ?? 500;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
    this.backoff = options.backoff ?? backoffDelayMs;
  }

  notify(alert: Alert): void {
    for (const hook of this.hooks) {
      if (!hook.spec.events.includes(alert.kind)) continue;
      const about = { webhook: hook.spec.name, target: hook.origin, event: alert.kind };
      if (this.closed) {
        this.options.logger.warn(about, 'alert dropped: the server is stopping');
        continue;
      }
      if (hook.pending >= this.capacity) {
        this.options.logger.warn(
          { ...about, pending: hook.pending },
          'alert dropped: too many deliveries to this webhook are unfinished',
        );
        continue;
      }
      hook.pending += 1;
      const delivery = this.deliver(hook, alert)
        .catch((error: unknown) => this.options.logger.warn({ ...about, err: error }, 'alert not delivered'))
        .finally(() => {
          hook.pending -= 1;
          this.unfinished.delete(delivery);
        });
      this.unfinished.add(delivery);
    }
  }

  /**
   * Takes no more alerts, waits up to `closeGraceMs` (default 2 s) for unfinished deliveries, then
   * abandons the rest (each logged as not delivered).
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.unfinished.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.unfinished]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.options.closeGraceMs ?? 2000);
        }),
      ]);
      clearTimeout(timer);
    }
    this.stopping.abort();
    await Promise.allSettled([...this.unfinished]);
  }

  private async deliver(hook: Hook, alert: Alert): Promise<void> {
    const body = webhookBody(hook.spec.format, alert);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `Slipway/${SLIPWAY_VERSION}`,
      'x-slipway-event': alert.kind,
      // The same on every attempt: a receiver that saw an attempt time out on our side can drop the repeat.
      'x-slipway-delivery': randomUUID(),
    };
    if (hook.spec.secret !== null) {
      headers['x-slipway-signature'] =
        `sha256=${createHmac('sha256', hook.spec.secret).update(body).digest('hex')}`;
    }
    let attempts = 0;
    let why = '';
    for (;;) {
      attempts += 1;
      const outcome = await this.attempt(hook, body, headers);
      if (outcome.delivered) return;
      why = outcome.why;
      if (!outcome.retry || attempts >= hook.spec.maxAttempts || this.stopping.signal.aborted) break;
      if (!(await this.wait(outcome.retryAfterMs ?? this.backoff(attempts)))) {
        why = `${why}; the server stopped before the next attempt`;
        break;
      }
    }
    this.options.logger.warn(
      { webhook: hook.spec.name, target: hook.origin, event: alert.kind, attempts, reason: why },
      'alert not delivered',
    );
  }

  private async attempt(hook: Hook, body: string, headers: Record<string, string>): Promise<Attempt> {
    const stopped = {
      delivered: false,
      retry: false,
      why: 'the server stopped',
      retryAfterMs: null,
    } as const;
    if (!(await hook.slots.take(this.stopping.signal))) return stopped;
    try {
      const response = await fetch(hook.spec.url, {
        method: 'POST',
        headers,
        body,
        // A redirect could carry the signed body somewhere the operator never configured.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.attemptTimeoutMs), this.stopping.signal]),
      });
      // The answer's body is not read; cancelling it frees the connection at once.
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { delivered: true };
      const retry = response.status >= 500 || response.status === 429;
      return {
        delivered: false,
        retry,
        why: `answered ${response.status}`,
        retryAfterMs: retry ? retryAfterMs(response.headers.get('retry-after'), Date.now()) : null,
      };
    } catch (error) {
      if (this.stopping.signal.aborted) return stopped;
      // Only the error's name or code: undici's messages can carry the URL.
      const name = (error as Error).name;
      const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      const why =
        name === 'TimeoutError'
          ? `no answer within ${this.attemptTimeoutMs} ms`
          : `network error${code ? ` (${code})` : ''}`;
      return { delivered: false, retry: true, why, retryAfterMs: null };
    } finally {
      hook.slots.give();
    }
  }

  /** Waits `ms`; false if the notifier stopped meanwhile. */
  private wait(ms: number): Promise<boolean> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (waited: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
        resolve(waited);
      };
      const stop = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      signal.addEventListener('abort', stop);
    });
  }
}

interface Hook {
  readonly spec: WebhookSpec;
  /** Scheme, host and port: all of the URL that logs may show. */
  readonly origin: string;
  pending: number;
  readonly slots: Slots;
}

/** A counting semaphore whose waiters give up when a signal aborts. */
class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  /** Resolves true once a slot is taken, or false if `signal` aborts first. */
  take(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const granted = () => {
        signal.removeEventListener('abort', aborted);
        resolve(true);
      };
      const aborted = () => {
        this.waiting.splice(this.waiting.indexOf(granted), 1);
        resolve(false);
      };
      this.waiting.push(granted);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}
