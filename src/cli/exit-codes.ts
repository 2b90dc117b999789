import { SlipwayError } from '../errors/index.js';
import { ApiError, UnreachableError } from './api-client.js';

/** Exit codes scripts can rely on; documented in README.md ("CLI exit codes"). */
export const EXIT = {
  OK: 0,
  /** An unexpected error (a bug): the message says what happened. */
  FAILURE: 1,
  /**
   * The command line was wrong: unknown option, missing argument, unreadable file, a confirmation the
   * environment needs that was neither given nor typed.
   */
  USAGE: 2,
  /**
   * The server refused the request (4xx other than 401, 403, 404): bad input, an invalid model, a
   * conflict, a failed gate, a missing confirmation.
   */
  REFUSED: 3,
  /** What the command names does not exist (404): model, version, alias, environment, promotion… */
  NOT_FOUND: 4,
  /** The server could not be reached or failed (5xx). Retrying may help. */
  UNAVAILABLE: 5,
  /** No API token, an unknown or revoked one (401), or a role too weak for the action (403). */
  DENIED: 6,
  /**
   * A job run the command waited for (`jobs run --wait`) ended failed or cancelled: the request was
   * accepted, the run itself did not succeed. The output says why (the run's error).
   */
  RUN_FAILED: 7,
  /** `drift` found dataset drift: the report was computed, and the data drifted from the reference. */
  DRIFT: 8,
} as const;

/** Raised by commands for a mistake in their own arguments. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.USAGE;
  // Errors of the server code running in this process (serve, demo, tokens create --local): bad
  // settings, a port in use, a token name already taken.
  if (error instanceof SlipwayError)
    return error.code === 'INVALID_ARGUMENT'
      ? EXIT.USAGE
      : error.code === 'UNAVAILABLE'
        ? EXIT.UNAVAILABLE
        : error.code === 'ALREADY_EXISTS'
          ? EXIT.REFUSED
          : EXIT.FAILURE;
  if (error instanceof UnreachableError) return EXIT.UNAVAILABLE;
  if (error instanceof ApiError) {
    if (error.status === 401 || error.status === 403) return EXIT.DENIED;
    if (error.status === 404) return EXIT.NOT_FOUND;
    if (error.status >= 500) return EXIT.UNAVAILABLE;
    return EXIT.REFUSED;
  }
  return EXIT.FAILURE;
}
