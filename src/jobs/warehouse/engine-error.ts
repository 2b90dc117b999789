import { SlipwayError } from '../../errors/index.js';
import { maskConnectionString } from './references.js';

/** How much of an engine's message a run error keeps. */
const MAX_MESSAGE = 300;
/** A quoted word kept as is: a column, table or type name. Anything else quoted may be data. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * An engine's error message in a form fit for viewers: its first line only (DuckDB's CSV sniffer and
 * PostgreSQL's DETAIL print lines of the file or rows below it), every single-quoted value replaced by
 * `'…'` and every double-quoted text that is not a plain identifier by `"…"` (DuckDB's "Could not
 * convert string 'root:x:0:0…'", PostgreSQL's `invalid input syntax: "…"`), connection secrets
 * masked, and at most 300 characters. What remains says which kind of error it was and where, never
 * what a file or a row held.
 */
export function safeEngineMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const line = raw.split(/\r?\n/, 1)[0] ?? '';
  const masked = maskConnectionString(line)
    .replace(/'(?:[^']|'')*'?/g, "'…'")
    .replace(/"((?:[^"]|"")*)"?/g, (quoted, inner: string) => (IDENTIFIER.test(inner) ? quoted : '"…"'));
  return masked.length > MAX_MESSAGE ? `${masked.slice(0, MAX_MESSAGE)}…` : masked;
}

/**
 * A warehouse engine's refusal of a job's SQL, as the job's error (`INVALID_ARGUMENT`, or `UNAVAILABLE`
 * when the engine says so), with the message reduced by `safeEngineMessage`.
 */
export function engineError(
  engine: string,
  error: unknown,
  what: string,
  options: { unavailable?: boolean; details?: Record<string, unknown> } = {},
): SlipwayError {
  if (error instanceof SlipwayError) return error;
  return new SlipwayError(
    options.unavailable ? 'UNAVAILABLE' : 'INVALID_ARGUMENT',
    `${engine} refused ${what}: ${safeEngineMessage(error)}`,
    { warehouse: engine.toLowerCase(), ...options.details },
  );
}
