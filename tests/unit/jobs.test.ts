import { describe, expect, it } from 'vitest';
import { compileJob, dateIn, parseModelReference, renderQuery, toSpec } from '../../src/jobs/job.js';

describe('job model references', () => {
  it('reads a version, an alias, or a name with an environment', () => {
    expect(parseModelReference('flight-delay/3', null)).toEqual({
      kind: 'version',
      model: 'flight-delay',
      version: 3,
    });
    expect(parseModelReference('flight-delay@champion', null)).toEqual({
      kind: 'alias',
      model: 'flight-delay',
      alias: 'champion',
    });
    expect(parseModelReference('flight-delay', 'prod')).toEqual({
      kind: 'environment',
      model: 'flight-delay',
      environment: 'prod',
    });
  });

  it.each([
    ['flight-delay', null],
    ['flight-delay/0', null],
    ['flight-delay/3', 'prod'],
    ['flight-delay@champion', 'prod'],
    ['Flight/3', null],
    ['a%2Fb/1', null],
    ['flight-delay@1', null],
  ])('refuses %s with environment %s', (model, environment) => {
    expect(() => parseModelReference(model, environment)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('job queries', () => {
  it('puts the logical date in as a DATE literal, wherever the placeholder appears', () => {
    expect(
      renderQuery('SELECT * FROM t WHERE d = {{ logical_date }} OR e = {{logical_date}}', '2001-01-15'),
    ).toBe("SELECT * FROM t WHERE d = DATE '2001-01-15' OR e = DATE '2001-01-15'");
  });

  it('never puts anything but a real date in the SQL', () => {
    for (const date of ["2001-01-01' OR 1=1 --", '2001-02-30', '01/02/2001']) {
      expect(() => renderQuery('SELECT {{ logical_date }}', date)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('computes the logical date in the job’s time zone', () => {
    const instant = new Date('2001-01-01T23:30:00Z');
    expect(dateIn(instant, 'UTC')).toBe('2001-01-01');
    expect(dateIn(instant, 'Europe/Paris')).toBe('2001-01-02');
    expect(dateIn(instant, 'America/New_York')).toBe('2001-01-01');
  });
});

describe('job specs', () => {
  const spec = {
    name: 'flight-delay-prod',
    model: 'flight-delay',
    environment: 'prod',
    source: { query: 'SELECT 1' },
    sink: { table: 'flight_delay_scores' },
    schedule: '0 2 * * *',
  };

  it('fills defaults, and round-trips through the API spelling', () => {
    const job = compileJob(spec, 'ada', 'api');
    expect(job).toMatchObject({
      writeMode: 'replace_partition',
      timezone: 'UTC',
      catchup: 'latest',
      retries: 2,
      maxErrorRate: 0.01,
      source: { warehouse: 'default' },
      sink: { warehouse: 'default', errorsTable: 'flight_delay_scores_errors' },
      createdBy: 'ada',
    });
    expect(compileJob(toSpec(job), 'ada', 'api')).toMatchObject({
      ...job,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      scheduleSince: expect.any(String),
    });
  });

  it('keeps the schedule watermark while the schedule is unchanged, and resets it when it changes', async () => {
    const first = compileJob(spec, 'ada', 'api');
    await new Promise((r) => setTimeout(r, 5));
    expect(compileJob({ ...spec, description: 'new' }, 'bob', 'api', first)).toMatchObject({
      scheduleSince: first.scheduleSince,
      createdBy: 'ada',
      createdAt: first.createdAt,
    });
    expect(compileJob({ ...spec, schedule: '0 3 * * *' }, 'bob', 'api', first).scheduleSince).not.toBe(
      first.scheduleSince,
    );
  });

  it('refuses an invalid cron expression or time zone with what was expected', () => {
    expect(() => compileJob({ ...spec, schedule: '61 * * * *' }, 'ada', 'api')).toThrow(/cron expression/);
    expect(() => compileJob({ ...spec, timezone: 'Nowhere/City' }, 'ada', 'api')).toThrow(/time zone/);
  });
});
