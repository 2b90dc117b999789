import { echo, SlipwayError } from '../errors/index.js';

/**
 * MLflow's search filter language, the subset MLflow itself accepts:
 *
 *   filter     := clause ( AND clause )*
 *   clause     := identifier comparator value
 *   identifier := [entity "."] key       key: a word (dots allowed), `backticked` or "double quoted"
 *   comparator := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
 *   value      := 'single quoted' | "double quoted" | number | ( value, ... )   (lists for IN only)
 *
 * No OR, NOT or parentheses around clauses. Keywords are case-insensitive. Each search API says which
 * entities and attributes it knows (`FilterSpec`); anything else is INVALID_ARGUMENT, as a bad filter
 * is the caller's mistake.
 */

export type Entity = 'attribute' | 'metric' | 'param' | 'tag' | 'dataset';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

export interface Clause {
  readonly entity: Entity;
  readonly key: string;
  readonly comparator: Comparator;
  readonly value: string | number | readonly string[];
}

export interface OrderBy {
  readonly entity: Entity;
  readonly key: string;
  readonly ascending: boolean;
}

/** What one search API understands. */
export interface FilterSpec {
  /** Attribute names (after aliases) and their kind. */
  readonly attributes: Readonly<Record<string, 'string' | 'numeric'>>;
  /** Other names for attributes, e.g. `created` for `start_time`. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Entities other than attributes this API filters on. */
  readonly entities: readonly Exclude<Entity, 'attribute'>[];
}

const ENTITY_NAMES: Readonly<Record<string, Entity>> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};

const STRING_COMPARATORS: readonly Comparator[] = ['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'];
const NUMERIC_COMPARATORS: readonly Comparator[] = ['=', '!=', '<', '<=', '>', '>='];
const MAX_FILTER_LENGTH = 10_000;

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'quoted'; text: string; quote: '`' | '"' | "'" }
  | { kind: 'number'; text: string }
  | { kind: 'op'; text: string }
  | { kind: 'punct'; text: '(' | ')' | ',' };

