import { createReadStream } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { UsageError } from './exit-codes.js';

interface InputMeta {
  readonly name: string;
  readonly datatype: string;
}

/**
 * The most a rows or dataset file (or standard input) may hold: reading stops there, so an endless
 * source (`/dev/zero`, `yes | slipway predict m -`) ends in a usage error, in bounded memory. Eight
 * times a server's default request body limit (SLIPWAY_MAX_BODY_BYTES, 8 MiB): a server that takes
 * less answers 413.
 */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * Reads prediction rows from a CSV or JSON file ("-" is standard input). JSON may be an array of
 * rows or `{"instances": [...]}`. CSV cells are typed by the model's inputs (asked for only then):
 * numbers for numeric inputs, true/false for BOOL, and an empty cell is null (missing).
 */
export async function readRows(
  file: string,
  inputsOf: () => Promise<readonly InputMeta[]>,
): Promise<unknown[]> {
  const text = await readInput(file);
  if (isJson(file, text)) {
    const value = parseJson(file, text);
    const rows = Array.isArray(value) ? value : (value as { instances?: unknown }).instances;
    if (!Array.isArray(rows))
      throw new UsageError(`${file}: expected an array of rows or {"instances": [...]}.`);
    return rows;
  }
  const records = parseCsvRecords(file, text);
  const inputs = await inputsOf();
  return records.map((record, index) => {
    const row: Record<string, unknown> = {};
    for (const [column, cell] of Object.entries(record)) {
      const input = inputs.find((i) => i.name === column);
      row[column] = typeCell(cell, input?.datatype, `${file} row ${index + 2}, column ${column}`);
    }
    return row;
  });
}

/**
 * Reads a labelled dataset: a JSON array of objects, or CSV with a header row where cells that look
 * like numbers become numbers and empty cells are null (the dataset has no signature to type by).
 */
export async function readDatasetRows(file: string): Promise<Record<string, unknown>[]> {
  const text = await readInput(file);
  if (isJson(file, text)) {
    const rows = parseJson(file, text);
    const bad = Array.isArray(rows)
      ? rows.findIndex((row) => typeof row !== 'object' || row === null || Array.isArray(row))
      : -1;
    if (!Array.isArray(rows) || bad >= 0) {
      throw new UsageError(
        `${file}: expected a JSON array of objects (one per row)${bad >= 0 ? `; item ${bad} is not an object` : ''}.`,
      );
    }
    return rows as Record<string, unknown>[];
  }
  return parseCsvRecords(file, text).map((record) =>
    Object.fromEntries(
      Object.entries(record).map(([column, cell]) => [
        column,
        cell === '' ? null : NUMERIC.test(cell) ? Number(cell) : cell,
      ]),
    ),
  );
}

/** Decimal numbers only: `0x10`, `Infinity` and `1_000` stay text. */
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The text of a file or of standard input ("-"), refused past `limit` bytes without reading further. */
export async function readInput(file: string, limit: number = MAX_INPUT_BYTES): Promise<string> {
  const source = file === '-' ? process.stdin : createReadStream(file);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // Leaving the loop (the limit, an error) destroys the stream: nothing more is read.
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        throw new UsageError(
          `${file === '-' ? 'Standard input' : file} holds more than ${limit} bytes; expected at most that many (split the rows into several calls).`,
        );
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isJson(file: string, text: string): boolean {
  const trimmed = text.trimStart();
  return file.endsWith('.json') || trimmed.startsWith('[') || trimmed.startsWith('{');
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function parseCsvRecords(file: string, text: string): Record<string, string>[] {
  try {
    return parseCsv(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (error) {
    throw new UsageError(`${file} is not valid CSV: ${(error as Error).message}`);
  }
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
