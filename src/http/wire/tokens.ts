import { type Static, Type } from '@sinclair/typebox';
import type { StoredToken } from '../../auth/token-service.js';
import { ROLES } from '../../domain/roles.js';
import { Nullable } from './common.js';

/** The tokens area of the control API (`/api/v1/tokens`): API tokens, never their secrets but once. */

const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Role,
    created_by: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    revoked_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'Token' },
);

/** A token just made: the only answer that carries its secret. */
export const CreatedTokenSchema = Type.Object({
  ...TokenSchema.properties,
  token: Type.String({ description: 'The secret; send it as `Authorization: Bearer`.' }),
});

export const TokenBody = Type.Object(
  { name: Type.String({ maxLength: 64 }), role: Role },
  { additionalProperties: false },
);
export const TokenParams = Type.Object({ name: Type.String({ maxLength: 64 }) });
export const TokenList = Type.Object({ tokens: Type.Array(Type.Ref(TokenSchema)) });

export type WireToken = Static<typeof TokenSchema>;
export type WireCreatedToken = Static<typeof CreatedTokenSchema>;
export type WireTokenList = Static<typeof TokenList>;

export function toWireToken(t: StoredToken): WireToken {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    created_by: t.createdBy,
    created_at: t.createdAt,
    revoked_at: t.revokedAt,
  };
}

/**
 * Who the caller is: the token's name and role; the local admin when the server needs no token; or,
 * for a request without a token to a server that needs one, nobody (`name` and `role` null).
 */
export const WhoAmISchema = Type.Object({
  name: Nullable(
    Type.String({ description: "The token's name; `local` when the server runs in local mode." }),
  ),
  role: Nullable(Role),
  auth: Type.Boolean({ description: 'Whether the server needs a token (false in local mode).' }),
});
export type WireWhoAmI = Static<typeof WhoAmISchema>;
