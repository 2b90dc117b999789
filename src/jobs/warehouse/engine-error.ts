import { SlipwayError } from '../../errors/index.js';
import { maskConnectionString } from './references.js';

/** How much of an engine's message a run error keeps. */
const MAX_MESSAGE = 300;
/** A quoted word kept as is: a column, table or type name. Anything else quoted may be data. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * DuckDB's kinds of error whose message speaks of the query's text, the files it names or the engine,
 * never of a value it read: the parser and binder raise them before the first row is read (DuckDB
 * refuses a non-constant table name, sequence, setting or path at bind time). Every other kind
 * (`Conversion`, `Invalid Input`, `Out of Range`, `Constraint`…) may quote a row or a file, bare
 * (`error(content)`, a regular expression built from data) as well as quoted.
 */
const DUCKDB_QUERY_KINDS = new Set([
  'Parser',
  'Binder',
  'Catalog',
  'Not implemented',
  'Permission',
  'IO',
  'Out of Memory',
  'Interrupt',
  'Transaction',
  'Connection',
  'HTTP',
]);

/**
 * PostgreSQL's SQLSTATE classes whose message speaks of the statement, the connection or the server,
 * never of a row: connection (08), unsupported feature (0A), transaction state (25), authorization
 * (28), catalog and schema names (3D, 3F), resources (53, 54), operator intervention (57) and syntax or
 * access (42). A cast to `regclass` raises class 42 from a row's value, so class 42 keeps no quoted
 * text at all. Every other class (22 data exception, 23 integrity, P0 raised by a function…) may
 * quote a row.
 */
const POSTGRES_QUERY_CLASSES = new Set(['08', '0A', '25', '28', '3D', '3F', '53', '54', '57', '42']);

const DUCKDB_KIND = /^([A-Za-z][A-Za-z ]*?) Error: /;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * An engine's error message in a form fit for viewers. The message is kept only when its kind says
 * it cannot hold data (see DUCKDB_QUERY_KINDS and POSTGRES_QUERY_CLASSES); otherwise only the kind
 * remains (`Conversion Error`, `SQLSTATE 22P02`). A kept message is cut to its first line (DuckDB's
 * CSV sniffer and PostgreSQL's DETAIL print lines of the file or rows below it), every single-quoted
 * value is shown as `'…'`, every double-quoted text as `"…"` (a plain identifier survives only in
 * DuckDB's parser, binder and catalog errors, which name what the query wrote), connection secrets
 * are masked, and at most 300 characters remain. What remains says which kind of error it was and
 * where, never what a file or a row held.
 */
export function safeEngineMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const line = raw.split(/\r?\n/, 1)[0] ?? '';
  const code = (error as { code?: unknown } | null)?.code;
  const kind = DUCKDB_KIND.exec(line)?.[1];
  let keepIdentifiers = false;
  if (typeof code === 'string' && SQLSTATE.test(code)) {
    if (!POSTGRES_QUERY_CLASSES.has(code.slice(0, 2))) return withheld(`SQLSTATE ${code}`);
  } else if (kind !== undefined) {
    if (!DUCKDB_QUERY_KINDS.has(kind)) return withheld(`${kind} Error`);
    keepIdentifiers = kind === 'Parser' || kind === 'Binder' || kind === 'Catalog';
  }
  const masked = maskConnectionString(line)
    .replace(/'(?:[^']|'')*'?/g, "'…'")
    .replace(/"((?:[^"]|"")*)"?/g, (quoted, inner: string) =>
      keepIdentifiers && IDENTIFIER.test(inner) ? quoted : '"…"',
    );
  return masked.length > MAX_MESSAGE ? `${masked.slice(0, MAX_MESSAGE)}…` : masked;
}

const withheld = (kind: string) => `${kind} (the engine's message is withheld: it may quote the data read)`;

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
