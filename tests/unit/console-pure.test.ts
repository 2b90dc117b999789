import { describe, expect, it } from 'vitest';
import { figureKey, figuresBetween, parseSample } from '../../web/src/figures.js';
import { revisionDiff } from '../../web/src/revision-diff.js';
import { href, parseHash } from '../../web/src/route.js';
import type { Revision } from '../../web/src/types.js';

/** `/metrics` text as prom-client writes it: requests by code, and the latency histogram's buckets. */
function exposition(ok: number, failed: number, buckets: Record<string, number>): string {
  const labels = 'model="m",version="2",environment="prod"';
  return [
    '# HELP slipway_requests_total Prediction requests answered',
    '# TYPE slipway_requests_total counter',
    `slipway_requests_total{${labels},revision="3",protocol="v1",code="200"} ${ok}`,
    `slipway_requests_total{${labels},revision="3",protocol="v1",code="503"} ${failed}`,
    `slipway_requests_total{model="",version="",environment="",revision="",protocol="v1",code="404"} 7`,
    ...Object.entries(buckets).map(
      ([le, count]) => `slipway_request_duration_seconds_bucket{le="${le}",${labels},protocol="v1"} ${count}`,
    ),
    `slipway_request_duration_seconds_count{${labels},protocol="v1"} ${ok + failed}`,
  ].join('\n');
}

describe('live figures from two reads of /metrics', () => {
  it('gives requests per second, the 5xx share and p99 over the interval, per version', () => {
    const before = parseSample(exposition(100, 0, { '0.01': 100, '0.1': 100, '+Inf': 100 }), 0);
    // 2 s later: 200 more requests, 10 of them failed; 190 took under 10 ms, 10 between 10 and 100 ms.
    const after = parseSample(exposition(290, 10, { '0.01': 290, '0.1': 300, '+Inf': 300 }), 2000);
    const figures = figuresBetween(before, after).get(figureKey('prod', 'm', 2))!;
    expect(figures.requestsPerSecond).toBe(100);
    expect(figures.errorRate).toBe(0.05);
    // The 198th of 200: in the 10–100 ms bucket, 8 of its 10 requests in.
    expect(figures.p99Ms).toBeCloseTo(10 + 90 * (8 / 10), 6);
    expect(figures.total).toBe(300);
  });

  it('shows no rate before a second read, and no series for requests refused before a version was chosen', () => {
    const only = figuresBetween(null, parseSample(exposition(5, 0, { '+Inf': 5 }), 0));
    expect([...only.keys()]).toEqual(['prod/m/2']);
    expect(only.get('prod/m/2')).toEqual({ requestsPerSecond: 0, errorRate: null, p99Ms: null, total: 5 });
  });
});

describe('console addresses', () => {
  it('reads the link the mlflow client prints for a run', () => {
    const route = parseHash('#/experiments/1/runs/bba7e44098284ea89068193def36541a');
    expect(route.parts).toEqual(['experiments', '1', 'runs', 'bba7e44098284ea89068193def36541a']);
  });

  it('round-trips names with reserved characters and query parameters', () => {
    const link = href(['deployments', 'prod', 'a/b c'], { a: 1, b: 'x&y' });
    const route = parseHash(link);
    expect(route.parts).toEqual(['deployments', 'prod', 'a/b c']);
    expect([route.params.get('a'), route.params.get('b')]).toEqual(['1', 'x&y']);
    expect(parseHash('').parts).toEqual([]);
  });
});

describe('the difference between two revisions', () => {
  const revision = (traffic: Revision['traffic'], extra: Partial<Revision> = {}): Revision => ({
    deployment: 'm-prod',
    model: 'm',
    environment: 'prod',
    number: 1,
    traffic,
    tags: {},
    shadow: null,
    kind: 'traffic',
    actor: 'dee',
    reason: '',
    promotion_id: null,
    request_id: null,
    created_at: '2026-01-01T00:00:00.000Z',
    ...extra,
  });

  it('names each share, tag and shadow that changed', () => {
    const before = revision([{ version: 1, percent: 100 }], { tags: { old: 1 } });
    const after = revision(
      [
        { version: 2, percent: 10 },
        { version: 1, percent: 90 },
      ],
      { tags: { candidate: 2 }, shadow: { version: 1, percent: 100 } },
    );
    expect(revisionDiff(before, after)).toEqual([
      'v1 100% → 90%',
      'v2 0% → 10%',
      'tag candidate: none → v2',
      'tag old: v1 → none',
      'shadow none → v1 at 100%',
    ]);
    expect(revisionDiff(undefined, after)).toEqual(['first revision']);
    expect(revisionDiff(after, after)).toEqual(['no change in routing']);
  });
});
