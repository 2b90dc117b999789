import type { Alert } from '../domain/alert.js';
import type { TrafficShare } from '../domain/revision.js';
import type { WebhookFormat } from './alert-config.js';

/** Longest error text an alert carries: a run's error can be pages of engine output. */
const MAX_ERROR_CHARS = 2000;
/** Slack refuses a section whose text is longer than 3000 characters. */
const MAX_SLACK_TEXT = 2900;
/** Drifted features named in the summary line; `details` lists them all. */
const SUMMARY_FEATURES = 10;

/** The body of Slipway's own JSON format: `details` is snake_case, as the API answers. */
export interface JsonAlertBody {
  readonly event: Alert['kind'];
  readonly time: string;
  readonly summary: string;
  readonly details: Record<string, unknown>;
}

/** The body a webhook of `format` receives for `alert`, serialised. */
export function webhookBody(format: WebhookFormat, alert: Alert): string {
  return JSON.stringify(format === 'slack' ? slackBody(alert) : jsonBody(alert));
}

export function jsonBody(alert: Alert): JsonAlertBody {
  return { event: alert.kind, time: alert.time, summary: alertSummary(alert), details: alertDetails(alert) };
}

/**
 * A Slack incoming-webhook message: `text` (what notifications and old clients show) and one section
 * block with a title and the same summary. Slack reads `&`, `<` and `>` as markup, so they are escaped.
 */
export function slackBody(alert: Alert): { text: string; blocks: unknown[] } {
  const summary = slackEscape(cut(alertSummary(alert), MAX_SLACK_TEXT));
  return {
    text: summary,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${TITLES[alert.kind]}*\n${summary}` } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `Slipway · \`${alert.kind}\` · ${alert.time}` }],
      },
    ],
  };
}

const TITLES: Record<Alert['kind'], string> = {
  drift: 'Data drift detected',
  automatic_rollback: 'Canary rolled back automatically',
  job_run_failed: 'Batch job run failed',
  gate_failed: 'Promotion stopped at a gate',
};

/** One line an operator reads in a notification: what happened, where, and what is in force now. */
export function alertSummary(alert: Alert): string {
  switch (alert.kind) {
    case 'drift': {
      const names = alert.features.slice(0, SUMMARY_FEATURES).map((f) => f.name);
      const more = alert.features.length - names.length;
      return `Drift in ${alert.model} version ${alert.version} (${alert.environment}), check ${alert.check}: ${alert.features.length} of ${alert.featuresTested} features drifted (${percent(alert.driftShare)}, limit ${percent(alert.shareThreshold)}) from ${alert.window.from} to ${alert.window.to}: ${names.join(', ')}${more > 0 ? ` and ${more} more` : ''}.`;
    }
    case 'automatic_rollback':
      return `${alert.model} version ${alert.version} was rolled back automatically in ${alert.environment}: ${alert.breach}. ${
        alert.revision
          ? `Revision ${alert.revision.number} now serves ${traffic(alert.revision.traffic)}.`
          : 'The revision now in force could not be read.'
      }`;
    case 'job_run_failed':
      return `Job ${alert.job} run #${alert.run.seq} (${alert.run.logicalDate}, attempt ${alert.attempt} of ${alert.maxAttempts}) failed: ${cut(alert.error, 300)}; ${
        alert.retry
          ? `retrying as run #${alert.retry.seq} after ${alert.retry.notBefore}.`
          : 'no retry is queued.'
      }`;
    case 'gate_failed':
      return `Promotion of ${alert.model} version ${alert.version} to ${alert.environment} stopped at the ${alert.gate} gate: ${alert.message} Nothing changed in ${alert.environment}.`;
  }
}

/** The facts of an alert, for receivers that act on them. */
export function alertDetails(alert: Alert): Record<string, unknown> {
  switch (alert.kind) {
    case 'drift':
      return {
        check: alert.check,
        model: alert.model,
        version: alert.version,
        environment: alert.environment,
        window: alert.window,
        rows: alert.rows,
        drift_share: alert.driftShare,
        share_threshold: alert.shareThreshold,
        features_tested: alert.featuresTested,
        drifted_features: alert.features.map((f) => ({
          name: f.name,
          method: f.method,
          statistic: f.statistic,
          threshold: f.threshold,
        })),
      };
    case 'automatic_rollback':
      return {
        model: alert.model,
        environment: alert.environment,
        promotion: alert.promotion,
        version: alert.version,
        breach: alert.breach,
        figures: {
          requests: alert.figures.requests,
          failures: alert.figures.failures,
          error_rate: alert.figures.errorRate,
          p99_ms: alert.figures.p99Ms,
        },
        revision: alert.revision ? { number: alert.revision.number, traffic: alert.revision.traffic } : null,
      };
    case 'job_run_failed':
      return {
        job: alert.job,
        run: { id: alert.run.id, seq: alert.run.seq, logical_date: alert.run.logicalDate },
        attempt: alert.attempt,
        max_attempts: alert.maxAttempts,
        retry_queued: alert.retry !== null,
        retry: alert.retry ? { seq: alert.retry.seq, not_before: alert.retry.notBefore } : null,
        error: cut(alert.error, MAX_ERROR_CHARS),
      };
    case 'gate_failed':
      return {
        model: alert.model,
        version: alert.version,
        environment: alert.environment,
        promotion: alert.promotion,
        gate: alert.gate,
        message: alert.message,
        measurements: alert.measurements,
      };
  }
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const traffic = (shares: readonly TrafficShare[]) =>
  shares.map((s) => `version ${s.version} at ${s.percent}%`).join(', ');
const cut = (text: string, limit: number) => (text.length > limit ? `${text.slice(0, limit)}…` : text);
const slackEscape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
