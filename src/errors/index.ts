export { ALL_ERROR_CODES, ERROR_CODES, type ErrorCode } from './codes.js';
export { clip, ECHO_LIMIT, echo } from './echo.js';
export { type ErrorDetails, isSlipwayError, SlipwayError } from './slipway-error.js';
