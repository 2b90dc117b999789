import { SlipwayError } from '../errors/index.js';
import { ApiError, UnreachableError } from './api-client.js';

/** Exit codes scripts can rely on; documented in README.md ("CLI exit codes"). */
export const EXIT = {
  OK: 0,
  /** An unexpected error (a bug): the message says what happened. */
  FAILURE: 1,
  /** The command line was wrong: unknown option, missing argument, unreadable file. */
  USAGE: 2,
  /** The server refused the request (4xx other than 404): bad input, invalid model, conflict. */
  REFUSED: 3,
  /** The model, version or alias does not exist (404). */
  NOT_FOUND: 4,
  /** The server could not be reached or failed (5xx). Retrying may help. */
  UNAVAILABLE: 5,
} as const;

/** Raised by commands for a mistake in their own arguments. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.USAGE;
  // Errors of the server running in this process (serve, demo): bad settings, a port in use.
  if (error instanceof SlipwayError)
    return error.code === 'INVALID_ARGUMENT'
      ? EXIT.USAGE
      : error.code === 'UNAVAILABLE'
        ? EXIT.UNAVAILABLE
        : EXIT.FAILURE;
  if (error instanceof UnreachableError) return EXIT.UNAVAILABLE;
  if (error instanceof ApiError) {
    if (error.status === 404) return EXIT.NOT_FOUND;
    if (error.status >= 500) return EXIT.UNAVAILABLE;
    return EXIT.REFUSED;
  }
  return EXIT.FAILURE;
}
