import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../helpers/ports.js';
import { FIXTURES, ROOT, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The monitoring kit in deploy/ against the real thing: promtool checks the alerting rules and runs their
 * unit tests, every metric the rules and the Grafana dashboard name is one a running Slipway exports, and
 * a real Prometheus (Debian's package, started by scripts/prometheus.sh on loopback) scrapes a real
 * server, counts exactly the predictions it was sent, evaluates every rule and panel query, and fires
 * an alert for a real failed batch run.
 */

const SCRIPT = join(ROOT, 'scripts/prometheus.sh');
const RULES = join(ROOT, 'deploy/prometheus/alerts.yaml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/alerts.test.yaml');
const EXAMPLE_CONFIG = join(ROOT, 'deploy/prometheus/prometheus.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/slipway.json');
const RUNBOOK = join(ROOT, 'RUNBOOK.md');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PanelTarget {
  expr?: string;
  legendFormat?: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: PanelTarget[];
}
interface TemplateVariable {
  name: string;
  type: string;
  query: string | { query: string };
}

const alerts = (): AlertRule[] =>
  (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = () =>
  JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    schemaVersion: number;
    uid: string;
    panels: Panel[];
    templating: { list: TemplateVariable[] };
  };
const queryPanels = () => dashboard().panels.filter((p) => p.type !== 'row');
const templateQuery = (v: TemplateVariable) => (typeof v.query === 'string' ? v.query : v.query.query);

function requireTool(tool: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    throw new Error(
      `${tool} is not installed: run \`bash scripts/prometheus.sh install\` (make vitest does)`,
    );
  }
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers outside strings, label matchers, ranges and
 * label lists, that are not functions or keywords. Grafana's variables (`$__rate_interval`, `$model`)
 * only appear inside ranges and strings, so they drop out with them.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b(?:group_left|group_right)\b/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.$])[a-zA-Z_:][\w:]*/g)) {
    const rest = bare.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || PROMQL_WORDS.has(match[0].toLowerCase())) continue;
    names.add(match[0]);
  }
  return [...names];
}

/** Every metric name the dashboard reads: its panels' queries and its variables' `label_values(...)`. */
function dashboardMetricNames(): Map<string, string> {
  const used = new Map<string, string>();
  for (const panel of queryPanels()) {
    for (const target of panel.targets ?? []) {
      for (const name of metricNames(target.expr ?? '')) used.set(name, `panel "${panel.title}"`);
    }
  }
  for (const variable of dashboard().templating.list.filter((v) => v.type === 'query')) {
    const metric = /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(templateQuery(variable))?.[1];
    if (metric) used.set(metric, `variable $${variable.name}`);
  }
  return used;
}

/** Every metric name the alerts read, in their expressions and in the queries of their annotations. */
function alertMetricNames(): Map<string, string> {
  const used = new Map<string, string>();
  for (const rule of alerts()) {
    for (const name of metricNames(rule.expr)) used.set(name, `alert ${rule.alert}`);
    for (const text of Object.values(rule.annotations ?? {})) {
      for (const m of text.matchAll(/(?<![\w$])slipway_[a-z0-9_]+/g)) used.set(m[0], `alert ${rule.alert}`);
    }
  }
  return used;
}

/**
 * The series names a /metrics answer exposes, from its `# TYPE` lines: a histogram is read as its
 * `_bucket`, `_sum` and `_count` series. `up` is added: Prometheus writes it for every scrape.
 */
function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>(['up']);
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (!name) continue;
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

