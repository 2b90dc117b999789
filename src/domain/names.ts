import { echo, SlipwayError } from '../errors/index.js';

/**
 * Model names are lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most
 * 128 characters. The rule is strict on purpose: a name appears in URLs, file keys and CLI arguments,
 * and one canonical spelling means `a%2Fb` and `a/b` can never become two different models.
 */
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** Aliases follow the same rule, and must not be all digits, which would read as a version number. */
const ALIAS_NAME = /^[a-z][a-z0-9._-]{0,63}$/;

const TAG_KEY = /^[A-Za-z0-9_.:/-]{1,128}$/;

export function assertModelName(name: string, field = 'name'): string {
  if (!MODEL_NAME.test(name)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${echo(name)} is not a valid model name: expected lowercase letters, digits, '-', '_' or '.', starting with a letter or digit, at most 128 characters.`,
      { field, value: name },
    );
  }
  return name;
}

export function assertAliasName(alias: string, field = 'alias'): string {
  if (!ALIAS_NAME.test(alias)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${echo(alias)} is not a valid alias: expected a lowercase letter followed by lowercase letters, digits, '-', '_' or '.', at most 64 characters.`,
      { field, value: alias },
    );
  }
  return alias;
}

export function assertTags(tags: Record<string, string>, field = 'tags'): Record<string, string> {
  for (const [key, value] of Object.entries(tags)) {
    if (!TAG_KEY.test(key)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${field} key ${echo(key)} is invalid: expected 1-128 letters, digits or '_.:/-'.`,
        { field: `${field}.${key}` },
      );
    }
    if (typeof value !== 'string' || value.length > 5000) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${field}.${key} must be a string of at most 5000 characters.`,
        {
          field: `${field}.${key}`,
        },
      );
    }
  }
  return tags;
}

/** Parses a version path segment: a positive integer, nothing else ("01", "1.0" and "-1" are refused). */
export function parseVersionNumber(text: string, field = 'version'): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${field} ${echo(text)} is not a version number: expected 1, 2, 3…`,
      {
        field,
        value: text,
      },
    );
  }
  return Number(text);
}

/**
 * Parses the version segment of an inference path: a version number, or the name of a tag in the
 * deployment's revision (`/versions/candidate/infer`), spelled like an alias.
 */
export function parseVersionOrTag(text: string, field = 'version'): number | string {
  if (/^[0-9]+$/.test(text)) return parseVersionNumber(text, field);
  if (ALIAS_NAME.test(text)) return text;
  throw new SlipwayError(
    'INVALID_ARGUMENT',
    `${field} ${echo(text)} is neither a version number (1, 2, 3…) nor a tag name.`,
    { field, value: text },
  );
}
