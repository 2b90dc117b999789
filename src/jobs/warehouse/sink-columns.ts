import { SlipwayError } from '../../errors/index.js';
import { type Column, type SinkOptions, sameFamily, TABLE_NAME, tableColumns } from './warehouse.js';

/**
 * Checks, before a run writes anything, that every table it will publish can take its rows: a valid
 * name, and (unless the run replaces the table) an existing table with every column the run writes,
 * each of a compatible type. A mismatch fails the run at its start with what to change.
 */
export function checkSinkColumns(options: SinkOptions, existing: readonly (Column[] | null)[]): void {
  options.tables.forEach((table, i) => {
    if (!TABLE_NAME.test(table.table)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Table name "${table.table}" is not allowed; expected name or schema.name of letters, digits and underscores.`,
        { table: table.table },
      );
    }
    const current = existing[i];
    if (!current || options.mode === 'replace') return;
    const problems: string[] = [];
    for (const column of tableColumns(table)) {
      const found = current.find((c) => c.name === column.name);
      if (!found) problems.push(`no column "${column.name}" (${column.type})`);
      else if (!sameFamily(found.type, column.type))
        problems.push(`column "${column.name}" is ${found.type}, the run writes ${column.type}`);
    }
    if (problems.length > 0) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `Table ${table.table} does not match what the job writes: ${problems.join('; ')}. Change the table, or run once with write_mode "replace" to recreate it.`,
        { table: table.table, problems },
      );
    }
  });
}
