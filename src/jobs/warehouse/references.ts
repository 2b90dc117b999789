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

/** A URI with its password replaced, fit for logs and API answers. */
export function redactUri(uri: string): string {
  return uri.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
