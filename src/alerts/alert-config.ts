import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ALERT_KINDS, type AlertKind } from '../domain/alert.js';
import { SlipwayError } from '../errors/index.js';

/** How a webhook's body is shaped: Slipway's own JSON, or a Slack incoming-webhook message. */
export const WEBHOOK_FORMATS = ['json', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** Attempts per alert when a webhook does not say. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** One webhook of slipway.yaml `alerts.webhooks`, with its defaults and `${VAR}`s filled in. */
export interface WebhookSpec {
  /** Names the webhook in logs. */
  readonly name: string;
  /** An http:// or https:// URL; it may hold secrets (Slack's do), so it is never logged whole. */
  readonly url: string;
  readonly format: WebhookFormat;
  /** The kinds of alert it receives. */
  readonly events: readonly AlertKind[];
  /** Key of the HMAC-SHA256 body signature (`X-Slipway-Signature`), or null for unsigned bodies. */
  readonly secret: string | null;
  /** Attempts per alert, the first included. */
  readonly maxAttempts: number;
}

/** The `alerts:` section: where alerts go. */
export interface AlertsConfig {
  readonly webhooks: readonly WebhookSpec[];
}

const WebhookSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
    url: Type.String({ minLength: 1, maxLength: 2000 }),
    format: Type.Optional(Type.Union(WEBHOOK_FORMATS.map((f) => Type.Literal(f)))),
    events: Type.Optional(
      Type.Array(Type.Union(ALERT_KINDS.map((k) => Type.Literal(k))), { minItems: 1, uniqueItems: true }),
    ),
    secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
  },
  { additionalProperties: false },
);
const AlertsSchema = Type.Object(
  { webhooks: Type.Optional(Type.Array(WebhookSchema, { maxItems: 50 })) },
  { additionalProperties: false },
);
const checkAlerts = TypeCompiler.Compile(AlertsSchema);

/** What each field expects, for the message of a refused entry. */
const EXPECTED: Record<string, string> = {
  webhooks: 'a list of webhooks, each {name, url, format?, events?, secret?, max_attempts?}',
  name: 'a name of lowercase letters, digits, - and _ (at most 64, starting with a letter)',
  url: 'an http:// or https:// URL',
  format: `one of ${WEBHOOK_FORMATS.join(', ')}`,
  events: `a non-empty list of distinct events among ${ALERT_KINDS.join(', ')}`,
  secret: 'a non-empty string',
  max_attempts: 'an integer from 1 to 10',
};

/**
 * Compiles slipway.yaml's `alerts:` section. `${VAR}` in a URL or secret is replaced by that variable
 * of the server's process environment, so neither needs to be written in the file. Every entry is
 * checked here, at start-up: a bad one stops the server with INVALID_ARGUMENT and its field path.
 * Messages never repeat a URL or secret, which may be credentials.
 */
export function compileAlerts(value: unknown, source: string, env: NodeJS.ProcessEnv): AlertsConfig {
  if (value === undefined || value === null) return { webhooks: [] };
  const first = checkAlerts.Errors(value).First();
  if (first) {
    const segments = first.path.split('/').filter((s) => s !== '');
    const field = ['alerts', ...segments].join('.');
    const key = segments.findLast((s) => !/^\d+$/.test(s)) ?? '';
    // An unknown key is named by its path: say what the mapping around it takes.
    const expected =
      EXPECTED[key] ?? (segments[0] === 'webhooks' ? EXPECTED.webhooks : 'a mapping with `webhooks:`');
    throw refused(source, field, `${first.message}; expected ${expected}`);
  }
  const section = value as Static<typeof AlertsSchema>;
  const names = new Set<string>();
  const webhooks = (section.webhooks ?? []).map((entry, i): WebhookSpec => {
    const field = `alerts.webhooks.${i}`;
    if (names.has(entry.name)) {
      throw refused(source, `${field}.name`, `a second webhook is named "${entry.name}"; names must differ`);
    }
    names.add(entry.name);
    const url = substitute(entry.url, env, source, `${field}.url`);
    checkUrl(url, source, `${field}.url`);
    const secret =
      entry.secret === undefined ? null : substitute(entry.secret, env, source, `${field}.secret`);
    if (secret === '') throw refused(source, `${field}.secret`, 'is empty once its variables are filled in');
    return {
      name: entry.name,
      url,
      format: entry.format ?? 'json',
      events: entry.events ?? ALERT_KINDS,
      secret,
      maxAttempts: entry.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
    };
  });
  return { webhooks };
}

/** Fills in `${VAR}` from the process environment; an unset variable is refused, never left empty. */
function substitute(text: string, env: NodeJS.ProcessEnv, source: string, field: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, variable: string) => {
    const found = env[variable];
    if (found === undefined) throw refused(source, field, `uses \${${variable}}, which is not set`);
    return found;
  });
}

/** Webhooks are plain HTTP(S) POSTs: any other scheme (file:, ftp:, data:) is refused. */
function checkUrl(url: string, source: string, field: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refused(source, field, `is not a URL; expected ${EXPECTED.url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw refused(source, field, `has the scheme "${parsed.protocol}"; expected ${EXPECTED.url}`);
  }
}

function refused(source: string, field: string, message: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', `${source}: ${field}: ${message}.`, { field });
}
