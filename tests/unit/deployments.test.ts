import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withCanary } from '../../src/deployments/rollout-controller.js';
import { compileEnvironments, DEFAULT_ENVIRONMENTS } from '../../src/domain/environment.js';
import { assertTraffic, bucketOf, pickVersion, sameTraffic, versionsOf } from '../../src/domain/revision.js';
import { roleSatisfies } from '../../src/domain/roles.js';

describe('traffic splits', () => {
  it('accepts whole percents summing to 100, each version once', () => {
    expect(() =>
      assertTraffic([
        { version: 1, percent: 90 },
        { version: 2, percent: 10 },
      ]),
    ).not.toThrow();
    for (const bad of [
      [],
      [{ version: 1, percent: 90 }],
      [
        { version: 1, percent: 50.5 },
        { version: 2, percent: 49.5 },
      ],
      [
        { version: 1, percent: 50 },
        { version: 1, percent: 50 },
      ],
      [
        { version: 1, percent: 110 },
        { version: 2, percent: -10 },
      ],
    ]) {
      expect(() => assertTraffic(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('lands buckets on versions in proportion to their shares', () => {
    const traffic = [
      { version: 3, percent: 10 },
      { version: 1, percent: 90 },
    ];
    const counts = new Map<number, number>();
    for (let bucket = 0; bucket < 100; bucket++) {
      const version = pickVersion(traffic, bucket);
      counts.set(version, (counts.get(version) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ 3: 10, 1: 90 });
  });

  it('keeps a sticky key on one version, and on the canary as the canary grows', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (key) => {
        const bucket = bucketOf(key, 'm-prod');
        expect(bucketOf(key, 'm-prod')).toBe(bucket);
        const small = withCanary([{ version: 1, percent: 100 }], 2, 10);
        const large = withCanary(small, 2, 50);
        if (pickVersion(small, bucket) === 2) expect(pickVersion(large, bucket)).toBe(2);
      }),
      { numRuns: 2000 },
    );
  });

  it('builds canary splits that sum to 100, scaling the rest by largest remainder', () => {
    expect(withCanary([{ version: 1, percent: 100 }], 2, 10)).toEqual([
      { version: 2, percent: 10 },
      { version: 1, percent: 90 },
    ]);
    expect(
      withCanary(
        [
          { version: 1, percent: 50 },
          { version: 2, percent: 50 },
        ],
        3,
        25,
      ),
    ).toEqual([
      { version: 3, percent: 25 },
      { version: 1, percent: 38 },
      { version: 2, percent: 37 },
    ]);
    // Growing a canary replaces its own share instead of adding to it.
    expect(
      withCanary(
        [
          { version: 2, percent: 10 },
          { version: 1, percent: 90 },
        ],
        2,
        50,
      ),
    ).toEqual([
      { version: 2, percent: 50 },
      { version: 1, percent: 50 },
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 99 }),
        (weights, percent) => {
          // The rest is rescaled to fill what the canary leaves, whatever the baseline's weights.
          const baseline = weights.map((w, i) => ({ version: i + 1, percent: w }));
          const split = withCanary(baseline, 100, percent);
          assertTraffic(split);
          expect(split[0]).toEqual({ version: 100, percent });
        },
      ),
    );
  });

  it('names every version a revision can reach, and compares splits by share', () => {
    expect(
      versionsOf({
        traffic: [
          { version: 2, percent: 100 },
          { version: 1, percent: 0 },
        ],
        tags: { c: 5 },
        shadow: { version: 4, percent: 10 },
      }),
    ).toEqual([2, 4, 5]);
    expect(
      sameTraffic(
        [
          { version: 1, percent: 100 },
          { version: 2, percent: 0 },
        ],
        [{ version: 1, percent: 100 }],
      ),
    ).toBe(true);
    expect(sameTraffic([{ version: 1, percent: 100 }], [{ version: 2, percent: 100 }])).toBe(false);
  });
});

describe('environments', () => {
  it('defaults to dev -> staging -> prod, prod behind approval and confirmation', () => {
    expect(DEFAULT_ENVIRONMENTS.map((e) => [e.name, e.promotesFrom, e.autoDeploy])).toEqual([
      ['dev', null, true],
      ['staging', 'dev', false],
      ['prod', 'staging', false],
    ]);
    const prod = DEFAULT_ENVIRONMENTS[2]!;
    expect(prod.approval).toEqual({ role: 'approver', allowSelf: false });
    expect(prod.confirm).toBe(true);
  });

  it('compiles slipway.yaml, filling omitted fields from the defaults of the same name', () => {
    const [dev, qa, prod] = compileEnvironments([
      { name: 'dev' },
      { name: 'qa', gates: { latency: null } },
      { name: 'prod', rollout: { steps: [5, 100], bake_seconds: 30 } },
    ]);
    expect(dev).toMatchObject({ autoDeploy: true, promotesFrom: null, role: 'developer' });
    expect(qa).toMatchObject({
      autoDeploy: false,
      promotesFrom: 'dev',
      role: 'deployer',
      gates: { latency: null },
    });
    expect(prod).toMatchObject({
      promotesFrom: 'qa',
      approval: { role: 'approver' },
      rollout: { steps: [5, 100], bakeSeconds: 30 },
    });
  });

  it('refuses a malformed environments list with the field at fault', () => {
    for (const [value, field] of [
      [[{ name: 'Prod' }], 'environments.0.name'],
      [[{ name: 'dev' }, { name: 'dev' }], 'environments.1.name'],
      [[{ name: 'dev', promotes_from: 'prod' }], 'environments.0.promotes_from'],
      [[{ name: 'prod', rollout: { steps: [50, 10], bake_seconds: 1 } }], 'environments.0.rollout.steps'],
      [[{ name: 'dev', role: 'owner' }], 'environments.0.role'],
      [[{ name: 'dev', gates: { smoke: true, extra: 1 } }], 'environments.0.gates.extra'],
    ] as const) {
      expect(() => compileEnvironments(value)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field } }),
      );
    }
  });

  it('ranks roles, each including the rights of the ones before it', () => {
    expect(roleSatisfies('approver', 'deployer')).toBe(true);
    expect(roleSatisfies('developer', 'deployer')).toBe(false);
    expect(roleSatisfies('admin', 'approver')).toBe(true);
  });
});
