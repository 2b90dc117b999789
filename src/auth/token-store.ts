import type { Role } from '../domain/roles.js';

/** An API token as stored: never its secret, only what it grants. */
export interface StoredToken {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

/**
 * API tokens, found by the sha256 of their secret. A token is created once, revoked once, and
 * never deleted, so the audit trail's names stay meaningful.
 *
 * Errors: ALREADY_EXISTS (a token of that name), NOT_FOUND (revoking an unknown name).
 */
export interface TokenStore {
  create(token: StoredToken, hash: string): Promise<StoredToken>;
  /** The live (not revoked) token with this hash. */
  find(hash: string): Promise<StoredToken | null>;
  /** Every token, revoked ones included, oldest first. */
  list(): Promise<StoredToken[]>;
  /** Revokes a token by name; revoking it again keeps the first revocation time. */
  revoke(name: string): Promise<StoredToken>;
  /** How many tokens are live. */
  count(): Promise<number>;
}
