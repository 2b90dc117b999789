import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allowsHost, type HostAllowlist } from '../config/index.js';
import { ECHO_LIMIT, echo, SlipwayError } from '../errors/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route reads a body sent without any Content-Type (tritonclient's inference requests).
     * Such a POST is one a web page can send without a CORS preflight, so only routes that change
     * nothing may take it; the Origin and Host checks still apply.
     */
    untypedBody?: boolean;
  }
}

/** What the guard lets through besides Slipway's own origin and the loopback names. */
export interface RequestGuardOptions {
  readonly allowedHosts: HostAllowlist;
  /** Other web origins allowed to call the API from a browser; they are answered with CORS headers. */
  readonly allowedOrigins: readonly string[];
}

/** The header Slipway's own clients send so that a browser can only send the request after a preflight. */
export const CLIENT_HEADER = 'x-slipway-client';

/** Methods a browser sends cross-site without a preflight (forms, `no-cors` fetch). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Content types a browser sends cross-site without a preflight (the CORS-safelisted ones). */
const SIMPLE_CONTENT_TYPES = new Set([
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'text/plain',
]);
/** Query parameters that carry credentials in other APIs; Slipway takes none of them. */
const TOKEN_PARAMETERS = new Set([
  'token',
  'access_token',
  'api_key',
  'apikey',
  'api-key',
  'auth_token',
  'authorization',
]);
/** A Slipway API token: `slw_` and 32 random bytes in base64url. */
const SLIPWAY_TOKEN = /slw_[A-Za-z0-9_-]{43}/;

const ALLOWED_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  CLIENT_HEADER,
  'x-request-id',
  'inference-header-content-length',
].join(', ');
const EXPOSED_HEADERS =
  'x-request-id, x-slipway-model-version, x-slipway-revision, x-slipway-replica, inference-header-content-length';

/**
 * Installs the one check every request passes before routing, authentication or body parsing (call
 * before registering routes): it refuses requests addressed to a host the server does not answer to
 * (DNS rebinding), requests with a token in the URL, requests a browser sends from another site, and
 * state-changing requests a web page could send without a CORS preflight. Each holds on its own: a
 * browser that sends no `Origin` still cannot skip the preflight, and a rebinding page, whose
 * `Origin` matches the Host it uses, is stopped by the Host allowlist.
 */
export function installRequestGuard(app: FastifyInstance, options: RequestGuardOptions): void {
  const allowedOrigins = new Set(options.allowedOrigins);
  app.addHook('onRequest', async (request, reply) => {
    const { headers } = request;
    if (!allowsHost(options.allowedHosts, headers.host)) {
      throw new SlipwayError(
        'MISDIRECTED_HOST',
        `This server does not answer to the host ${echo(headers.host ?? '')}; address it by a name listed in SLIPWAY_ALLOWED_HOSTS (default: the loopback names).`,
      );
    }
    refuseTokenInUrl(request.url);
    const listedOrigin = typeof headers.origin === 'string' && allowedOrigins.has(headers.origin);
    if (!listedOrigin) refuseCrossSite(request);
    if (listedOrigin && request.method === 'OPTIONS' && headers['access-control-request-method']) {
      return answerPreflight(reply);
    }
    refusePreflightFreeWrite(request);
  });
  if (allowedOrigins.size === 0) return;
  app.addHook('onSend', async (request, reply) => {
    const origin = request.headers.origin;
    void reply.header('vary', 'Origin');
    if (typeof origin === 'string' && allowedOrigins.has(origin)) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
  });
}

function answerPreflight(reply: FastifyReply): FastifyReply {
  return reply
    .status(204)
    .header('access-control-allow-origin', reply.request.headers.origin)
    .header('access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE')
    .header('access-control-allow-headers', ALLOWED_REQUEST_HEADERS)
    .header('access-control-max-age', '600')
    .header('vary', 'Origin')
    .send();
}

