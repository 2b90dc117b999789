import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonBody, slackBody } from '../../src/alerts/alert-body.js';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelayMs, retryAfterMs } from '../../src/alerts/backoff.js';
import { compileConfig } from '../../src/config/index.js';
import { ALERT_KINDS, type Alert } from '../../src/domain/alert.js';

describe('webhook backoff', () => {
  it('doubles from the base up to the cap, each wait in the upper half of its step', () => {
    const bounds = Array.from({ length: 10 }, (_, i) => [
      backoffDelayMs(i + 1, () => 0),
      backoffDelayMs(i + 1, () => 1),
    ]);
    expect(bounds.slice(0, 4)).toEqual([
      [500, 1000],
      [1000, 2000],
      [2000, 4000],
      [4000, 8000],
    ]);
    expect(bounds.at(-1)).toEqual([BACKOFF_MAX_MS / 2, BACKOFF_MAX_MS]);
    for (const [i, [low, high]] of bounds.entries()) {
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** i);
      expect([low, high]).toEqual([ceiling / 2, ceiling]);
    }
  });

  it('jitters: random waits stay within the bounds and are not all alike', () => {
    const waits = Array.from({ length: 200 }, () => backoffDelayMs(3));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(4000);
    expect(new Set(waits).size).toBeGreaterThan(20);
  });

  it('reads Retry-After as seconds or an HTTP date, within the cap', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('86400', now)).toBe(BACKOFF_MAX_MS);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('Fri, 02 Jan 2026 00:00:00 GMT', now)).toBe(BACKOFF_MAX_MS);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs('-5', now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });
});

/** compileConfig over a slipway.yaml holding `yaml`, with `env` as the process environment. */
function compileWith(yaml: string, env: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'slipway-alerts-'));
  writeFileSync(join(cwd, 'slipway.yaml'), yaml);
  return compileConfig({}, env, cwd);
}
/** slipway.yaml's own `${NAME}` syntax. */
const variable = (name: string) => `$${'{'}${name}}`;
const hook = (fields: string) => `alerts:\n  webhooks:\n    - ${fields}\n`;

describe('the alerts: section of slipway.yaml', () => {
  it('fills in defaults and variables', () => {
    const config = compileWith(
      [
        hook(
          `{ name: ops, url: "https://hooks.example.com/${variable('HOOK_PATH')}", secret: "${variable('HOOK_SECRET')}" }`,
        ),
        `    - { name: chat, url: "${variable('SLACK_URL')}", format: slack, events: [automatic_rollback], max_attempts: 2 }\n`,
      ].join(''),
      { HOOK_PATH: 'a/b?c=d', HOOK_SECRET: 's3cret', SLACK_URL: 'https://hooks.slack.com/services/T/B/X' },
    );
    expect(config.alerts.webhooks).toEqual([
      {
        name: 'ops',
        url: 'https://hooks.example.com/a/b?c=d',
        format: 'json',
        events: [...ALERT_KINDS],
        secret: 's3cret',
        maxAttempts: 5,
      },
      {
        name: 'chat',
        url: 'https://hooks.slack.com/services/T/B/X',
        format: 'slack',
        events: ['automatic_rollback'],
        secret: null,
        maxAttempts: 2,
      },
    ]);
    expect(compileWith('environments:\n  - name: dev\n').alerts).toEqual({ webhooks: [] });
    expect(compileWith('alerts:\n').alerts).toEqual({ webhooks: [] });
  });

  it.each([
    [
      'an ftp: URL',
      hook('{ name: ops, url: "ftp://files.example.com/drop" }'),
      {},
      'alerts.webhooks.0.url',
      /scheme "ftp:"/,
    ],
    [
      'a file: URL',
      hook('{ name: ops, url: "file:///etc/passwd" }'),
      {},
      'alerts.webhooks.0.url',
      /scheme "file:"/,
    ],
    [
      'a javascript: URL',
      hook('{ name: ops, url: "javascript:alert(1)" }'),
      {},
      'alerts.webhooks.0.url',
      /scheme "javascript:"/,
    ],
    [
      'a data: URL',
      hook('{ name: ops, url: "data:text/plain,hi" }'),
      {},
      'alerts.webhooks.0.url',
      /scheme "data:"/,
    ],
    [
      'a URL without a scheme',
      hook('{ name: ops, url: "hooks.example.com/x" }'),
      {},
      'alerts.webhooks.0.url',
      /is not a URL/,
    ],
    [
      'a variable that makes a non-HTTP URL',
      hook(`{ name: ops, url: "${variable('HOOK_URL')}" }`),
      { HOOK_URL: 'gopher://sekrit.example.com/' },
      'alerts.webhooks.0.url',
      /scheme "gopher:"/,
    ],
    [
      'an unknown event',
      hook('{ name: ops, url: "https://h.example.com", events: [drift, deploy] }'),
      {},
      'alerts.webhooks.0.events.1',
      /among drift, automatic_rollback, job_run_failed, gate_failed/,
    ],
    [
      'an empty event list',
      hook('{ name: ops, url: "https://h.example.com", events: [] }'),
      {},
      'alerts.webhooks.0.events',
      /non-empty/,
    ],
    [
      'an event twice',
      hook('{ name: ops, url: "https://h.example.com", events: [drift, drift] }'),
      {},
      'alerts.webhooks.0.events',
      /distinct/,
    ],
    [
      'an unknown format',
      hook('{ name: ops, url: "https://h.example.com", format: teams }'),
      {},
      'alerts.webhooks.0.format',
      /one of json, slack/,
    ],
    [
      'an unset variable in the URL',
      hook(`{ name: ops, url: "https://h.example.com/${variable('HOOK_TOKEN')}" }`),
      {},
      'alerts.webhooks.0.url',
      /\$\{HOOK_TOKEN\}, which is not set/,
    ],
    [
      'an unset variable in the secret',
      hook(`{ name: ops, url: "https://h.example.com", secret: "${variable('HOOK_SECRET')}" }`),
      {},
      'alerts.webhooks.0.secret',
      /\$\{HOOK_SECRET\}, which is not set/,
    ],
    [
      'a secret that is empty once filled in',
      hook(`{ name: ops, url: "https://h.example.com", secret: "${variable('HOOK_SECRET')}" }`),
      { HOOK_SECRET: '' },
      'alerts.webhooks.0.secret',
      /empty/,
    ],
    [
      'max_attempts 0',
      hook('{ name: ops, url: "https://h.example.com", max_attempts: 0 }'),
      {},
      'alerts.webhooks.0.max_attempts',
      /from 1 to 10/,
    ],
    [
      'an unknown field',
      hook('{ name: ops, url: "https://h.example.com", retries: 3 }'),
      {},
      'alerts.webhooks.0.retries',
      /Unexpected property/,
    ],
    ['a missing url', hook('{ name: ops }'), {}, 'alerts.webhooks.0.url', /required/],
    [
      'a name with capitals',
      hook('{ name: Ops, url: "https://h.example.com" }'),
      {},
      'alerts.webhooks.0.name',
      /lowercase/,
    ],
    [
      'two webhooks of one name',
      `${hook('{ name: ops, url: "https://a.example.com" }')}    - { name: ops, url: "https://b.example.com" }\n`,
      {},
      'alerts.webhooks.1.name',
      /names must differ/,
    ],
    [
      'webhooks that are not a list',
      'alerts:\n  webhooks: { ops: "https://h.example.com" }\n',
      {},
      'alerts.webhooks',
      /list of webhooks/,
    ],
    ['an unknown key beside webhooks', 'alerts:\n  hooks: []\n', {}, 'alerts.hooks', /Unexpected property/],
  ] as const)('refuses %s at start-up with the field path', (_, yaml, env, field, message) => {
    let thrown: unknown;
    try {
      compileWith(yaml, env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field } });
    const text = (thrown as Error).message;
    expect(text).toMatch(message);
    expect(text).toContain(field);
    // A URL or secret may be a credential: messages never repeat what a variable held.
    expect(text).not.toContain('sekrit');
  });
});

