import { hostname, networkInterfaces } from 'node:os';
import { SlipwayError } from '../errors/index.js';

/** One allowed host name or address, with the one port it may carry (null: any port). */
export interface HostPattern {
  /** Lower-case name, dotted IPv4 address, or IPv6 address without brackets. */
  readonly host: string;
  readonly port: number | null;
}

/**
 * The `Host` header values requests may carry: `any` (SLIPWAY_ALLOWED_HOSTS=*) or a list of patterns.
 * A page on another site that has rebound its own DNS name to Slipway's address sends its own name
 * as Host, so a list is what defeats DNS rebinding.
 */
export type HostAllowlist =
  | { readonly any: true }
  | { readonly any: false; readonly hosts: readonly HostPattern[] };

/** The names a loopback listener is reached by; `::1` without brackets is also accepted. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', 'localhost']);
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '']);

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*\.?$/;
const IPV6 = /^[0-9a-f:.]+(%[a-z0-9._-]+)?$/;

/**
 * Splits a `Host` header (or an allowlist entry) into host and port: `name`, `name:port`,
 * `1.2.3.4:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address. Null when it is none of these.
 */
export function parseHost(value: string): HostPattern | null {
  const text = value.trim().toLowerCase();
  let host: string;
  let port: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    port = rest === '' ? undefined : rest.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) return null;
  } else if ((text.match(/:/g) ?? []).length > 1) {
    host = text;
    if (!IPV6.test(host)) return null;
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    port = colon < 0 ? undefined : text.slice(colon + 1);
    if (!HOST_NAME.test(host)) return null;
  }
  if (port === undefined) return { host: host.replace(/\.$/, ''), port: null };
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return null;
  return { host: host.replace(/\.$/, ''), port: Number(port) };
}

/** Whether a request's `Host` header is allowed. A missing or malformed header never is (unless `*`). */
export function allowsHost(allowlist: HostAllowlist, header: string | undefined): boolean {
  if (allowlist.any) return true;
  if (header === undefined) return false;
  const given = parseHost(header);
  if (given === null) return false;
  return allowlist.hosts.some(
    (allowed) => allowed.host === given.host && (allowed.port === null || allowed.port === given.port),
  );
}

/**
 * Compiles SLIPWAY_ALLOWED_HOSTS. Unset, the default follows the listen address: on loopback, the
 * loopback names at any port; otherwise also the listen address itself, the machine's host name and,
 * for a wildcard listener (0.0.0.0, ::), every address of the machine's network interfaces. Names a
 * proxy or DNS forwards (`slipway.example.com`) must be listed.
 */
export function compileHostAllowlist(setting: string | undefined, listenHost: string): HostAllowlist {
  if (setting === undefined) return { any: false, hosts: defaultHosts(listenHost) };
  const entries = setting
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 1 && entries[0] === '*') return { any: true };
  if (entries.length === 0) throw invalidHosts(setting, 'at least one host name');
  return {
    any: false,
    hosts: entries.map((entry) => {
      const pattern = parseHost(entry);
      if (pattern === null)
        throw invalidHosts(setting, `a host name or address with an optional :port, not "${entry}"`);
      return pattern;
    }),
  };
}

function defaultHosts(listenHost: string): HostPattern[] {
  const names = new Set(LOOPBACK_NAMES);
  if (!LOOPBACK_ADDRESSES.has(listenHost)) {
    if (WILDCARD_ADDRESSES.has(listenHost)) {
      for (const addresses of Object.values(networkInterfaces())) {
        for (const address of addresses ?? []) names.add(address.address.toLowerCase());
      }
    } else {
      names.add(listenHost.toLowerCase());
    }
    names.add(hostname().toLowerCase());
  }
  return [...names].flatMap((name) => {
    const pattern = parseHost(name.includes(':') ? `[${name}]` : name);
    return pattern ? [pattern] : [];
  });
}

function invalidHosts(value: string, expected: string): SlipwayError {
  return new SlipwayError(
    'INVALID_ARGUMENT',
    `SLIPWAY_ALLOWED_HOSTS=${JSON.stringify(value)} is invalid: expected a comma-separated list of ${expected}, or * for any host.`,
    { variable: 'SLIPWAY_ALLOWED_HOSTS' },
  );
}

/**
 * Compiles SLIPWAY_ALLOWED_ORIGINS: web origins (`https://ui.example.com`) besides Slipway's own that
 * browsers may call it from, each normalised the way browsers serialise an `Origin` header.
 */
export function compileAllowedOrigins(setting: string | undefined): readonly string[] {
  const entries = (setting ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.map((entry) => {
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch {
      url = null;
    }
    const plain =
      url !== null &&
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.pathname === '/' &&
      url.search === '' &&
      url.hash === '' &&
      url.username === '' &&
      url.password === '';
    if (!plain) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `SLIPWAY_ALLOWED_ORIGINS=${JSON.stringify(setting)} is invalid: expected comma-separated origins such as https://ui.example.com:8443 (scheme, host and optional port; no path), not ${JSON.stringify(entry)}.`,
        { variable: 'SLIPWAY_ALLOWED_ORIGINS' },
      );
    }
    return (url as URL).origin;
  });
}
