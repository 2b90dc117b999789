/**
 * The closed set of error codes Slipway returns. Every code is documented in docs/errors.md (a test
 * checks it) and mapped to an HTTP status in exactly one place: `src/http/error-status.ts`.
 *
 * Codes are part of the public interface: clients branch on them, so they never change meaning.
 */
export const ERROR_CODES = {
  INVALID_JSON: 'The request body is not well-formed JSON.',
  INVALID_ARGUMENT:
    'A request field is missing, has the wrong type, or has a value outside what is accepted.',
  MISSING_INPUT: 'A model input that the signature requires is absent from the prediction request.',
  UNKNOWN_INPUT: 'The prediction request names an input (feature) that the model does not have.',
  INVALID_DATATYPE: "A prediction input's datatype differs from the model's, or a value has the wrong type.",
  INVALID_SHAPE: "A prediction input's shape, or its number of values, does not fit the model's signature.",
  INVALID_VALUE:
    'A prediction value is not allowed: null or NaN where the input is not nullable, or out of range.',
  INVALID_MODEL: 'An uploaded model was refused by validation; `details.reason` says which rule it broke.',
  UNSUPPORTED_MODEL:
    'An uploaded model is valid ONNX but uses something Slipway cannot serve (e.g. ZipMap outputs).',
  UNSUPPORTED_MEDIA_TYPE: 'The Content-Type of the request is not one the route accepts.',
  PAYLOAD_TOO_LARGE: 'The request body or uploaded file is larger than the configured limit.',
  CHECKSUM_MISMATCH: 'An uploaded artifact does not match the sha256 the client declared.',
  MODEL_NOT_FOUND: 'No model with that name exists.',
  VERSION_NOT_FOUND: 'The model exists but has no such version.',
  ALIAS_NOT_FOUND: 'The model has no such alias.',
  ENVIRONMENT_NOT_FOUND: 'No environment with that name is configured (see slipway.yaml).',
  NOT_DEPLOYED: 'The model has no revision in that environment yet; deploy or promote a version there.',
  NOT_FOUND:
    'The named promotion, revision, dataset, token, tag, job, job run, drift check, or MLflow experiment, run, logged model or artifact does not exist.',
  ROUTE_NOT_FOUND: 'No route matches the method and path.',
  ALREADY_EXISTS: 'The resource being created already exists.',
  FAILED_PRECONDITION: 'The request is valid but the resource is not in a state that allows it.',
  VERSION_NOT_SERVABLE:
    'The version cannot be loaded to serve: it is PENDING or FAILED, or stored as bytes Slipway never loads.',
  INVALID_TRANSITION:
    "The promotion's status does not allow this action (approve, reject, pause, resume, abort); `details.status` is its status and `details.allowed` the ones the action needs.",
  CONFIRMATION_REQUIRED:
    'The environment requires a typed confirmation: send `confirm` equal to its name (CLI: `--confirm <env>`).',
  GATE_FAILED:
    'A promotion gate (smoke, schema, validation, latency) failed; nothing changed in service. `details.gates` has the results.',
  UNAUTHENTICATED: 'The request has no API token, or the token is unknown or revoked.',
  PERMISSION_DENIED: "The token's role does not allow this action; `details.required` names the role needed.",
  MISDIRECTED_HOST:
    'The `Host` header names a host this server does not answer to (DNS rebinding); see SLIPWAY_ALLOWED_HOSTS.',
  FORBIDDEN_ORIGIN:
    'A browser sent the request from another web site (`Origin` or `Sec-Fetch-Site`); see SLIPWAY_ALLOWED_ORIGINS.',
  CROSS_SITE_REQUEST:
    'A state-changing request has a shape any web page can send without asking: send JSON with Content-Type: application/json, or add the header `X-Slipway-Client` (multipart uploads).',
  TOKEN_IN_URL:
    'The URL carries an API token (`?token=`, `?access_token=`, `?api_key=` or a `slw_` value); send it as `Authorization: Bearer` instead, and revoke it.',
  MODEL_NOT_READY: 'The model version exists but is not loaded and ready to serve yet.',
  DEADLINE_EXCEEDED:
    'Inference took longer than the configured timeout; the worker running it was restarted.',
  INFERENCE_FAILED: 'The model raised an error while computing on inputs that matched its signature.',
  UNAVAILABLE: 'A backend Slipway depends on is not reachable; retry later.',
  CLIENT_CLOSED_REQUEST:
    'The client closed the connection before the whole request arrived; nothing was kept. Only the log sees it: no client is left to answer.',
  INTERNAL: 'An unexpected server error. The request id in the body finds the log line.',
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

export const ALL_ERROR_CODES = Object.keys(ERROR_CODES) as ErrorCode[];
