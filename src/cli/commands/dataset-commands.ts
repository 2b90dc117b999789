import type { Command } from 'commander';
import type { DatasetRequest, WireDatasetResult } from '../../http/wire/datasets.js';
import type { CliContext } from '../cli-context.js';
import { readDatasetRows } from '../rows.js';

/** `datasets put`: the labelled rows a validation gate scores candidate versions on. */
export function addDatasetCommands(program: Command, cli: CliContext): void {
  const datasets = program
    .command('datasets')
    .description('labelled datasets that validation gates score versions on');

  datasets
    .command('put')
    .description('register (or replace) a dataset of a model')
    .argument('<model>', 'model name')
    .argument('<name>', 'dataset name; the validation gates use "validation"')
    .requiredOption('--label <column>', 'the column holding the true value')
    .requiredOption(
      '--file <file>',
      'rows: a JSON array of objects, or CSV with a header row (numbers become numbers, empty cells null)',
    )
    .action(async (model: string, name: string, options: { label: string; file: string }) => {
      const rows = await readDatasetRows(options.file);
      const result = await cli
        .client()
        .put<WireDatasetResult>(
          `/api/v1/models/${encodeURIComponent(model)}/datasets/${encodeURIComponent(name)}`,
          { label: options.label, rows } satisfies DatasetRequest,
        );
      cli
        .output()
        .result(
          result,
          () =>
            `${result.replaced ? 'Replaced' : 'Registered'} dataset "${result.name}" of ${result.model}: ${result.rows} row${result.rows === 1 ? '' : 's'} labelled by ${result.label}.`,
        );
    });
}
