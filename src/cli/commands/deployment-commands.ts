import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { PROMOTION_STATUSES } from '../../domain/promotion.js';
import type {
  PromoteRequest,
  WireDeploymentList,
  WireEnvironmentList,
  WirePromotionPage,
  WireRevisionPage,
} from '../../http/wire/deployments.js';
import { type ApiClient, ApiError, queryOf } from '../api-client.js';
import { collect, pairOf, versionOf, wholeNumber } from '../arguments.js';
import type { CliContext } from '../cli-context.js';
import {
  describePromotion,
  gateTable,
  outcomeOf,
  progressOf,
  trafficOf,
  type WireEnvironment,
  type WireGate,
  type WirePromotion,
  type WireRevision,
  type WireShare,
} from '../deployment-view.js';
import { UsageError } from '../exit-codes.js';
import { table } from '../output.js';

const enc = encodeURIComponent;

/**
 * Commands that move versions through environments and change what serves: deploy, promote,
 * approve, reject, rollout, traffic, rollback; and the ones that show it: status, history, promotions.
 */
export function addDeploymentCommands(program: Command, cli: CliContext): void {
  program
    .command('deploy')
    .description('deploy a version to an environment through its gates (default: the first one, dev)')
    .argument('<model>', 'model name')
    .argument('<version>', 'version number')
    .option('--env <env>', 'environment (default: the first in promotion order)')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action(async (model: string, version: string, options: { env?: string; reason?: string }) => {
      await promote(cli, options.env, { model, version: versionOf(version), reason: options.reason });
    });

  program
    .command('promote')
    .description(
      'promote a version into an environment: its gates run, then it waits for approval or deploys',
    )
    .argument('<model>', 'model name')
    .argument('<version>', 'version number')
    .requiredOption('--to <env>', 'the environment to promote into')
    .option('--canary', "roll out step by step by the environment's canary plan")
    .option('--allow-schema-change', 'accept inputs that differ from the version in service')
    .option('--confirm <env>', 'the environment name, where its policy asks for confirmation')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action(
      async (
        model: string,
        version: string,
        options: {
          to: string;
          canary?: boolean;
          allowSchemaChange?: boolean;
          confirm?: string;
          reason?: string;
        },
      ) => {
        await promote(cli, options.to, {
          model,
          version: versionOf(version),
          reason: options.reason,
          canary: options.canary,
          allow_schema_change: options.allowSchemaChange,
          confirm: options.confirm,
        });
      },
    );

  program
    .command('approve')
    .description('approve a promotion that awaits approval; it then deploys (or starts its canary)')
    .argument('<id>', 'promotion id (prm_…)')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action((id: string, options: { reason?: string }) =>
      act(cli, id, 'approve', 'Approved', options.reason),
    );

  program
    .command('reject')
    .description('reject a promotion that awaits approval; nothing changes in service')
    .argument('<id>', 'promotion id (prm_…)')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action((id: string, options: { reason?: string }) => act(cli, id, 'reject', 'Rejected', options.reason));

  const rollout = program
    .command('rollout')
    .description('pause or resume a canary rollout, or abort any promotion');
  rollout
    .command('pause')
    .description('hold the canary at its current step (analysis stops)')
    .argument('<id>', 'promotion id (prm_…)')
    .action((id: string) => act(cli, id, 'pause', 'Paused'));
  rollout
    .command('resume')
    .description('continue a paused rollout; its current step bakes again from now')
    .argument('<id>', 'promotion id (prm_…)')
    .action((id: string) => act(cli, id, 'resume', 'Resumed'));
  rollout
    .command('abort')
    .description('end a promotion that has not ended; a rollout gets the traffic from before it back')
    .argument('<id>', 'promotion id (prm_…)')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action((id: string, options: { reason?: string }) => act(cli, id, 'abort', 'Aborted', options.reason));

  program
    .command('traffic')
    .description("set a deployment's traffic split (and its tags and shadow) as a new revision")
    .argument('<model>', 'model name')
    .argument('<shares...>', 'version=percent for each version, summing to 100, e.g. 3=90 4=10')
    .requiredOption('--env <env>', 'environment')
    .option(
      '--tag <name=version>',
      'a tag that reaches one version by name (repeatable; replaces the tags)',
      collect,
    )
    .option('--shadow <version=percent>', 'mirror a share of requests to a version (answers are compared)')
    .option('--no-shadow', 'stop mirroring')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action(
      async (
        model: string,
        shares: string[],
        options: { env: string; tag?: string[]; shadow?: string | false; reason?: string },
      ) => {
        const body = {
          traffic: shares.map((spec) => shareOf(spec, 'A traffic share')),
          tags: options.tag && Object.fromEntries(options.tag.map(tagOf)),
          shadow:
            options.shadow === false
              ? null
              : options.shadow === undefined
                ? undefined
                : shareOf(options.shadow, '--shadow'),
          reason: options.reason,
        };
        const revision = await cli
          .client()
          .put<WireRevision>(
            `/api/v1/environments/${enc(options.env)}/deployments/${enc(model)}/traffic`,
            body,
          );
        cli
          .output()
          .result(
            revision,
            () => `${revision.deployment} revision ${revision.number}: ${trafficOf(revision)}`,
          );
      },
    );

  program
    .command('rollback')
    .description("restore a deployment's previous traffic (or a given revision's) as a new revision, at once")
    .argument('<model>', 'model name')
    .requiredOption('--env <env>', 'environment')
    .option('--to-revision <n>', 'the revision to restore (default: the newest whose traffic differs)')
    .option('--reason <text>', 'why; kept in the audit trail')
    .action(async (model: string, options: { env: string; toRevision?: string; reason?: string }) => {
      const revision = await cli
        .client()
        .post<WireRevision>(`/api/v1/environments/${enc(options.env)}/deployments/${enc(model)}/rollback`, {
          to_revision:
            options.toRevision === undefined ? undefined : wholeNumber(options.toRevision, '--to-revision'),
          reason: options.reason,
        });
      cli
        .output()
        .result(
          revision,
          () =>
            `Rolled back ${revision.deployment}: revision ${revision.number} serves ${trafficOf(revision)} (${revision.reason}).`,
        );
    });

  program
    .command('status')
    .description('what serves where: each deployment, its traffic, health and rollout in progress')
    .option('--env <env>', 'only this environment')
    .action(async (options: { env?: string }) => {
      const api = cli.client();
      const [environments, page] = await Promise.all([
        environmentsOf(api),
        api.get<WireDeploymentList>(`/api/v1/deployments${queryOf({ environment: options.env })}`),
      ]);
      const order = environments.map((e) => e.name);
      const deployments = [...page.deployments].sort(
        (a, b) =>
          a.model.localeCompare(b.model) || order.indexOf(a.environment) - order.indexOf(b.environment),
      );
      const policy = (name: string) => environments.find((e) => e.name === name);
      cli.output().result({ deployments }, () =>
        deployments.length === 0
          ? 'Nothing is deployed yet. A pushed version deploys to the first environment (dev); or run: slipway deploy <model> <version>'
          : table(
              ['ENVIRONMENT', 'MODEL', 'REVISION', 'TRAFFIC', 'HEALTH', 'ROLLOUT'],
              deployments.map((d) => [
                d.environment,
                d.model,
                d.revision.number,
                trafficOf(d.revision),
                d.health,
                d.promotions.map((p) => progressOf(p, policy(d.environment))).join('; ') || undefined,
              ]),
            ),
      );
    });

  program
    .command('history')
    .description("a deployment's revisions, newest first: every change to what serves, who made it and why")
    .argument('<model>', 'model name')
    .requiredOption('--env <env>', 'environment')
    .option('--limit <n>', 'how many revisions (default 20)')
    .action(async (model: string, options: { env: string; limit?: string }) => {
      const limit = options.limit === undefined ? 20 : wholeNumber(options.limit, '--limit');
      const out = cli.output();
      const page = await cli
        .client()
        .get<WireRevisionPage>(
          `/api/v1/environments/${enc(options.env)}/deployments/${enc(model)}/revisions${queryOf({ limit })}`,
        );
      out.result(page, () =>
        table(
          ['REV', 'KIND', 'TRAFFIC', 'ACTOR', 'WHEN', 'REASON'],
          page.revisions.map((r) => [r.number, r.kind, trafficOf(r), r.actor, r.created_at, r.reason]),
        ),
      );
      if (page.next_page_token) out.info(`(the newest ${limit}; --limit shows more)`);
    });

  const promotions = program
    .command('promotions')
    .description('promotions, newest first; `promotions show <id>` shows one with its gate results')
    .option('--model <model>', 'only this model')
    .option('--env <env>', 'only this environment')
    .option('--status <statuses>', `comma-separated, of ${PROMOTION_STATUSES.join(', ')}`)
    .option('--limit <n>', 'how many (default 50)')
    .action(async (options: { model?: string; env?: string; status?: string; limit?: string }) => {
      const page = await cli.client().get<WirePromotionPage>(
        `/api/v1/promotions${queryOf({
          model: options.model,
          environment: options.env,
          status: options.status && statusesOf(options.status),
          limit: options.limit === undefined ? 50 : wholeNumber(options.limit, '--limit'),
        })}`,
      );
      cli.output().result(page, () =>
        page.promotions.length === 0
          ? 'No promotions.'
          : table(
              ['ID', 'MODEL', 'VERSION', 'ENVIRONMENT', 'STATUS', 'REQUESTED BY', 'CREATED'],
              page.promotions.map((p) => [
                p.id,
                p.model,
                p.version,
                p.environment,
                p.status,
                p.requested_by,
                p.created_at,
              ]),
            ),
      );
    });
  promotions
    .command('show')
    .description('one promotion: its options, approval, rollout and gate results')
    .argument('<id>', 'promotion id (prm_…)')
    .action(async (id: string) => {
      const api = cli.client();
      const promotion = await api.get<WirePromotion>(`/api/v1/promotions/${enc(id)}`);
      const policy = await policyOf(api, promotion.environment);
      cli.output().result(promotion, () => describePromotion(promotion, policy));
    });
}

