import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../../errors/index.js';
import { echo, SlipwayError } from '../../errors/index.js';
import { toSlipwayError } from '../../http/error-handler.js';

/** An MLflow error code and the HTTP status the MLflow client expects with it. */
interface MlflowError {
  readonly errorCode: string;
  readonly status: number;
}

const INVALID: MlflowError = { errorCode: 'INVALID_PARAMETER_VALUE', status: 400 };
const MISSING: MlflowError = { errorCode: 'RESOURCE_DOES_NOT_EXIST', status: 404 };

/**
 * Slipway's codes as MLflow errors (status map of MLflow's own server). Every deterministic failure
 * is a 4xx: the MLflow client retries 5xx responses for minutes, so only a failure that may pass on
 * its own (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL) is a 5xx.
 */
export const MLFLOW_ERRORS: Readonly<Record<ErrorCode, MlflowError>> = {
  INVALID_JSON: { errorCode: 'BAD_REQUEST', status: 400 },
  INVALID_ARGUMENT: INVALID,
  MISSING_INPUT: INVALID,
  UNKNOWN_INPUT: INVALID,
  INVALID_DATATYPE: INVALID,
  INVALID_SHAPE: INVALID,
  INVALID_VALUE: INVALID,
  INVALID_MODEL: INVALID,
  UNSUPPORTED_MODEL: INVALID,
  UNSUPPORTED_MEDIA_TYPE: { errorCode: 'BAD_REQUEST', status: 400 },
  PAYLOAD_TOO_LARGE: INVALID,
  CHECKSUM_MISMATCH: INVALID,
  MODEL_NOT_FOUND: MISSING,
  VERSION_NOT_FOUND: MISSING,
  ALIAS_NOT_FOUND: MISSING,
  ENVIRONMENT_NOT_FOUND: MISSING,
  NOT_DEPLOYED: MISSING,
  NOT_FOUND: MISSING,
  ROUTE_NOT_FOUND: { errorCode: 'ENDPOINT_NOT_FOUND', status: 404 },
  // MLflow answers a duplicate name with 400 RESOURCE_ALREADY_EXISTS, which its client tolerates.
  ALREADY_EXISTS: { errorCode: 'RESOURCE_ALREADY_EXISTS', status: 400 },
  FAILED_PRECONDITION: INVALID,
  VERSION_NOT_SERVABLE: INVALID,
  INVALID_TRANSITION: INVALID,
  CONFIRMATION_REQUIRED: INVALID,
  GATE_FAILED: INVALID,
  UNAUTHENTICATED: { errorCode: 'UNAUTHENTICATED', status: 401 },
  PERMISSION_DENIED: { errorCode: 'PERMISSION_DENIED', status: 403 },
  MISDIRECTED_HOST: { errorCode: 'PERMISSION_DENIED', status: 403 },
  FORBIDDEN_ORIGIN: { errorCode: 'PERMISSION_DENIED', status: 403 },
  CROSS_SITE_REQUEST: { errorCode: 'PERMISSION_DENIED', status: 403 },
  TOKEN_IN_URL: INVALID,
  MODEL_NOT_READY: { errorCode: 'TEMPORARILY_UNAVAILABLE', status: 503 },
  DEADLINE_EXCEEDED: { errorCode: 'DEADLINE_EXCEEDED', status: 504 },
  INFERENCE_FAILED: INVALID,
  UNAVAILABLE: { errorCode: 'TEMPORARILY_UNAVAILABLE', status: 503 },
  CLIENT_CLOSED_REQUEST: { errorCode: 'BAD_REQUEST', status: 499 },
  INTERNAL: { errorCode: 'INTERNAL_ERROR', status: 500 },
};

/** The MLflow error body `{"error_code", "message"}` (plus Slipway's code and the request id). */
export function sendMlflowError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: SlipwayError,
): FastifyReply {
  const { errorCode, status } = MLFLOW_ERRORS[error.code];
  return reply.status(status).send({
    error_code: errorCode,
    message: error.message,
    code: error.code,
    request_id: request.id,
  });
}

/**
 * Renders every error of the routes in `scope` (hooks included: 401 and 403 too) as an MLflow error,
 * and unknown paths under the scope's prefix as ENDPOINT_NOT_FOUND, which the client needs to fall
 * back to older endpoints.
 */
export function installMlflowErrors(scope: FastifyInstance): void {
  scope.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const slipwayError = toSlipwayError(error);
    const { status } = MLFLOW_ERRORS[slipwayError.code];
    if (status >= 500) request.log.error({ err: error, code: slipwayError.code }, 'request failed');
    else request.log.info({ code: slipwayError.code, error: slipwayError.message }, 'request refused');
    void sendMlflowError(request, reply, slipwayError);
  });
  scope.setNotFoundHandler((request, reply) => {
    void sendMlflowError(
      request,
      reply,
      new SlipwayError(
        'ROUTE_NOT_FOUND',
        `No MLflow endpoint for ${request.method} ${echo(request.url.split('?')[0])}.`,
      ),
    );
  });
}
