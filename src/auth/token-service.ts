import { createHash, randomBytes } from 'node:crypto';
import type { AuditStore } from '../audit/audit-store.js';
import { type Actor, type RequestContext, type Role, requireRole } from '../domain/roles.js';
import { echo, SlipwayError } from '../errors/index.js';
import type { StoredToken, TokenStore } from './token-store.js';

export type { StoredToken };

const PREFIX = 'slw_';
const TOKEN_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * API tokens. A token is 32 random bytes shown once at creation; the store keeps only its sha256,
 * which is enough for a secret of that entropy (a slow password hash protects guessable secrets,
 * and these are not guessable). Requests present it as `Authorization: Bearer slw_…`.
 */
export class TokenService {
  constructor(
    private readonly store: TokenStore,
    private readonly audit: AuditStore,
  ) {}

  /** Creates a token and returns its secret, which is never shown again. */
  async create(
    name: string,
    role: Role,
    context: RequestContext,
  ): Promise<{ token: StoredToken; secret: string }> {
    requireRole(context.actor, 'admin', 'Creating a token');
    if (!TOKEN_NAME.test(name)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `name ${echo(name)} is not a valid token name: expected lowercase letters, digits, '.', '_' or '-', at most 64 characters.`,
        { field: 'name' },
      );
    }
    const secret = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const token = await this.store.create(
      {
        id: randomBytes(4).toString('hex'),
        name,
        role,
        createdBy: context.actor.name,
        createdAt: new Date().toISOString(),
        revokedAt: null,
      },
      hashOf(secret),
    );
    await this.audit.record({
      actor: context.actor.name,
      action: 'token.create',
      target: `token:${name}`,
      after: { name, role },
      result: 'ok',
      requestId: context.requestId,
    });
    return { token, secret };
  }

  async revoke(name: string, context: RequestContext): Promise<StoredToken> {
    requireRole(context.actor, 'admin', 'Revoking a token');
    const token = await this.store.revoke(name);
    await this.audit.record({
      actor: context.actor.name,
      action: 'token.revoke',
      target: `token:${name}`,
      before: { name, role: token.role },
      result: 'ok',
      requestId: context.requestId,
    });
    return token;
  }

  /** How many tokens are live (none means nobody can call the API with authentication on). */
  count(): Promise<number> {
    return this.store.count();
  }

  list(): Promise<StoredToken[]> {
    return this.store.list();
  }

  /** The actor an `Authorization` header names; UNAUTHENTICATED when it names none. */
  async authenticate(header: string | undefined): Promise<Actor> {
    if (header === undefined || header === '') {
      throw new SlipwayError(
        'UNAUTHENTICATED',
        'This route needs an API token: send `Authorization: Bearer <token>` (CLI: --token or SLIPWAY_TOKEN).',
      );
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new SlipwayError('UNAUTHENTICATED', 'The Authorization header must be `Bearer <token>`.');
    }
    const secret = match[1] as string;
    const token = secret.startsWith(PREFIX) ? await this.store.find(hashOf(secret)) : null;
    if (!token) {
      throw new SlipwayError('UNAUTHENTICATED', 'The API token is unknown or has been revoked.');
    }
    return { name: token.name, role: token.role };
  }
}

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
