import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { UsageError } from './exit-codes.js';

interface InputMeta {
  readonly name: string;
  readonly datatype: string;
}

/**
 * Reads prediction rows from a CSV or JSON file ("-" is standard input). JSON may be an array of
 * rows or `{"instances": [...]}`. CSV cells are typed by the model's inputs: numbers for numeric
 * inputs, true/false for BOOL, and an empty cell is null (missing).
 */
export function readRows(file: string, inputs: readonly InputMeta[]): unknown[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const trimmed = text.trimStart();
  if (file.endsWith('.json') || trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
    }
    const rows = Array.isArray(value) ? value : (value as { instances?: unknown }).instances;
    if (!Array.isArray(rows))
      throw new UsageError(`${file}: expected an array of rows or {"instances": [...]}.`);
    return rows;
  }
  const records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<
    string,
    string
  >[];
  return records.map((record, index) => {
    const row: Record<string, unknown> = {};
    for (const [column, cell] of Object.entries(record)) {
      const input = inputs.find((i) => i.name === column);
      row[column] = typeCell(cell, input?.datatype, `${file} row ${index + 2}, column ${column}`);
    }
    return row;
  });
}

function typeCell(cell: string, datatype: string | undefined, where: string): unknown {
  if (cell === '') return null;
  if (datatype === undefined || datatype === 'BYTES') return cell;
  if (datatype === 'BOOL') {
    if (cell === 'true' || cell === 'false') return cell === 'true';
    throw new UsageError(`${where}: expected true or false, got "${cell}".`);
  }
  const number = Number(cell);
  if (Number.isNaN(number)) throw new UsageError(`${where}: expected a number, got "${cell}".`);
  return number;
}