function invalid(message: string): never {
  throw new SlipwayError('INVALID_ARGUMENT', message, { field: 'filter' });
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '`' || c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) invalid(`Invalid filter: unterminated ${c} quote at position ${i}.`);
        if (text[j] === c) {
          // A doubled quote stands for the quote itself, as in SQL.
          if (text[j + 1] === c) {
            value += c;
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j += 1;
      }
      tokens.push({ kind: 'quoted', text: value, quote: c });
      i = j + 1;
    } else if (/[-+0-9.]/.test(c) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.test(text.slice(i))) {
      const match = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'number', text: match[0] });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_.:-]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'word', text: match[0] });
      i += match[0].length;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', text: c });
      i += 1;
    } else {
      const match = /^(<=|>=|!=|<>|==|=|<|>)/.exec(text.slice(i));
      if (!match) invalid(`Invalid filter: unexpected character ${echo(c)} at position ${i}.`);
      tokens.push({ kind: 'op', text: match[0] === '==' ? '=' : match[0] === '<>' ? '!=' : match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly spec: FilterSpec,
  ) {}

  get done(): boolean {
    return this.position >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.position];
  }

  next(what: string): Token {
    const token = this.tokens[this.position];
    if (!token) invalid(`Invalid filter: expected ${what} but the filter ended.`);
    this.position += 1;
    return token;
  }

  isKeyword(word: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text.toUpperCase() === word;
  }

  /** `[entity.]key`, where key may follow the dot as a quoted token: tags.`my key`. */
  identifier(): { entity: Entity; key: string } {
    const token = this.next('an identifier');
    let entity: Entity = 'attribute';
    let key: string;
    if (token.kind === 'word') {
      const dot = token.text.indexOf('.');
      const prefix = dot < 0 ? '' : token.text.slice(0, dot).toLowerCase();
      if (dot >= 0 && prefix in ENTITY_NAMES) {
        entity = ENTITY_NAMES[prefix]!;
        key = token.text.slice(dot + 1);
        if (key === '') {
          const quoted = this.next('a key after the dot');
          if (quoted.kind !== 'quoted' || quoted.quote === "'") {
            invalid(`Invalid filter: expected a key after "${token.text}".`);
          }
          key = quoted.text;
        }
      } else {
        key = token.text;
      }
    } else if (token.kind === 'quoted' && token.quote !== "'") {
      key = token.text;
    } else {
      invalid(`Invalid filter: expected an identifier, got ${echo(token.text)}.`);
    }
    if (key === '') invalid('Invalid filter: an identifier has an empty key.');
    return this.checked(entity, key);
  }

  private checked(entity: Entity, key: string): { entity: Entity; key: string } {
    if (entity === 'attribute') {
      const name = this.spec.aliases?.[key] ?? this.spec.aliases?.[key.toLowerCase()] ?? key;
      if (!(name in this.spec.attributes)) {
        const known = Object.keys(this.spec.attributes).join(', ');
        invalid(`Invalid attribute key '${key}' specified. Valid keys are ${known}.`);
      }
      return { entity, key: name };
    }
    if (!this.spec.entities.includes(entity)) {
      invalid(`Invalid filter: this search does not filter on ${entity}s.`);
    }
    return { entity, key };
  }

  comparator(): Comparator {
    const token = this.next('a comparator');
    if (token.kind === 'op') return token.text as Comparator;
    if (token.kind === 'word') {
      const word = token.text.toUpperCase();
      if (word === 'LIKE' || word === 'ILIKE' || word === 'IN') return word;
      if (word === 'NOT' && this.isKeyword('IN')) {
        this.position += 1;
        return 'NOT IN';
      }
    }
    invalid(
      `Invalid filter: expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN), got ${echo(token.text)}.`,
    );
  }

  value(comparator: Comparator): string | number | string[] {
    if (comparator === 'IN' || comparator === 'NOT IN') {
      const open = this.next('(');
      if (open.kind !== 'punct' || open.text !== '(')
        invalid(`Invalid filter: ${comparator} expects a list such as ('a', 'b').`);
      const items: string[] = [];
      for (;;) {
        const item = this.next('a quoted value');
        if (item.kind !== 'quoted' || item.quote === '`')
          invalid('Invalid filter: list values must be quoted strings.');
        items.push(item.text);
        const separator = this.next(', or )');
        if (separator.kind === 'punct' && separator.text === ')') break;
        if (separator.kind !== 'punct' || separator.text !== ',')
          invalid('Invalid filter: expected , or ) in a list.');
      }
      return items;
    }
    const token = this.next('a value');
    if (token.kind === 'number') return Number(token.text);
    if (token.kind === 'quoted' && token.quote !== '`') return token.text;
    invalid(`Invalid filter: expected a quoted string or a number, got ${echo(token.text)}.`);
  }
}

/** Parses a filter; an empty or blank filter is no filter at all. */
export function parseFilter(filter: string | undefined, spec: FilterSpec): Clause[] {
  if (filter === undefined || filter.trim() === '') return [];
  if (filter.length > MAX_FILTER_LENGTH)
    invalid(`Invalid filter: longer than ${MAX_FILTER_LENGTH} characters.`);
  const parser = new Parser(tokenize(filter), spec);
  const clauses: Clause[] = [];
  for (;;) {
    const { entity, key } = parser.identifier();
    const comparator = parser.comparator();
    const value = parser.value(comparator);
    const numeric = entity === 'metric' || (entity === 'attribute' && spec.attributes[key] === 'numeric');
    const allowed = numeric ? NUMERIC_COMPARATORS : STRING_COMPARATORS;
    if (!allowed.includes(comparator)) {
      invalid(
        `Invalid comparator '${comparator}' for ${entity} '${key}'; expected one of ${allowed.join(', ')}.`,
      );
    }
    if (numeric && typeof value !== 'number') {
      invalid(`Invalid filter: ${entity} '${key}' is compared with a number, got ${echo(value)}.`);
    }
    if (!numeric && typeof value === 'number') {
      invalid(`Invalid filter: ${entity} '${key}' is compared with a quoted string, got ${value}.`);
    }
    clauses.push({ entity, key, comparator, value });
    if (parser.done) return clauses;
    if (!parser.isKeyword('AND')) {
      invalid(
        `Invalid filter: expected AND between clauses, got ${echo(parser.peek()!.text)} (OR is not supported).`,
      );
    }
    parser.next('AND');
  }
}

