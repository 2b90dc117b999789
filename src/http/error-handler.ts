import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, echo, isSlipwayError, SlipwayError } from '../errors/index.js';
import { ERROR_STATUS } from './error-status.js';

/**
 * The body of every error response, on every protocol: `error` is the human-readable message (the
 * key Open Inference Protocol and KServe clients read), `code` the stable code to branch on.
 */
export interface ErrorBody {
  readonly error: string;
  readonly code: ErrorCode;
  readonly request_id: string;
  readonly details?: Record<string, unknown>;
}

/** Fastify's own error codes for request-level failures, translated to Slipway's. */
const FRAMEWORK_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_ARGUMENT',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'INVALID_ARGUMENT',
  FST_FIELDS_LIMIT: 'INVALID_ARGUMENT',
  FST_PROTO_VIOLATION: 'INVALID_ARGUMENT',
};

/** Converts anything thrown into a SlipwayError; unknown errors become INTERNAL. */
export function toSlipwayError(error: unknown): SlipwayError {
  if (isSlipwayError(error)) return error;
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (fastifyError.validation) {
    const first = fastifyError.validation[0];
    const where = fastifyError.validationContext ?? 'body';
    const path = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
    const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
    const named = params.missingProperty ?? params.additionalProperty;
    const field = [where === 'body' ? '' : where, path, named].filter(Boolean).join('.') || where;
    const message = params.additionalProperty
      ? `${field}: unknown field; remove it`
      : `${field}: ${first?.message ?? 'is invalid'}${params.missingProperty ? '' : describeAllowed(first?.params)}`;
    return new SlipwayError('INVALID_ARGUMENT', `${message}.`, { field });
  }
  const code = fastifyError.code ? FRAMEWORK_CODES[fastifyError.code] : undefined;
  if (code) return new SlipwayError(code, frameworkMessage(code, fastifyError.message));
  if ((error as { code?: string }).code === 'SQLITE_BUSY') {
    return new SlipwayError(
      'UNAVAILABLE',
      'The registry database is locked by another process; retry shortly.',
    );
  }
  if (closedByClient(error)) {
    return new SlipwayError(
      'CLIENT_CLOSED_REQUEST',
      'The client closed the connection before sending the whole request.',
    );
  }
  if (TRUNCATED_FORM.has(String((error as { message?: unknown }).message))) {
    return new SlipwayError(
      'INVALID_ARGUMENT',
      'The multipart body ended inside a part; expected each part to end with its boundary and the form with the closing boundary.',
      { field: 'body' },
    );
  }
  if (error instanceof SyntaxError)
    return new SlipwayError('INVALID_JSON', `The request body is not valid JSON: ${error.message}`);
  return new SlipwayError('INTERNAL', 'Internal server error.');
}

/** The multipart parser's words for a form whose body ended before its closing boundary. */
const TRUNCATED_FORM = new Set(['Unexpected end of form', 'Unexpected end of multipart data']);

/** Node fails the body stream of a request whose client hung up with `aborted` (ECONNRESET). */
function closedByClient(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 'ECONNRESET' && message === 'aborted';
}

function describeAllowed(params: unknown): string {
  const allowed = (params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
  return allowed ? ` (${allowed.map((v) => JSON.stringify(v)).join(', ')})` : '';
}

function frameworkMessage(code: ErrorCode, message: string): string {
  if (code === 'UNSUPPORTED_MEDIA_TYPE')
    return `${message}. Send JSON with Content-Type: application/json (uploads: multipart/form-data).`;
  if (code === 'INVALID_JSON') return `The request body is not valid JSON: ${message}`;
  return message;
}

export function errorBody(error: SlipwayError, requestId: string): ErrorBody {
  return error.details
    ? { error: error.message, code: error.code, request_id: requestId, details: error.details }
    : { error: error.message, code: error.code, request_id: requestId };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const slipwayError = toSlipwayError(error);
    const status = ERROR_STATUS[slipwayError.code];
    if (status >= 500) request.log.error({ err: error, code: slipwayError.code }, 'request failed');
    else request.log.info({ code: slipwayError.code, error: slipwayError.message }, 'request refused');
    void reply.status(status).send(errorBody(slipwayError, request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new SlipwayError(
      'ROUTE_NOT_FOUND',
      `No route for ${request.method} ${echo(request.url.split('?')[0])}. The API is described at /docs.`,
    );
    void reply.status(404).send(errorBody(error, request.id));
  });
}
