import { isAbsolute, normalize, sep } from 'node:path';

/**
 * Warehouse references as jobs and slipway.yaml spell them. No driver is loaded here: the CLI and the
 * configuration use these without opening DuckDB or PostgreSQL (warehouse-for-uri.ts opens them).
 */
export const WAREHOUSE_SCHEMES = ['duckdb:', 'files:', 'postgres://', 'postgresql://'] as const;

/** The warehouse every server has: a DuckDB file in the data directory. */
export const DEFAULT_WAREHOUSE = 'default';

/** Whether a reference is well formed (a declared name, `default`, or a URI of a known scheme). */
export function isWarehouseReference(reference: string, named: Readonly<Record<string, string>>): boolean {
  return (
    reference === DEFAULT_WAREHOUSE ||
    reference in named ||
    WAREHOUSE_SCHEMES.some((scheme) => reference.startsWith(scheme))
  );
}

/** Keys whose value is a secret, in a URI's query string or a `key=value` connection string. */
const SECRET_KEYS = 'password|passwd|pwd|pass|sslpassword|secret|token|api[_-]?key|access[_-]?key';

/**
 * `scheme://user:secret@host`: everything between the user's colon and the last `@` of the URI is
 * the password, so a password holding `@`, `:` or `/` is masked whole.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s]*@/gi;
/**
 * A bare reference (the text is one URI): its password runs to the last `@`, whatever it holds, even
 * spaces (in free text, a space ends the URI instead).
 */
const REFERENCE_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[\s\S]*@/i;
/** A secret inside a percent-encoded value (`?options=-c%20password%3Dpw`). */
const ENCODED_SECRET = new RegExp(
  `((?:${SECRET_KEYS})%3D)[^&#\\s%]*(?:%(?!26|23)[0-9a-f]{2}[^&#\\s%]*)*`,
  'gi',
);
/** `?password=…` and `&sslpassword=…` in a URI: the value runs to the next `&`, `#` or space. */
const QUERY_SECRET = new RegExp(`([?&](?:${SECRET_KEYS})=)[^&#\\s]*`, 'gi');
/** `password=…` in a libpq `key=value` string: a quoted value (with `\\'` escapes) or one word. */
const KEYWORD_SECRET = new RegExp(
  `(^|[\\s;,])((?:${SECRET_KEYS})\\s*=\\s*)(?:'(?:[^'\\\\]|\\\\.)*'?|"(?:[^"\\\\]|\\\\.)*"?|[^\\s;,]*)`,
  'gi',
);

/**
 * A connection string, or any text that may hold one, with every password masked as `***`: URI user
 * info (`postgres://u:pw@host`, `postgresql://…`, any scheme), secret query parameters
 * (`?password=`, `sslpassword=`…) and `key=value` strings (`host=db password='a b'`). The one function
 * every warehouse reference and engine message passes before it reaches a log, an API answer, an
 * error or the CLI.
 */
export function maskConnectionString(text: string): string {
  return text
    .replace(REFERENCE_USERINFO, '$1***@')
    .replace(USERINFO, '$1***@')
    .replace(ENCODED_SECRET, '$1***')
    .replace(QUERY_SECRET, '$1***')
    .replace(KEYWORD_SECRET, '$1$2***');
}

/**
 * Whether a reference names a place of the caller's choosing rather than one the operator set up: a
 * database server (`postgres://…`), or a `duckdb:`/`files:` path that is absolute or climbs out of the
 * data folder. `default` and the names declared in slipway.yaml are the operator's own. A job that
 * names such a place reads (and writes) wherever it points, so only an admin may save one.
 */
export function namesOutsidePlace(reference: string, named: Readonly<Record<string, string>>): boolean {
  if (reference === DEFAULT_WAREHOUSE || reference in named) return false;
  if (reference.startsWith('postgres://') || reference.startsWith('postgresql://')) return true;
  const scheme = ['duckdb:', 'files:'].find((prefix) => reference.startsWith(prefix));
  if (scheme === undefined) return true;
  const path = reference.slice(scheme.length).split('?', 1)[0] ?? '';
  if (isAbsolute(path) || path.includes('\\')) return true;
  const inside = normalize(path);
  return inside === '..' || inside.startsWith(`..${sep}`);
}
