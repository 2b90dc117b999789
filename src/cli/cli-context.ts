import type { ApiClient } from './api-client.js';
import type { Output } from './output.js';

/**
 * What command modules get from the program: the output mode and an API client, both built from the
 * global options (`--json`, `--server`, `--token`) once commander has parsed them.
 */
export interface CliContext {
  /** Table-or-JSON printing, as `--json` asks. */
  output(): Output;
  /** A client for `--server` (or SLIPWAY_SERVER) sending `--token` (or SLIPWAY_TOKEN). */
  client(): ApiClient;
}
