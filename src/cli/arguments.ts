import { UsageError } from './exit-codes.js';

/** A whole number of at least `min` from the command line, or a usage error naming `what`. */
export function wholeNumber(value: string, what: string, min = 1): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < min) {
    throw new UsageError(
      `${what} must be a whole number${min === 1 ? ' from 1' : ` of at least ${min}`}, got "${value}".`,
    );
  }
  return number;
}

/** The two sides of a `key=value` argument, or a usage error naming `what` and showing `example`. */
export function pairOf(spec: string, what: string, example: string): [string, string] {
  const at = spec.indexOf('=');
  if (at <= 0 || at === spec.length - 1) {
    throw new UsageError(`${what} must look like ${example}, got "${spec}".`);
  }
  return [spec.slice(0, at), spec.slice(at + 1)];
}

/** A version number as written on the command line: `3` or `v3`. */
export const versionOf = (value: string, what = 'version'): number =>
  wholeNumber(value.replace(/^v/i, ''), what);

/** Commander collector for a repeatable option; undefined when the option is never given. */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];