describe('alert bodies', () => {
  const gate: Alert = {
    kind: 'gate_failed',
    time: '2026-01-01T00:00:00.000Z',
    model: 'scorer',
    version: 2,
    environment: 'staging',
    promotion: 'p1',
    gate: 'validation',
    message: 'rmse 1 > max 0.5 <b>&</b>.',
    measurements: { rmse: 1 },
  };

  it('JSON: event, time, one summary line and snake_case details', () => {
    expect(jsonBody(gate)).toEqual({
      event: 'gate_failed',
      time: '2026-01-01T00:00:00.000Z',
      summary:
        'Promotion of scorer version 2 to staging stopped at the validation gate: rmse 1 > max 0.5 <b>&</b>. Nothing changed in staging.',
      details: {
        model: 'scorer',
        version: 2,
        environment: 'staging',
        promotion: 'p1',
        gate: 'validation',
        message: 'rmse 1 > max 0.5 <b>&</b>.',
        measurements: { rmse: 1 },
      },
    });
  });

  it('Slack: text and a section with the same summary, with Slack markup escaped', () => {
    const body = slackBody(gate);
    expect(body.text).toBe(
      'Promotion of scorer version 2 to staging stopped at the validation gate: rmse 1 &gt; max 0.5 &lt;b&gt;&amp;&lt;/b&gt;. Nothing changed in staging.',
    );
    expect(body.blocks[0]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Promotion stopped at a gate*\n${body.text}` },
    });
  });

  it('a drift alert names the drifted features and their tests', () => {
    const drift: Alert = {
      kind: 'drift',
      time: '2026-01-02T00:00:00.000Z',
      check: 'prod-daily',
      model: 'scorer',
      version: 3,
      environment: 'prod',
      window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' },
      rows: 5000,
      driftShare: 0.75,
      shareThreshold: 0.5,
      featuresTested: 4,
      features: ['a', 'b', 'c'].map((name) => ({ name, method: 'ks', statistic: 0.001, threshold: 0.05 })),
    };
    const body = jsonBody(drift);
    expect(body.summary).toBe(
      'Drift in scorer version 3 (prod), check prod-daily: 3 of 4 features drifted (75.0%, limit 50.0%) from 2026-01-01T00:00:00.000Z to 2026-01-02T00:00:00.000Z: a, b, c.',
    );
    expect(body.details).toMatchObject({
      drift_share: 0.75,
      features_tested: 4,
      drifted_features: [{ name: 'a', method: 'ks', statistic: 0.001, threshold: 0.05 }, {}, {}],
    });
  });
});