/** A promotion request whose optional fields may be left undefined (JSON leaves them out). */
type PromotionBody = { [K in keyof PromoteRequest]: PromoteRequest[K] | undefined } & Pick<
  PromoteRequest,
  'model' | 'version'
>;

/**
 * Sends a promotion, first asking for the typed confirmation the environment's policy wants (when
 * there is a terminal to ask on), and prints the gate results and what happens next.
 */
async function promote(cli: CliContext, env: string | undefined, body: PromotionBody): Promise<void> {
  const api = cli.client();
  const out = cli.output();
  const environments = await environmentsOf(api);
  const target = env ?? (environments[0] as WireEnvironment).name;
  // An unknown name still goes to the server, which answers ENVIRONMENT_NOT_FOUND with the list.
  const policy = environments.find((e) => e.name === target);
  const confirm = body.confirm ?? (policy?.confirm ? await askConfirmation(target) : undefined);
  let promotion: WirePromotion;
  try {
    promotion = await api.post<WirePromotion>(`/api/v1/environments/${enc(target)}/promotions`, {
      ...body,
      confirm,
    });
  } catch (error) {
    // Every gate's verdict explains a refusal better than the one line of the error alone.
    const gates =
      error instanceof ApiError && error.code === 'GATE_FAILED' ? error.details?.gates : undefined;
    if (Array.isArray(gates) && !out.json) out.result(gates, () => `${gateTable(gates as WireGate[])}\n`);
    throw error;
  }
  out.result(promotion, () => `${gateTable(promotion.gates)}\n\n${outcomeOf(promotion, policy)}`);
}

