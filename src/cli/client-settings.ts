import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';

/** Where a client command sends its requests, and the token it sends. */
export interface ClientSettings {
  /** The server's base URL, without a trailing slash. */
  readonly server: string;
  readonly token: string | null;
}

const CLIENT_VARIABLES = ['SLIPWAY_SERVER', 'SLIPWAY_TOKEN', 'SLIPWAY_HOST', 'SLIPWAY_PORT'] as const;
/** Addresses a server listens on that a client cannot connect to as such. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

/**
 * What a client command needs to reach a server: `--server` / `--token`, else `SLIPWAY_SERVER` /
 * `SLIPWAY_TOKEN` from the environment, then from `.env` in the working directory. Without a server
 * URL, the local one is guessed from `SLIPWAY_HOST` and `SLIPWAY_PORT` (a server started here). Only
 * these four variables are read: never `slipway.yaml` nor any other server setting, so a client works
 * in any folder, whatever the server configuration there says (or fails to say).
 */
export function clientSettings(
  options: { server?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): ClientSettings {
  const needed = options.server === undefined || options.token === undefined;
  const file = needed ? dotenvOf(cwd) : {};
  const read = (name: (typeof CLIENT_VARIABLES)[number]) => nonEmpty(env[name]) ?? nonEmpty(file[name]);
  const server =
    options.server ?? read('SLIPWAY_SERVER') ?? localServer(read('SLIPWAY_HOST'), read('SLIPWAY_PORT'));
  return { server: server.replace(/\/+$/, ''), token: options.token ?? read('SLIPWAY_TOKEN') ?? null };
}

function localServer(host: string | undefined, port: string | undefined): string {
  const address = host === undefined || ANY_ADDRESS.has(host) ? '127.0.0.1' : host;
  // Port 0 lets a server pick any port: nothing to guess from, so the default port it is.
  const number = port !== undefined && /^[1-9][0-9]{0,4}$/.test(port) ? port : '8080';
  return `http://${address.includes(':') && !address.startsWith('[') ? `[${address}]` : address}:${number}`;
}

function dotenvOf(cwd: string): Record<string, string> {
  const path = resolve(cwd, '.env');
  try {
    return existsSync(path) ? parseDotenv(readFileSync(path)) : {};
  } catch {
    // An unreadable .env leaves the environment and the defaults; the server would report it.
    return {};
  }
}

const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
