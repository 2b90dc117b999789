/** How commands print: a table (or text) for people, one JSON document with `--json` for scripts. */
export interface Output {
  readonly json: boolean;
  result(value: unknown, human: () => string): void;
  info(message: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
    info(message) {
      if (!json) process.stderr.write(`${message}\n`);
    },
  };
}

/** A plain aligned text table. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = [
    headers,
    ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (cell ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
