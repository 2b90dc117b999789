import type { ErrorCode } from './codes.js';

/** Structured context for an error: which field, what was expected, which validation rule. */
export type ErrorDetails = Record<string, unknown>;

/**
 * The one error type the core throws for expected failures. It carries a stable `code`; the HTTP
 * layer turns the code into a status and each protocol renders the same error in its own shape.
 * Anything else thrown is a bug and becomes `INTERNAL`.
 */
export class SlipwayError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = 'SlipwayError';
    this.code = code;
    this.details = details;
  }
}

export function isSlipwayError(error: unknown): error is SlipwayError {
  return error instanceof SlipwayError;
}
