import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SlipwayError } from '../../errors/index.js';

/**
 * Where `make build` puts the console (Vite's output of web/): dist/console beside the compiled server.
 * This file is three folders below the package root both as source (src/http/routes) and compiled
 * (dist/http/routes).
 */
export const CONSOLE_FOLDER = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

/** Where the built assets live; their names carry a hash of their content, so they never change. */
const ASSETS = '/assets/';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The console's pages may run only their own scripts and styles and talk only to this server: no inline
 * script, no other origin, no framing (clickjacking an approval), no form posted anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** One file of the built console, held in memory with its gzipped twin. */
interface ConsoleFile {
  readonly body: Buffer;
  readonly gzipped: Buffer | null;
  readonly type: string;
  readonly immutable: boolean;
}

/**
 * Reads every file of the built console once, at start. Requests are answered from this table by exact
 * path, so no part of a URL ever reaches the file system: a path that is not a built file is not found,
 * whatever dots or encodings it holds.
 */
export function loadConsoleFiles(folder: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  if (!existsSync(join(folder, 'index.html'))) return files;
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const type = TYPES[extname(entry.name)];
    // Source maps and anything of an unknown kind stay on disk.
    if (type === undefined) continue;
    const url = `/${relative(folder, path).split(sep).join('/')}`;
    const body = readFileSync(path);
    const gzipped = body.length > 1024 && !type.startsWith('image/png') ? gzipSync(body) : null;
    files.set(url, { body, gzipped, type, immutable: url.startsWith(ASSETS) });
  }
  return files;
}

/**
 * The web console: `/` is its one page (it routes by the URL's `#` fragment, as the links the MLflow
 * client prints do), and its assets are served from the build beside it. Public like /docs: the page
 * holds no data; every call it makes to the API carries the user's token.
 */
export async function consoleRoutes(scope: FastifyInstance, folder = CONSOLE_FOLDER): Promise<void> {
  const files = loadConsoleFiles(folder);
  const route = { config: { access: 'public' as const }, schema: { hide: true } };
  const send = (request: FastifyRequest, reply: FastifyReply, url: string) => {
    const file = files.get(url);
    if (file === undefined) return reply.callNotFound();
    void reply
      .header('content-type', file.type)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CONSOLE_CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('vary', 'accept-encoding')
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    const accepts = String(request.headers['accept-encoding'] ?? '');
    if (file.gzipped && /\bgzip\b/.test(accepts)) {
      return reply.header('content-encoding', 'gzip').send(file.gzipped);
    }
    return reply.send(file.body);
  };

  scope.get('/', route, async (request, reply) => {
    if (!files.has('/index.html')) {
      throw new SlipwayError(
        'ROUTE_NOT_FOUND',
        'This installation has no console: build it with `make build` (or `npm run build`). The API is described at /docs.',
      );
    }
    return send(request, reply, '/index.html');
  });
  scope.get(`${ASSETS}*`, route, async (request, reply) => send(request, reply, request.url.split('?')[0]!));
  // Files at the top of the build (the icon), each by its own route; index.html only as `/`.
  for (const url of files.keys()) {
    if (url.startsWith(ASSETS) || url === '/index.html') continue;
    scope.get(url, route, async (request, reply) => send(request, reply, url));
  }
}
