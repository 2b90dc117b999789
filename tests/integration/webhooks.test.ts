import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookSpec } from '../../src/alerts/alert-config.js';
import { WebhookNotifier, type WebhookNotifierOptions } from '../../src/alerts/webhook-notifier.js';
import { ALERT_KINDS, type Alert } from '../../src/domain/alert.js';
import { type CapturedLog, captureLog } from '../helpers/log.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FIXTURES, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Alerts leave Slipway as webhooks and reach real HTTP listeners on loopback: a promotion stopped at
 * its validation gate, a failed batch run, and a canary rolled back automatically, each in Slipway's
 * JSON (signed) and in Slack's format. Then delivery itself: retries on 5xx and 429, none on other
 * 4xx, a receiver that never answers, and shutdown.
 */

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}
/** What a listener answers its n-th request (from 1): a status, or nothing at all. */
type Answer = (n: number) => number | { status: number; headers: Record<string, string> } | 'hang';

interface Listener {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

/** A real HTTP server on a free loopback port that records every request. */
async function listen(answer: Answer = () => 200): Promise<Listener> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      const reply = answer(received.length);
      if (reply === 'hang') {
        hanging.push(response);
        return;
      }
      const { status, headers } = typeof reply === 'number' ? { status: reply, headers: {} } : reply;
      response.writeHead(status, headers).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const SECRET = 'whsec-test-1';
/** Slack reads &, < and > as markup: the summary as a Slack message carries it. */
const slackText = (summary: string) =>
  summary.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const signature = (body: string) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON a webhook carried.
const bodies = (listener: Listener, event: string): any[] =>
  listener.received
    .map((r) => JSON.parse(r.body))
    .filter((b) => (b.event ?? b.blocks?.[1]?.elements?.[0]?.text)?.includes(event));
const arrived = (listener: Listener, event: string, count = 1) =>
  waitFor(`${count} ${event} webhook(s)`, async () => {
    const found = bodies(listener, event);
    return found.length >= count ? found : undefined;
  });

describe('alerts as webhooks, end to end', () => {
  let json: Listener;
  let slack: Listener;
  let silent: Listener;
  let server: TestServer;
  let log: CapturedLog;
  let stopped = false;
  const push = async (file: string) => {
    const pushed = await server.push('scorer', join(FIXTURES, file), { sample: [{ x: 0 }, { x: 1 }] });
    expect(pushed.status, pushed.text).toBe(201);
  };

  beforeAll(async () => {
    json = await listen();
    slack = await listen();
    silent = await listen(() => 'hang');
    log = captureLog('warn');
    process.env.WEBHOOKS_TEST_SECRET = SECRET;
    server = await startServer(
      {},
      {
        allInOne: true,
        logger: log.logger,
        configYaml: `
environments:
  - name: dev
  - name: staging
    gates:
      validation: { dataset: validation, required: true, thresholds: [{ metric: rmse, max: 0.5 }] }
      latency: null
alerts:
  webhooks:
    - name: ops
      url: ${json.url}/slipway
      secret: \${WEBHOOKS_TEST_SECRET}
    - name: chat
      url: ${slack.url}/services/T000/B000/XXXX
      format: slack
      events: [gate_failed, job_run_failed]
    - name: black-hole
      url: ${silent.url}/hook/sekrit-token
`,
      },
    );
    delete process.env.WEBHOOKS_TEST_SECRET;
    await push('echo.onnx');
    const rows = Array.from({ length: 20 }, (_, i) => ({ x: i % 2, y: i % 2 }));
    const dataset = await server.request('PUT', '/api/v1/models/scorer/datasets/validation', {
      label: 'y',
      rows,
    });
    expect(dataset.status, dataset.text).toBe(201);
  });
  afterAll(async () => {
    if (!stopped) await server?.stop();
    await Promise.all([json, slack, silent].map((l) => l?.close()));
  });

  it('a promotion stopped at its validation gate: a signed JSON body, a Slack message, and the promotion answers at once', async () => {
    const passed = await server.request('POST', '/api/v1/environments/staging/promotions', {
      model: 'scorer',
      version: 1,
    });
    expect(passed.status, passed.text).toBe(201);
    // Version 2 (y = x + 1) is pushed, deployed to dev, and misses the rmse limit.
    await push('plus-one.onnx');
    const started = Date.now();
    const refused = await server.request('POST', '/api/v1/environments/staging/promotions', {
      model: 'scorer',
      version: 2,
    });
    // The receiver that never answers holds a request open for 5 s: the promotion does not wait for it.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(refused.status).toBe(422);
    const promotion = refused.body.details.promotion as string;

    const [alert] = await arrived(json, 'gate_failed');
    expect(alert).toEqual({
      event: 'gate_failed',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      summary: expect.stringMatching(
        /^Promotion of scorer version 2 to staging stopped at the validation gate: .*rmse/,
      ),
      details: {
        model: 'scorer',
        version: 2,
        environment: 'staging',
        promotion,
        gate: 'validation',
        message: expect.stringMatching(/rmse/),
        measurements: expect.objectContaining({ rmse: 1 }),
      },
    });
    // Only the failure alerts: version 1's promotion and the dev deployments passed their gates.
    expect(bodies(json, 'gate_failed')).toHaveLength(1);
    const request = json.received.find((r) => r.body.includes('gate_failed'))!;
    expect(request.path).toBe('/slipway');
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'x-slipway-event': 'gate_failed',
      'x-slipway-signature': signature(request.body),
      'x-slipway-delivery': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(request.headers['user-agent']).toMatch(/^Slipway\//);

    const [message] = await arrived(slack, 'gate_failed');
    expect(message.text).toBe(slackText(alert.summary));
    expect(message.blocks[0]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Promotion stopped at a gate*\n${message.text}` },
    });
    const unsigned = slack.received.find((r) => r.body.includes('gate_failed'))!;
    expect(unsigned.path).toBe('/services/T000/B000/XXXX');
    expect(unsigned.headers['x-slipway-signature']).toBeUndefined();
    // The receiver that never answers got it too, and still holds it.
    await waitFor('the silent receiver to be called', async () =>
      silent.received.length > 0 ? true : undefined,
    );
  });

  it('failed batch runs: whether a retry is queued, the attempt, and the error', async () => {
    const runOnce = async (name: string, retries: number) => {
      const created = await server.request('POST', '/api/v1/jobs', {
        name,
        model: 'scorer/1',
        source: { query: 'SELECT x FROM missing_table' },
        sink: { table: name },
        retries,
        retry_delay_seconds: 3600,
      });
      expect(created.status, created.text).toBe(201);
      const run = await server.request('POST', `/api/v1/jobs/${name}/runs`, { logical_date: '2001-01-01' });
      expect(run.status, run.text).toBe(202);
      return run.body.id as string;
    };
    const retried = await runOnce('retried', 1);
    const [first] = await arrived(json, 'job_run_failed');
    expect(first).toMatchObject({
      event: 'job_run_failed',
      summary: expect.stringMatching(
        /^Job retried run #1 \(2001-01-01, attempt 1 of 2\) failed: .*missing_table.*; retrying as run #2 after /,
      ),
      details: {
        job: 'retried',
        run: { id: retried, seq: 1, logical_date: '2001-01-01' },
        attempt: 1,
        max_attempts: 2,
        retry_queued: true,
        retry: { seq: 2, not_before: expect.any(String) },
        error: expect.stringMatching(/missing_table/),
      },
    });
    const stored = await server.request('GET', '/api/v1/jobs/retried/runs');
    expect(stored.body.runs.map((r: { status: string }) => r.status)).toEqual(['queued', 'failed']);

    await runOnce('once', 0);
    const [, last] = await arrived(json, 'job_run_failed', 2);
    expect(last.details).toMatchObject({
      job: 'once',
      attempt: 1,
      max_attempts: 1,
      retry_queued: false,
      retry: null,
    });
    expect(last.summary).toMatch(/no retry is queued\.$/);

    const messages = await arrived(slack, 'job_run_failed', 2);
    expect(messages.map((m) => m.text)).toEqual([first.summary, last.summary].map(slackText));
    const request = json.received.find((r) => r.body.includes('"job":"once"'))!;
    expect(request.headers['x-slipway-signature']).toBe(signature(request.body));
  });

  it('stops promptly with a receiver that never answers, logging the delivery as failed by origin only', async () => {
    const started = Date.now();
    stopped = true;
    await server.stop();
    // close() waits about 2 s for deliveries in flight, then abandons them.
    expect(Date.now() - started).toBeLessThan(6000);
    const failures = log.lines.filter((l) => l.msg === 'alert not delivered');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((l) => l.webhook === 'black-hole' && l.target === silent.url)).toBe(true);
    expect(log.text.join('\n')).not.toContain('sekrit-token');
    expect(log.text.join('\n')).not.toContain(SECRET);
  });
});

describe('an automatic rollback as a webhook', () => {
  let listener: Listener;
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
    await listener?.close();
  });

  it('names the version rolled back, the breach and its figures, and the revision in force', async () => {
    listener = await listen();
    const clock = new ManualClock();
    server = await startServer(
      { SLIPWAY_ANALYSIS_INTERVAL_MS: 50 },
      {
        allInOne: true,
        clock,
        configYaml: `
environments:
  - name: dev
  - name: prod
    gates: { schema: false, validation: null, latency: null }
    approval: null
    confirm: false
    rollout: { steps: [50, 100], bake_seconds: 60, min_requests: 5, max_error_rate: 0.05 }
alerts:
  webhooks:
    - { name: ops, url: "${listener.url}/hook", events: [automatic_rollback] }
`,
      },
    );
    const ok = async (method: string, path: string, body?: unknown) => {
      const response = await server.request(method, path, body);
      expect(response.status, response.text).toBeLessThan(300);
      return response.body;
    };
    for (const file of ['echo.onnx', 'fails-on-marked.onnx']) {
      expect((await server.push('m', join(FIXTURES, file), { sample: [{ x: 1 }] })).status).toBe(201);
      if (file === 'echo.onnx')
        await ok('POST', '/api/v1/environments/prod/promotions', { model: 'm', version: 1 });
    }
    const canary = await ok('POST', '/api/v1/environments/prod/promotions', {
      model: 'm',
      version: 2,
      canary: true,
    });
    expect(canary.status).toBe('ROLLING_OUT');
    // 99 makes version 2 fail; version 1 answers it.
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        server.request('POST', '/envs/prod/v1/models/m:predict', { instances: [[99]] }),
      ),
    );
    expect(answers.some((a) => a.status === 500)).toBe(true);
    await clock.advance(50);
    expect((await ok('GET', `/api/v1/promotions/${canary.id}`)).status).toBe('ROLLED_BACK');

    const [alert] = await arrived(listener, 'automatic_rollback');
    const failures = answers.filter((a) => a.status === 500).length;
    expect(alert).toEqual({
      event: 'automatic_rollback',
      time: new Date(clock.now()).toISOString(),
      summary: expect.stringMatching(
        /^m version 2 was rolled back automatically in prod: error rate .* exceeded the 5\.0% limit at step 1 \(50%\)\. Revision 3 now serves version 1 at 100%\.$/,
      ),
      details: {
        model: 'm',
        environment: 'prod',
        promotion: canary.id,
        version: 2,
        breach: expect.stringMatching(/^error rate 100\.0% \(\d+ of \d+ requests\) exceeded/),
        figures: { requests: failures, failures, error_rate: 1, p99_ms: expect.any(Number) },
        revision: { number: 3, traffic: [{ version: 1, percent: 100 }] },
      },
    });
    expect(listener.received[0]?.headers['x-slipway-signature']).toBeUndefined();
  });
});

describe('webhook delivery', () => {
  const alert: Alert = {
    kind: 'gate_failed',
    time: '2026-01-01T00:00:00.000Z',
    model: 'scorer',
    version: 2,
    environment: 'staging',
    promotion: 'p1',
    gate: 'smoke',
    message: 'the model failed.',
    measurements: null,
  };
  const spec = (url: string, extra: Partial<WebhookSpec> = {}): WebhookSpec => ({
    name: 'ops',
    url,
    format: 'json',
    events: ALERT_KINDS,
    secret: null,
    maxAttempts: 5,
    ...extra,
  });
  let listener: Listener | undefined;
  let notifier: WebhookNotifier | undefined;
  let log: CapturedLog;
  const start = async (answer: Answer, options: Partial<WebhookNotifierOptions> = {}) => {
    listener = await listen(answer);
    log = captureLog('warn');
    notifier = new WebhookNotifier({ webhooks: [spec(`${listener.url}/h`)], logger: log.logger, ...options });
    return { listener, notifier };
  };
  afterEach(async () => {
    await notifier?.close();
    await listener?.close();
  });
  const attempts = async (hook: Listener, count: number) => {
    await waitFor(`${count} attempts`, async () => (hook.received.length >= count ? true : undefined));
    return hook.received;
  };

  it('retries 503 with exponential backoff and jitter: two failures, then one delivery', async () => {
    const { listener, notifier } = await start((n) => (n <= 2 ? 503 : 200));
    notifier.notify(alert);
    const received = await attempts(listener, 3);
    await notifier.close();
    expect(received).toHaveLength(3);
    // The same delivery, retried: one id, one body.
    expect(new Set(received.map((r) => r.headers['x-slipway-delivery'])).size).toBe(1);
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    const gaps = [received[1]!.at - received[0]!.at, received[2]!.at - received[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(450);
    expect(gaps[0]).toBeLessThan(1500);
    expect(gaps[1]).toBeGreaterThanOrEqual(950);
    expect(gaps[1]).toBeLessThan(2500);
    expect(log.lines.filter((l) => l.msg === 'alert not delivered')).toEqual([]);
  });

  it('does not retry 400: one attempt, logged as not delivered', async () => {
    const { listener, notifier } = await start(() => 400);
    notifier.notify(alert);
    await attempts(listener, 1);
    await waitFor('the failure log', async () => (log.lines.length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500));
    expect(listener.received).toHaveLength(1);
    expect(log.lines).toEqual([
      expect.objectContaining({
        msg: 'alert not delivered',
        webhook: 'ops',
        target: listener.url,
        event: 'gate_failed',
        attempts: 1,
        reason: 'answered 400',
      }),
    ]);
  });

  it('honours Retry-After on 429, and gives up after max_attempts', async () => {
    listener = await listen(() => ({ status: 429, headers: { 'retry-after': '1' } }));
    log = captureLog('warn');
    notifier = new WebhookNotifier({
      webhooks: [spec(`${listener.url}/h`, { maxAttempts: 2 })],
      logger: log.logger,
    });
    notifier.notify(alert);
    const received = await attempts(listener, 2);
    await waitFor('the failure log', async () => (log.lines.length > 0 ? true : undefined));
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(950);
    expect(log.lines[0]).toMatchObject({ attempts: 2, reason: 'answered 429' });
    await new Promise((r) => setTimeout(r, 300));
    expect(listener.received).toHaveLength(2);
  });

  it('cuts off an attempt that gets no answer, retries it, and abandons it at close', async () => {
    const { listener, notifier } = await start(() => 'hang', { attemptTimeoutMs: 200, closeGraceMs: 300 });
    notifier.notify(alert);
    await attempts(listener, 2);
    const closing = Date.now();
    await notifier.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    expect(log.lines).toEqual([
      expect.objectContaining({
        msg: 'alert not delivered',
        reason: expect.stringMatching(/no answer within 200 ms|stopped/),
      }),
    ]);
    // Closed: new alerts are dropped, not sent.
    const before = listener.received.length;
    notifier.notify(alert);
    await new Promise((r) => setTimeout(r, 100));
    expect(listener.received).toHaveLength(before);
    expect(log.lines.at(-1)).toMatchObject({ msg: 'alert dropped: the server is stopping' });
  });

  it('drops alerts past the queue bound, and sends only the events a webhook asked for', async () => {
    listener = await listen(() => 'hang');
    log = captureLog('warn');
    notifier = new WebhookNotifier({
      webhooks: [spec(`${listener.url}/h`, { events: ['gate_failed'] })],
      logger: log.logger,
      capacity: 2,
      closeGraceMs: 0,
    });
    notifier.notify({
      kind: 'job_run_failed',
      time: alert.time,
      job: 'j',
      run: { id: 'r', seq: 1, logicalDate: '2001-01-01' },
      attempt: 1,
      maxAttempts: 1,
      retry: null,
      error: 'x',
    });
    for (let i = 0; i < 3; i++) notifier.notify(alert);
    await attempts(listener, 2);
    expect(log.lines.map((l) => l.msg)).toEqual([
      'alert dropped: too many deliveries to this webhook are unfinished',
    ]);
    expect(listener.received.every((r) => r.headers['x-slipway-event'] === 'gate_failed')).toBe(true);
  });
});
