import { type Command, Option } from 'commander';
import { LOCAL_ACTOR, ROLES, type Role } from '../../domain/roles.js';
import type { WireCreatedToken, WireToken, WireTokenList } from '../../http/wire/tokens.js';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../exit-codes.js';
import { table } from '../output.js';

/** `tokens create | ls | revoke`: API tokens, which only an admin may manage. */
export function addTokenCommands(program: Command, cli: CliContext): void {
  const tokens = program
    .command('tokens')
    .description('API tokens: create (secret shown once), list, revoke');

  tokens
    .command('create')
    .description('create a token for a role; its secret is printed this once')
    .argument('<name>', 'who or what uses it, e.g. ci or alice')
    .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
    .option(
      '--local',
      "write it straight into the data folder's registry, without a server (bootstraps the first admin token)",
    )
    .option('--data-dir <dir>', 'with --local: the data folder (default $SLIPWAY_DATA_DIR or ./.slipway)')
    .action(async (name: string, options: { role: Role; local?: boolean; dataDir?: string }) => {
      if (options.dataDir !== undefined && !options.local) {
        throw new UsageError('--data-dir goes with --local; without it the token is created by the server.');
      }
      const created = options.local
        ? await createLocally(name, options.role, options.dataDir)
        : await cli.client().post<WireCreatedToken>('/api/v1/tokens', { name, role: options.role });
      cli
        .output()
        .result(created, () =>
          [
            `Created token "${created.name}" with role ${created.role}${'registry' in created ? ` in ${created.registry}` : ''}:`,
            '',
            `  ${created.token}`,
            '',
            'Store it now: the secret is not shown again. Send it with --token or SLIPWAY_TOKEN.',
          ].join('\n'),
        );
    });

  tokens
    .command('ls')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const page = await cli.client().get<WireTokenList>('/api/v1/tokens');
      cli.output().result(page, () =>
        table(
          ['NAME', 'ROLE', 'ID', 'CREATED BY', 'CREATED', 'REVOKED'],
          page.tokens.map((t) => [t.name, t.role, t.id, t.created_by, t.created_at, t.revoked_at]),
        ),
      );
    });

  tokens
    .command('revoke')
    .description('revoke a token: requests that send it are refused from now on')
    .argument('<name>', 'token name')
    .action(async (name: string) => {
      const token = await cli.client().delete<WireToken>(`/api/v1/tokens/${encodeURIComponent(name)}`);
      cli
        .output()
        .result(
          token,
          () => `Revoked token "${token.name}" (role ${token.role}); requests that send it now get 401.`,
        );
    });
}

/**
 * Creates a token in the registry database itself, as the local admin. This is how the first admin
 * token comes to be: with authentication on, the API would need a token to create one.
 */
async function createLocally(
  name: string,
  role: Role,
  dataDir: string | undefined,
): Promise<WireCreatedToken & { registry: string }> {
  // The configuration and database code load only for --local, so the other commands start fast.
  const [{ compileConfig }, { storesForUri, redactDatabaseUri }, { TokenService }, { toWireToken }] =
    await Promise.all([
      import('../../config/index.js'),
      import('../../stores-for-uri.js'),
      import('../../auth/token-service.js'),
      import('../../http/wire/tokens.js'),
    ]);
  const config = compileConfig(dataDir === undefined ? {} : { SLIPWAY_DATA_DIR: dataDir });
  const { database, tokens, audit } = storesForUri(config.registryUri);
  try {
    await database.migrate();
    const { token, secret } = await new TokenService(tokens, audit).create(name, role, {
      actor: LOCAL_ACTOR,
      requestId: null,
    });
    return { ...toWireToken(token), token: secret, registry: redactDatabaseUri(config.registryUri) };
  } finally {
    await database.close();
  }
}
