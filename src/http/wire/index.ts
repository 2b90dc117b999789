import type { TSchema } from '@sinclair/typebox';
import { JobSchema, RunSchema } from '../../jobs/wire.js';
import { AuditEventSchema } from './audit.js';
import { ErrorSchema } from './common.js';
import { EnvironmentSchema, PromotionSchema, RevisionSchema } from './deployments.js';
import { ModelSchema, VersionSchema } from './models.js';
import { TokenSchema } from './tokens.js';

/**
 * The schemas with an `$id`: registered once on the server (`app.addSchema`), referenced by
 * `Type.Ref` from the routes of every area, and listed once under `components` in the OpenAPI document.
 */
export const SHARED_SCHEMAS: readonly TSchema[] = [
  ErrorSchema,
  ModelSchema,
  VersionSchema,
  EnvironmentSchema,
  RevisionSchema,
  PromotionSchema,
  AuditEventSchema,
  TokenSchema,
  JobSchema,
  RunSchema,
];
