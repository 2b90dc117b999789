import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Opens a DuckDB instance that can reach no file but under `folders` (each spelt as DuckDB compares
 * paths, ending in a separator) and no network, loads no extension, and whose configuration no later
 * statement can change. The one way Slipway opens DuckDB: the warehouse of batch jobs and the
 * prediction log's Parquet writer alike. DuckDB takes list settings only by `SET`, hence the setup
 * connection.
 */
export async function openSandboxedDuckDb(
  path: string,
  limits: { readonly memory: string; readonly threads: number },
  folders: readonly string[],
): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(path, {
    memory_limit: limits.memory,
    threads: String(limits.threads),
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const setup = await instance.connect();
  try {
    if (folders.length > 0) {
      await setup.run(`SET allowed_directories = [${folders.map(sqlString).join(', ')}]`);
    }
    await setup.run('SET enable_external_access = false');
    await setup.run('SET lock_configuration = true');
  } catch (error) {
    setup.closeSync();
    instance.closeSync();
    throw error;
  }
  setup.closeSync();
  return instance;
}

/** A SQL string literal. */
export const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;
