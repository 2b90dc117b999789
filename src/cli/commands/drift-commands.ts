import type { Command } from 'commander';
import type { WireDriftReport } from '../../http/wire/drift.js';
import type { CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { table } from '../output.js';
import { readDatasetRows } from '../rows.js';

interface DriftOptions {
  env?: string;
  version?: string;
  from?: string;
  to?: string;
  file?: string;
  method?: string;
  threshold?: string;
}

/**
 * `drift`: a deployment's logged predictions in a window against its version's reference, or a file
 * of rows against a version's reference (check a batch before scoring it).
 */
export function addDriftCommands(program: Command, cli: CliContext): void {
  program
    .command('drift')
    .description("data drift against a version's reference: of a deployment's prediction log, or of a file")
    .argument('<model>', 'model name')
    .argument('[version]', 'with --file: the version whose reference the rows are compared with')
    .option('--version <n>', 'the same as the [version] argument')
    .option('--env <env>', 'the deployment whose prediction log is read (default: the server default)')
    .option('--from <time>', 'window start, ISO 8601 (default: 24 hours before --to)')
    .option('--to <time>', 'window end, ISO 8601 (default: now)')
    .option('--file <file>', 'rows to compare: a JSON array of objects, or CSV with a header row')
    .option(
      '--method <method>',
      'one test for every feature: ks, wasserstein, chisquare, jensenshannon or psi',
    )
    .option('--threshold <number>', "the method's threshold (a p-value, or a distance)")
    .addHelpText(
      'after',
      `\nExit status 0 when there is no dataset drift, ${EXIT.DRIFT} when there is (scripts can gate a batch on it).`,
    )
    .action(async (model: string, positional: string | undefined, options: DriftOptions) => {
      if (positional !== undefined && options.version !== undefined && positional !== options.version) {
        throw new UsageError(
          `Two versions given (${positional} and --version ${options.version}); give one.`,
        );
      }
      const version = positional ?? options.version;
      const client = cli.client();
      const forced = {
        ...(options.method ? { method: options.method } : {}),
        ...(options.threshold !== undefined ? { threshold: Number(options.threshold) } : {}),
      };
      let report: WireDriftReport;
      if (options.file !== undefined || version !== undefined) {
        if (options.file === undefined || version === undefined) {
          throw new UsageError(
            "A version and --file go together: `slipway drift <model> --version <n> --file rows.json` compares the rows with that version's reference; without both, the deployment's prediction log is read.",
          );
        }
        const rows = await readDatasetRows(options.file);
        report = await client.post<WireDriftReport>(
          `/api/v1/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/drift`,
          { rows, ...forced },
        );
      } else {
        const query = new URLSearchParams();
        if (options.env) query.set('environment', options.env);
        if (options.from) query.set('from', options.from);
        if (options.to) query.set('to', options.to);
        if (forced.method) query.set('method', forced.method);
        if (forced.threshold !== undefined) query.set('threshold', String(forced.threshold));
        report = await client.get<WireDriftReport>(
          `/api/v1/models/${encodeURIComponent(model)}/drift${query.size > 0 ? `?${query}` : ''}`,
        );
      }
      cli.output().result(report, () => describe(report));
      if (report.dataset_drift) process.exitCode = EXIT.DRIFT;
    });
}

function describe(report: WireDriftReport): string {
  const where = report.environment
    ? `${report.model} in ${report.environment} (version ${report.version}), ${report.window?.from} to ${report.window?.to}`
    : `${report.model} version ${report.version}`;
  const verdict = report.dataset_drift
    ? `DATASET DRIFT: ${formatShare(report.drift_share)} of features drifted (threshold ${formatShare(report.share_threshold)})`
    : `no dataset drift: ${formatShare(report.drift_share)} of features drifted`;
  const rows = [...report.features, ...(report.prediction ? [report.prediction] : [])].map((f) => [
    f.name,
    f.kind,
    f.method ?? '-',
    f.statistic === null ? '-' : f.statistic.toPrecision(4),
    f.threshold ?? '-',
    f.skipped ? `skipped: ${f.skipped}` : f.drifted ? 'DRIFT' : 'ok',
  ]);
  return [
    `${where}: ${report.current_rows} rows against ${report.reference.rows} reference rows (${report.reference.source})`,
    verdict,
    '',
    table(['feature', 'kind', 'method', 'statistic', 'threshold', 'verdict'], rows),
  ].join('\n');
}

const formatShare = (share: number) => `${Math.round(share * 100)}%`;
