import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyTypeProvider } from 'fastify';

/**
 * Types `request.body`, `params`, `query` and each `reply.code(…).send(…)` from a route's TypeBox
 * schemas: `app.withTypeProvider<TypeBoxTypeProvider>()`. Slipway's schemas are `@sinclair/typebox`
 * ones; the provider published as `@fastify/type-provider-typebox` 6 reads those of the `typebox` 1.x
 * package, whose `Static` turns Slipway's unions built from constant lists (`ROLES.map(Type.Literal)`)
 * into `never`. This is the same provider over the `Static` that built the schemas.
 */
export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}