/**
 * Tokens in URLs end up in logs, proxies and browser history. Slipway reads tokens only from the
 * Authorization header, so a URL that carries one is a mistake worth stopping loudly.
 */
function refuseTokenInUrl(url: string): void {
  const start = url.indexOf('?');
  if (start < 0) return;
  for (const [name, value] of new URLSearchParams(url.slice(start + 1))) {
    const secretName = SLIPWAY_TOKEN.test(name);
    if (TOKEN_PARAMETERS.has(name.toLowerCase()) || SLIPWAY_TOKEN.test(value) || secretName) {
      // The parameter is named so the client can find it, unless its name is the token itself.
      const parameter = secretName
        ? 'a parameter whose name is a token'
        : `the query parameter ${echo(name)}`;
      throw new SlipwayError(
        'TOKEN_IN_URL',
        `The URL carries a credential in ${parameter}; URLs are logged and cached. Send the token as "Authorization: Bearer <token>" and revoke the one you sent.`,
        secretName ? undefined : { parameter: name.slice(0, ECHO_LIMIT) },
      );
    }
  }
}

/**
 * A browser names the page that made the request: `Origin` (every non-GET fetch and form post) and
 * `Sec-Fetch-Site`. Either one saying "another site" is enough to refuse. A sibling subdomain
 * (`same-site`) is another site for a server that listens on a developer's machine. Following a link
 * to Slipway (a top-level GET navigation) is still allowed: it changes nothing and shows a page.
 */
function refuseCrossSite(request: FastifyRequest): void {
  const { headers, method } = request;
  const origin = headers.origin;
  if (origin !== undefined) {
    if (origin === 'null') {
      if (!SAFE_METHODS.has(method)) {
        throw forbiddenOrigin(
          'An opaque origin ("null": a sandboxed frame, a file or a redirect) may not change anything',
        );
      }
    } else if (!sameOrigin(origin, headers.host)) {
      throw forbiddenOrigin(`A page from ${echo(origin)} may not call this server`);
    }
  }
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    const navigation = (method === 'GET' || method === 'HEAD') && headers['sec-fetch-mode'] === 'navigate';
    if (!navigation) throw forbiddenOrigin(`The browser reports a ${site} request`);
  }
}

function forbiddenOrigin(what: string): SlipwayError {
  return new SlipwayError(
    'FORBIDDEN_ORIGIN',
    `${what}; Slipway answers only its own pages and the origins in SLIPWAY_ALLOWED_ORIGINS.`,
  );
}

/**
 * Whether `origin` is the server itself as the browser addressed it: the same host and port as the
 * request's Host header (a TLS-terminating proxy in front keeps the host, and the scheme's default
 * port stands for a Host without one).
 */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== 'http:' && from.protocol !== 'https:') return false;
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/**
 * A browser sends a POST to another site without asking first (no CORS preflight) when it has no
 * headers of its own and no Content-Type or a form-like one. Every Slipway client sends a JSON or
 * binary Content-Type, a token, or the X-Slipway-Client header, none of which a page can add
 * without the preflight that Slipway never grants; so a write of the preflight-free shape comes from
 * a page on another site, and is refused before anything reads it. PUT, PATCH and DELETE are always
 * preflighted.
 */
function refusePreflightFreeWrite(request: FastifyRequest): void {
  const { headers, method } = request;
  if (method !== 'POST') return;
  if (headers.authorization !== undefined || headers[CLIENT_HEADER] !== undefined) return;
  const type = headers['content-type'];
  if (type === undefined) {
    if (request.routeOptions.config?.untypedBody === true) return;
  } else if (!SIMPLE_CONTENT_TYPES.has(type.split(';')[0]!.trim().toLowerCase())) {
    return;
  }
  throw new SlipwayError(
    'CROSS_SITE_REQUEST',
    `A POST with ${type === undefined ? 'no Content-Type' : `Content-Type ${echo(type)}`} is what any web page can send here without asking. Send JSON with Content-Type: application/json; for a multipart upload, add the header "X-Slipway-Client: <your client's name>".`,
  );
}
