import type { Command } from 'commander';
import type { WireAuditEvent, WireAuditPage } from '../../http/wire/audit.js';
import { queryOf } from '../api-client.js';
import { wholeNumber } from '../arguments.js';
import type { CliContext } from '../cli-context.js';
import { table } from '../output.js';

/** `audit`: who did what to what, when, and how it ended. */
export function addAuditCommands(program: Command, cli: CliContext): void {
  program
    .command('audit')
    .description('the audit trail, newest first: who did what to what, when, and how it ended')
    .option('--target <target>', 'e.g. penguin-species-prod (a deployment), penguin-species/3, token:ci')
    .option('--actor <name>', 'a token name, local, or slipway (the server itself)')
    .option('--action <action>', 'an action, or a prefix ending in "." (promotion.)')
    .option('--limit <n>', 'how many events (default 50)')
    .action(async (options: { target?: string; actor?: string; action?: string; limit?: string }) => {
      const page = await cli.client().get<WireAuditPage>(
        `/api/v1/audit${queryOf({
          target: options.target,
          actor: options.actor,
          action: options.action,
          limit: options.limit === undefined ? 50 : wholeNumber(options.limit, '--limit'),
        })}`,
      );
      cli.output().result(page, () =>
        page.events.length === 0
          ? 'No events.'
          : table(
              ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'RESULT', 'REASON'],
              page.events.map((e) => [e.time, e.actor, e.action, e.target, e.result, reasonOf(e)]),
            ),
      );
    });
}

/** The why of an event: its recorded reason, or a gate's verdict. */
function reasonOf(event: WireAuditEvent): string | undefined {
  const reason = event.details?.reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  const message = (event.after as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}