describe('alerting rules', () => {
  it('pass promtool check rules and their promtool unit tests; the example config loads them', () => {
    requireTool('promtool');
    for (const args of [
      ['check', 'rules', RULES],
      ['test', 'rules', RULE_TESTS],
      ['check', 'config', EXAMPLE_CONFIG],
    ]) {
      const run = spawnSync('promtool', args, { encoding: 'utf8' });
      expect(run.status, `promtool ${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(0);
    }
  });

  it('each have a severity, a summary, a description and a runbook_url to their RUNBOOK section', () => {
    const anchors = new Set(
      [...readFileSync(RUNBOOK, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1] ?? '')),
    );
    const rules = alerts();
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SlipwayHighErrorRate',
        'SlipwayHighLatencyP99',
        'SlipwayAutomaticRollback',
        'SlipwayJobRunFailed',
        'SlipwayDataDrift',
        'SlipwayInferenceWorkerRestarts',
        'SlipwayPredictionLogDropping',
        'SlipwayTargetDown',
      ]),
    );
    for (const rule of rules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      const url = rule.annotations?.runbook_url ?? '';
      expect(url, rule.alert).toBe(`RUNBOOK.md#${rule.alert.toLowerCase()}`);
      expect(anchors.has(url.split('#')[1] ?? ''), `${rule.alert}: no RUNBOOK heading for ${url}`).toBe(true);
    }
    // Every rule is tested: alerts.test.yaml names each alert at least once.
    const tested = readFileSync(RULE_TESTS, 'utf8');
    for (const rule of rules) expect(tested, rule.alert).toContain(`alertname: ${rule.alert}`);
  });
});

describe('Grafana dashboard', () => {
  it('is a dashboard on a Prometheus data source variable, with model and environment variables', () => {
    const board = dashboard();
    expect(board.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(board.uid).toBe('slipway');
    const variables = new Map(board.templating.list.map((v) => [v.name, v]));
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['model', 'environment']) {
      expect(templateQuery(variables.get(name) as TemplateVariable)).toMatch(
        new RegExp(`^label_values\\(slipway_\\w+.*, ${name}\\)$`),
      );
    }
    const panels = queryPanels();
    expect(new Set(board.panels.map((p) => p.id)).size).toBe(board.panels.length);
    for (const panel of panels) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax.
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.expr, panel.title).toBeTruthy();
    }
  });

  it('reads metric names from expressions, not functions, labels, strings or ranges', () => {
    expect(
      metricNames(
        'sum by (model, le) (rate(a_total{code=~"5..", x="up"}[$__rate_interval])) / on (model) group_left b unless c offset 15m > 0.05',
      ).sort(),
    ).toEqual(['a_total', 'b', 'c']);
  });
});

