import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Cron } from 'croner';
import { SlipwayError } from '../errors/index.js';
import { DRIFT_METHODS, type DriftMethod } from './statistics.js';

/** A drift check that runs on a schedule (slipway.yaml `drift_checks:`). */
export interface DriftCheckSpec {
  readonly name: string;
  readonly model: string;
  readonly environment: string;
  /** Cron expression (croner: five fields, or six with seconds). */
  readonly schedule: string;
  /** How far back each check reads the prediction log, in seconds. */
  readonly windowSeconds: number;
  /** Fewer logged rows than this in the window makes the check inconclusive (no verdict, no alert). */
  readonly minRows: number;
  readonly method?: DriftMethod;
  readonly threshold?: number;
}

/** A window length: a number and a unit, `30m`, `6h`, `7d` (seconds to 90 days). */
const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const MAX_WINDOW_SECONDS = 90 * 86_400;

/** slipway.yaml `drift_checks:`, one entry. */
export const DriftCheckSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
    model: Type.String({ minLength: 1, maxLength: 128 }),
    environment: Type.String({ minLength: 1, maxLength: 64 }),
    schedule: Type.String({ minLength: 1, maxLength: 128 }),
    window: Type.String({ pattern: DURATION.source }),
    min_rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    method: Type.Optional(Type.Union(DRIFT_METHODS.map((m) => Type.Literal(m)))),
    threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);
const checkDriftChecks = TypeCompiler.Compile(Type.Array(DriftCheckSchema));

/** Seconds in a window length (`24h` is 86,400). */
export function windowSeconds(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new Error(`"${value}" is not a window length such as 30m, 6h or 7d`);
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}

/**
 * The `drift_checks:` section: drift checks that run on a schedule, each over a window of one
 * deployment's prediction log (docs/observability.md). Checked at boot: names unique, a known
 * environment, a valid cron schedule, a window of at most 90 days.
 */
export function compileDriftChecks(
  value: unknown,
  source: string,
  environments: readonly string[],
): DriftCheckSpec[] {
  if (value === undefined || value === null) return [];
  const first = checkDriftChecks.Errors(value).First();
  if (first) {
    const field = `drift_checks${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${source}: ${field}: ${first.message}; expected {name, model, environment, schedule (cron), window (e.g. 24h), min_rows?, method?, threshold?}.`,
      { field },
    );
  }
  const seen = new Set<string>();
  return (value as Static<typeof DriftCheckSchema>[]).map((check, i) => {
    const fail = (field: string, why: string) =>
      new SlipwayError('INVALID_ARGUMENT', `${source}: drift_checks.${i}.${field}: ${why}.`, {
        field: `drift_checks.${i}.${field}`,
      });
    if (seen.has(check.name)) throw fail('name', `"${check.name}" is declared twice`);
    seen.add(check.name);
    if (!environments.includes(check.environment)) {
      throw fail('environment', `"${check.environment}" is not an environment (${environments.join(', ')})`);
    }
    try {
      new Cron(check.schedule, { paused: true }).stop();
    } catch (error) {
      throw fail('schedule', `not a cron expression: ${(error as Error).message}`);
    }
    const seconds = windowSeconds(check.window);
    if (seconds > MAX_WINDOW_SECONDS) throw fail('window', 'at most 90d');
    return {
      name: check.name,
      model: check.model,
      environment: check.environment,
      schedule: check.schedule,
      windowSeconds: seconds,
      minRows: check.min_rows ?? 100,
      ...(check.method ? { method: check.method } : {}),
      ...(check.threshold !== undefined ? { threshold: check.threshold } : {}),
    };
  });
}