/** Parses `order_by` entries such as `metrics.acc DESC` or `name`. */
export function parseOrderBy(entries: readonly string[] | undefined, spec: FilterSpec): OrderBy[] {
  return (entries ?? []).map((entry) => {
    const tokens = tokenize(entry);
    const last = tokens[tokens.length - 1];
    let ascending = true;
    if (last?.kind === 'word' && ['ASC', 'DESC'].includes(last.text.toUpperCase())) {
      ascending = last.text.toUpperCase() === 'ASC';
      tokens.pop();
    }
    const parser = new Parser(tokens, { ...spec, entities: [...spec.entities] });
    let parsed: { entity: Entity; key: string };
    try {
      parsed = parser.identifier();
    } catch (error) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `Invalid order_by clause '${entry}': ${(error as Error).message}`,
        {
          field: 'order_by',
        },
      );
    }
    if (!parser.done) {
      throw new SlipwayError('INVALID_ARGUMENT', `Invalid order_by clause '${entry}'.`, {
        field: 'order_by',
      });
    }
    return { ...parsed, ascending };
  });
}

/** The value of an identifier for one item; undefined when the item has none. */
export type Lookup = (entity: Entity, key: string) => string | number | undefined;

/** Whether an item satisfies every clause. A missing value fails every comparison but `!=`. */
export function matches(clauses: readonly Clause[], lookup: Lookup): boolean {
  return clauses.every((clause) => matchesClause(clause, lookup(clause.entity, clause.key)));
}

function matchesClause(clause: Clause, actual: string | number | undefined): boolean {
  const { comparator, value } = clause;
  if (actual === undefined) return comparator === '!=' || comparator === 'NOT IN';
  switch (comparator) {
    case '=':
      return typeof value === 'number' ? Number(actual) === value : String(actual) === value;
    case '!=':
      return typeof value === 'number' ? Number(actual) !== value : String(actual) !== value;
    case '<':
      return Number(actual) < (value as number);
    case '<=':
      return Number(actual) <= (value as number);
    case '>':
      return Number(actual) > (value as number);
    case '>=':
      return Number(actual) >= (value as number);
    case 'LIKE':
      return likePattern(value as string, false).test(String(actual));
    case 'ILIKE':
      return likePattern(value as string, true).test(String(actual));
    case 'IN':
      return (value as string[]).includes(String(actual));
    case 'NOT IN':
      return !(value as string[]).includes(String(actual));
  }
}

/** SQL LIKE as a regular expression: `%` any run of characters, `_` one character. */
export function likePattern(pattern: string, ignoreCase: boolean): RegExp {
  const source = [...pattern]
    .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
}

/**
 * Sorts items by `order` then by `tieBreak`; items without a value for a key sort last whatever
 * the direction, as in MLflow.
 */
export function sortBy<T>(items: T[], order: readonly OrderBy[], lookup: (item: T) => Lookup): T[] {
  return items.sort((a, b) => {
    for (const { entity, key, ascending } of order) {
      const left = lookup(a)(entity, key);
      const right = lookup(b)(entity, key);
      const leftMissing = left === undefined || (typeof left === 'number' && Number.isNaN(left));
      const rightMissing = right === undefined || (typeof right === 'number' && Number.isNaN(right));
      if (leftMissing || rightMissing) {
        if (leftMissing && rightMissing) continue;
        return leftMissing ? 1 : -1;
      }
      const compared =
        typeof left === 'number' && typeof right === 'number'
          ? left - right
          : String(left) < String(right)
            ? -1
            : String(left) > String(right)
              ? 1
              : 0;
      if (compared !== 0) return ascending ? compared : -compared;
    }
    return 0;
  });
}
