import { DuckDBInstance } from '@duckdb/node-api';
import { SlipwayError } from '../../errors/index.js';

declare const checked: unique symbol;

/**
 * A job's source query after `checkSourceQuery` accepted it: exactly one SELECT (or WITH … SELECT,
 * VALUES, `FROM tbl`, set operations of those). Only `checkSourceQuery` makes one, and warehouses read
 * nothing else, so no path runs a query the check has not seen.
 */
export type SourceQuery = string & { readonly [checked]: true };

/**
 * Functions no source query may call, whatever its warehouse: they read or write the database
 * server's own files, reach other servers, change settings, or run SQL given as text (which the
 * parser cannot see into). DuckDB's sandbox and PostgreSQL's read-only transaction stop most of
 * them anyway; this refuses them before a run starts, with a message that says why.
 */
const REFUSED_FUNCTIONS: readonly RegExp[] = [
  /^pg_read_(binary_)?file$/,
  /^pg_ls_/,
  /^pg_stat_file$/,
  /^pg_file_/,
  /^pg_logdir_ls$/,
  /^lo_/,
  /^dblink/,
  /^set_config$/,
  /^pg_(terminate|cancel)_backend$/,
  /^pg_(reload_conf|rotate_logfile|promote|switch_wal|create_restore_point)$/,
  /^(query|cursor|database|schema)_to_xml/,
  /^query$/,
  // These run a query given as text (or as DuckDB's serialized form), out of the parser's sight.
  /^ts_stat$/,
  /^json_execute_serialized_sql$/,
];

/** The parser: an in-memory DuckDB that reaches no file, loads no extension and runs no job SQL. */
let parser: Promise<DuckDBInstance> | null = null;

function parserInstance(): Promise<DuckDBInstance> {
  parser ??= DuckDBInstance.create(':memory:', {
    enable_external_access: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    lock_configuration: 'true',
    threads: '1',
  });
  return parser;
}

interface Serialized {
  readonly error?: boolean;
  readonly error_type?: string;
  readonly error_message?: string;
  readonly statements?: readonly unknown[];
}

/**
 * Accepts a job's query only if DuckDB's parser reads it as exactly one SELECT-like statement that
 * calls none of the refused functions. The engine decides, so comments, string literals and quoted
 * identifiers holding `;` or keywords cannot fool it, and a CTE cannot hide a COPY or a write. A
 * PostgreSQL warehouse's query is parsed the same way (DuckDB's parser is PostgreSQL's), then run as
 * one statement in a read-only transaction.
 */
export async function checkSourceQuery(text: string, field = 'source.query'): Promise<SourceQuery> {
  const refuse = (why: string) =>
    new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${why} A job's query must be one SELECT (or WITH … SELECT, VALUES, FROM …) that only reads; COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA, EXPORT, CALL and statements that write are refused.`,
      { field },
    );
  const connection = await (await parserInstance()).connect();
  let serialized: Serialized;
  try {
    // The query is a bound parameter: the parser reads it, nothing executes it.
    const reader = await connection.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS ast', [text]);
    serialized = JSON.parse(String(reader.getRows()[0]?.[0]));
  } finally {
    connection.closeSync();
  }
  if (serialized.error) {
    if (serialized.error_type === 'parser') {
      throw refuse(`does not parse: ${firstLine(serialized.error_message ?? 'syntax error')}.`);
    }
    throw refuse('holds a statement that is not a SELECT.');
  }
  const statements = serialized.statements ?? [];
  if (statements.length !== 1) {
    throw refuse(
      statements.length === 0 ? 'is empty.' : `holds ${statements.length} statements; expected exactly one.`,
    );
  }
  const refused = calledFunctions(statements[0]).find((name) =>
    REFUSED_FUNCTIONS.some((pattern) => pattern.test(name)),
  );
  if (refused !== undefined) {
    throw refuse(
      `calls ${refused}(), which reads or writes the server's files, reaches another server, changes settings or runs SQL given as text.`,
    );
  }
  return text as SourceQuery;
}

/** Every function name the parsed statement calls (scalar, aggregate and table functions), lowercase. */
function calledFunctions(node: unknown, names: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) calledFunctions(item, names);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'function_name' && typeof value === 'string') names.push(value.toLowerCase());
      else calledFunctions(value, names);
    }
  }
  return names;
}

const firstLine = (message: string): string => message.split('\n', 1)[0]!.slice(0, 200);
