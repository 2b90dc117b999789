/** The wait after the first failed attempt, before jitter; it doubles with each failure. */
export const BACKOFF_BASE_MS = 1000;
/** No wait between attempts is longer than this, whatever the attempt or the receiver's Retry-After. */
export const BACKOFF_MAX_MS = 60_000;

/**
 * How long to wait after `failures` failed attempts (1 or more): base·2^(failures-1), capped, with
 * "equal jitter": a random point in the upper half of that, so webhooks that failed together (a
 * receiver restarting) do not all come back at the same moment, yet each wait stays at least half
 * the schedule's.
 */
export function backoffDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The wait a `Retry-After` header asks for (delay-seconds or an HTTP date), within the cap; null
 * when there is none or it cannot be read, so the backoff schedule applies.
 */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, BACKOFF_MAX_MS);
  // Every HTTP-date form starts with a day name; Date.parse alone would take "-5" for a year.
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) return null;
  return Math.min(Math.max(0, at - now), BACKOFF_MAX_MS);
}