describe('Prometheus scraping a running Slipway', () => {
  const N = 25;
  let server: TestServer;
  let metricsUrl: string;
  let prometheusDir: string | undefined;
  let prometheus: string;

  const query = async (promql: string) => {
    const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    return body.data.result;
  };

  beforeAll(async () => {
    requireTool('prometheus');
    // All-in-one, so that it runs batch jobs too; every environment is under /envs/<env>/.
    server = await startServer({ SLIPWAY_METRICS_PORT: 0 }, { allInOne: true });
    metricsUrl = `http://${server.app.metricsAddress()}/metrics`;
    // Labelled series exist once something happened: models pushed, a prediction made.
    // Two different files: models that share an artifact share its batcher and its batch metrics.
    for (const [model, file] of [
      ['named', 'echo.onnx'],
      ['scraped', 'identity.onnx'],
    ] as const) {
      const pushed = await server.push(model, join(FIXTURES, file));
      expect(pushed.status, pushed.text).toBe(201);
    }
    const predicted = await server.request('POST', '/envs/dev/v1/models/named:predict', { instances: [[1]] });
    expect(predicted.status, predicted.text).toBe(200);

    prometheusDir = mkdtempSync(join(tmpdir(), 'slipway-prometheus-'));
    const port = await freePort();
    prometheus = execFileSync(
      'bash',
      [SCRIPT, 'start', prometheusDir, String(port), server.app.metricsAddress() as string, RULES],
      { encoding: 'utf8' },
    ).trim();
  });

  afterAll(async () => {
    if (prometheusDir) execFileSync('bash', [SCRIPT, 'stop', prometheusDir], { stdio: 'inherit' });
    await server?.stop();
  });

  it('finds every metric the dashboard and the alerts read among those the server exports', async () => {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    const exposition = await response.text();
    expect(exposition).toMatch(/^slipway_requests_total\{[^}]*model="named"[^}]*\} 1$/m);
    const exposed = exposedNames(exposition);
    const unknown = [...dashboardMetricNames(), ...alertMetricNames()]
      .filter(([name]) => !exposed.has(name))
      .map(([name, where]) => `${name} (${where})`);
    expect(unknown).toEqual([]);
  });

  it(`counts exactly the ${N} predictions it was sent, with the target up`, async () => {
    for (let i = 0; i < N; i++) {
      const response =
        i % 2 === 0
          ? await server.request('POST', '/envs/dev/v1/models/scraped:predict', { instances: [[i, 1, 2, 3]] })
          : await server.request('POST', '/envs/dev/v2/models/scraped/infer', {
              inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [i, 1, 2, 3] }],
            });
      expect(response.status, response.text).toBe(200);
    }
    const counted = await waitFor(
      `Prometheus to count ${N} requests`,
      async () => {
        const [sample] = await query('sum(slipway_requests_total{model="scraped"})');
        const value = Number(sample?.value[1]);
        if (value > N) throw new Error(`Prometheus counted ${value} requests, more than the ${N} sent`);
        return value === N ? value : undefined;
      },
      30_000,
    );
    expect(counted).toBe(N);
    const byProtocol = await query('sum by (protocol, code) (slipway_requests_total{model="scraped"})');
    expect(
      Object.fromEntries(byProtocol.map((s) => [`${s.metric.protocol} ${s.metric.code}`, s.value[1]])),
    ).toEqual({ 'v1 200': String(Math.ceil(N / 2)), 'v2 200': String(Math.floor(N / 2)) });
    const up = await query('up{job="slipway"}');
    expect(up.map((s) => s.value[1])).toEqual(['1']);
  });

  it('evaluates every alerting rule without error', async () => {
    const rules = await waitFor(
      'every rule to be evaluated',
      async () => {
        const response = await fetch(`${prometheus}/api/v1/rules?type=alert`);
        const body = (await response.json()) as {
          data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
        };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
      },
      30_000,
    );
    expect(rules.map((r) => r.name).sort()).toEqual(
      alerts()
        .map((r) => r.alert)
        .sort(),
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  it('fires SlipwayJobRunFailed for a real failed run, named by its batch job', async () => {
    const created = await server.request('POST', '/api/v1/jobs', {
      name: 'broken',
      model: 'scraped/1',
      source: { query: 'SELECT x FROM no_such_table' },
      sink: { table: 'broken_scores' },
      retries: 0,
    });
    expect(created.status, created.text).toBe(201);
    const queued = await server.request('POST', '/api/v1/jobs/broken/runs', { logical_date: '2001-01-01' });
    expect(queued.status, queued.text).toBe(202);
    const firing = await waitFor(
      'SlipwayJobRunFailed to fire',
      async () => {
        const response = await fetch(`${prometheus}/api/v1/alerts`);
        const body = (await response.json()) as {
          data: {
            alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string }[];
          };
        };
        return body.data.alerts.find(
          (a) => a.labels.alertname === 'SlipwayJobRunFailed' && a.state === 'firing',
        );
      },
      30_000,
    );
    expect(firing.labels).toMatchObject({ job_name: 'broken', severity: 'warning' });
    expect(firing.annotations.summary).toBe('Batch job broken had a failed run');
  });

  it('answers every dashboard query, with the labels its legends name', async () => {
    // Two scrapes after the predictions, so that rates have two samples.
    await waitFor('two samples of the scraped model', async () => {
      const [sample] = await query(
        'count_over_time(slipway_requests_total{model="scraped",protocol="v1"}[1m])',
      );
      return Number(sample?.value[1]) >= 2 ? true : undefined;
    });
    const fill = (expr: string) =>
      expr
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$model', 'scraped')
        .replaceAll('$environment', '.*');
    const answered: string[] = [];
    for (const panel of queryPanels()) {
      for (const target of panel.targets ?? []) {
        const where = `${panel.title} ${target.refId}`;
        const result = await query(fill(target.expr ?? ''));
        if (/Requests\/s|Error share|Latency|Batch size|Queue wait|Job runs|Memory|CPU/.test(panel.title)) {
          expect(result.length, where).toBeGreaterThan(0);
        }
        if (result.length > 0) answered.push(where);
        // A legend's {{label}} must be a label of the answer, or every series reads the same.
        const legendLabels = [...(target.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map(
          (m) => m[1],
        );
        for (const series of result) {
          for (const label of legendLabels) expect(Object.keys(series.metric), where).toContain(label);
        }
      }
    }
    expect(answered.length).toBeGreaterThan(0);
    for (const variable of dashboard().templating.list.filter((v) => v.type === 'query')) {
      const [, metric, label] = /label_values\(([^,]+), (\w+)\)/.exec(fill(templateQuery(variable))) ?? [];
      const values = (await query(`count by (${label}) (${metric})`)).map((s) => s.metric[label ?? '']);
      expect(values, variable.name).toContain(variable.name === 'model' ? 'scraped' : 'dev');
    }
  });
});
