export { ALL_ERROR_CODES, ERROR_CODES, type ErrorCode } from './codes.js';
export { type ErrorDetails, isSlipwayError, SlipwayError } from './slipway-error.js';