/** Asks on the terminal for the environment's name; without a terminal, says to pass --confirm. */
async function askConfirmation(env: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `Promoting to ${env} needs confirmation and there is no terminal to ask on: pass --confirm ${env}.`,
    );
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C or end of input while asking cancels the command instead of leaving the question open.
  const cancel = new AbortController();
  prompt.on('SIGINT', () => cancel.abort());
  prompt.on('close', () => cancel.abort());
  try {
    return (
      await prompt.question(`Type the environment name (${env}) to confirm: `, { signal: cancel.signal })
    ).trim();
  } catch (error) {
    if (cancel.signal.aborted) throw new UsageError('Cancelled; nothing was sent.');
    throw error;
  } finally {
    prompt.close();
  }
}

/** approve, reject, pause, resume or abort a promotion, then say where it stands. */
async function act(
  cli: CliContext,
  id: string,
  action: 'approve' | 'reject' | 'pause' | 'resume' | 'abort',
  done: string,
  reason?: string,
): Promise<void> {
  const api = cli.client();
  const promotion = await api.post<WirePromotion>(`/api/v1/promotions/${enc(id)}/${action}`, { reason });
  const policy = await policyOf(api, promotion.environment);
  cli.output().result(promotion, () => `${done} ${promotion.id}.\n${outcomeOf(promotion, policy)}`);
}

async function environmentsOf(api: ApiClient): Promise<WireEnvironment[]> {
  return (await api.get<WireEnvironmentList>('/api/v1/environments')).environments;
}

async function policyOf(api: ApiClient, env: string): Promise<WireEnvironment | undefined> {
  return (await environmentsOf(api)).find((e) => e.name === env);
}

/** `3=90` (or `v3=90%`) as a share of traffic. */
function shareOf(spec: string, what: string): WireShare {
  const [version, percent] = pairOf(spec, what, 'version=percent (3=90)');
  return {
    version: versionOf(version, `${what} ${spec}: the version`),
    percent: wholeNumber(percent.replace(/%$/, ''), `${what} ${spec}: the percent`, 0),
  };
}

function tagOf(spec: string): [string, number] {
  const [name, version] = pairOf(spec, '--tag', 'name=version (beta=4)');
  return [name, versionOf(version, `--tag ${spec}: the version`)];
}

function statusesOf(list: string): string {
  const statuses = list.split(',').map((s) => s.trim().toUpperCase());
  const unknown = statuses.filter((s) => !(PROMOTION_STATUSES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new UsageError(
      `--status ${unknown.join(',')} is not a promotion status; expected any of ${PROMOTION_STATUSES.join(', ')}.`,
    );
  }
  return statuses.join(',');
}
