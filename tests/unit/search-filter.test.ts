import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type FilterSpec,
  likePattern,
  matches,
  parseFilter,
  parseOrderBy,
  sortBy,
} from '../../src/mlflow/search-filter.js';

const RUNS: FilterSpec = {
  attributes: { run_id: 'string', run_name: 'string', status: 'string', start_time: 'numeric' },
  aliases: { created: 'start_time', 'run name': 'run_name' },
  entities: ['metric', 'param', 'tag', 'dataset'],
};
const MODELS: FilterSpec = { attributes: { name: 'string' }, entities: ['tag'] };

const refused = (filter: string, spec: FilterSpec = RUNS) => {
  try {
    parseFilter(filter, spec);
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return 'parsed';
};

describe('MLflow search filters', () => {
  it('parses the filters users and the client write', () => {
    expect(parseFilter("metrics.acc > 0.9 AND params.solver = 'lbfgs'", RUNS)).toEqual([
      { entity: 'metric', key: 'acc', comparator: '>', value: 0.9 },
      { entity: 'param', key: 'solver', comparator: '=', value: 'lbfgs' },
    ]);
    expect(parseFilter('tags.mlflow.runName = "bold-owl-1"', RUNS)).toEqual([
      { entity: 'tag', key: 'mlflow.runName', comparator: '=', value: 'bold-owl-1' },
    ]);
    expect(parseFilter("tag.`mlflow.prompt.is_prompt` != 'true'", MODELS)).toEqual([
      { entity: 'tag', key: 'mlflow.prompt.is_prompt', comparator: '!=', value: 'true' },
    ]);
    expect(parseFilter("attributes.run_id IN ('a', 'b') and created >= -5", RUNS)).toEqual([
      { entity: 'attribute', key: 'run_id', comparator: 'IN', value: ['a', 'b'] },
      { entity: 'attribute', key: 'start_time', comparator: '>=', value: -5 },
    ]);
    expect(parseFilter("`run name` ILIKE '%owl%'", RUNS)[0]).toMatchObject({
      key: 'run_name',
      comparator: 'ILIKE',
    });
    expect(parseFilter("status NOT IN ('FAILED')", RUNS)[0]).toMatchObject({ comparator: 'NOT IN' });
    expect(parseFilter('  ', RUNS)).toEqual([]);
    expect(parseFilter(undefined, RUNS)).toEqual([]);
  });

  it('refuses what MLflow refuses, as INVALID_ARGUMENT', () => {
    for (const filter of [
      "name = 'x' OR name = 'y'",
      "(name = 'x')",
      "metrics.acc > 'high'",
      'params.x > 1',
      "nonsense = 'x'",
      "name = 'unterminated",
      "metrics.acc LIKE '%'",
      "name = 'x' name = 'y'",
      "name IN 'x'",
      'name =',
      "name ~ 'x'",
    ]) {
      expect(
        refused(filter, filter.startsWith('name') || filter.startsWith('(') ? MODELS : RUNS),
        filter,
      ).toBe('INVALID_ARGUMENT');
    }
    expect(refused("params.x = 'y'", MODELS)).toBe('INVALID_ARGUMENT');
  });

  it('evaluates clauses; a missing value passes only != and NOT IN', () => {
    const clauses = parseFilter("tags.`mlflow.prompt.is_prompt` != 'true' AND name LIKE 'pen%'", {
      ...MODELS,
    });
    const lookup = (tags: Record<string, string>, name: string) => (entity: string, key: string) =>
      entity === 'tag' ? tags[key] : name;
    expect(matches(clauses, lookup({}, 'penguins'))).toBe(true);
    expect(matches(clauses, lookup({ 'mlflow.prompt.is_prompt': 'true' }, 'penguins'))).toBe(false);
    expect(matches(clauses, lookup({}, 'Penguins'))).toBe(false);
    expect(matches(parseFilter("name ILIKE 'PEN%'", MODELS), lookup({}, 'penguins'))).toBe(true);
    expect(matches(parseFilter('metrics.acc > 0.5', RUNS), () => undefined)).toBe(false);
  });

  it('LIKE treats only % and _ as wildcards', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        // A pattern with no wildcard matches exactly itself, whatever regex characters it holds.
        const literal = text.replace(/[%_]/g, '');
        expect(likePattern(literal, false).test(literal)).toBe(true);
        expect(likePattern(literal, false).test(`${literal}x`)).toBe(false);
        expect(likePattern('%', false).test(text)).toBe(true);
      }),
    );
  });

  it('round-trips any quoted value and any backticked key', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), (key, value) => {
        const quote = (s: string, q: string) => q + s.replaceAll(q, q + q) + q;
        const [clause] = parseFilter(`tags.${quote(key, '`')} = ${quote(value, "'")}`, RUNS);
        expect(clause).toEqual({ entity: 'tag', key, comparator: '=', value });
      }),
    );
  });

  it('never throws anything but INVALID_ARGUMENT on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (filter) => {
        const outcome = refused(filter);
        expect(['parsed', 'INVALID_ARGUMENT']).toContain(outcome);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts with missing values last in either direction', () => {
    const items = [{ v: 2 }, { v: undefined }, { v: 1 }, { v: 3 }];
    const order = (ascending: boolean) =>
      sortBy([...items], [{ entity: 'metric', key: 'v', ascending }], (item) => () => item.v).map((i) => i.v);
    expect(order(true)).toEqual([1, 2, 3, undefined]);
    expect(order(false)).toEqual([3, 2, 1, undefined]);
    expect(parseOrderBy(['metrics.acc DESC', 'start_time'], RUNS)).toEqual([
      { entity: 'metric', key: 'acc', ascending: false },
      { entity: 'attribute', key: 'start_time', ascending: true },
    ]);
    expect(() => parseOrderBy(['nonsense ASC'], RUNS)).toThrow(/order_by/);
  });
});
