import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MlflowArtifacts } from '../mlflow-artifacts.js';
import { Fields, invalid } from './mlflow-wire.js';

const PREFIX = '/api/2.0/mlflow-artifacts/artifacts';

/**
 * The artifact path of a request, from the raw URL: percent-decoded exactly once, so that an
 * encoded `..` or `/` reaches the key rules (which refuse them) instead of a router's guess.
 */
function pathOf(request: FastifyRequest): string {
  const raw = (request.raw.url ?? '').split('?')[0]!;
  const encoded = raw.startsWith(`${PREFIX}/`) ? raw.slice(PREFIX.length + 1) : '';
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw invalid(`Invalid path '${encoded}': it is not valid percent-encoding.`, 'path');
  }
}

/**
 * MLflow's proxied artifact API (`mlflow-artifacts:` URIs): upload, download, list and delete,
 * stored in Slipway's artifact store. Multipart uploads are declined the way MLflow's client
 * understands (501), so it falls back to one PUT per file.
 */
/** Mounted under /api/2.0/mlflow-artifacts. */
export function artifactRoutes(app: FastifyInstance, artifacts: MlflowArtifacts): void {
  // Uploads are raw bytes with whatever Content-Type the client guessed; they are streamed to the
  // store, never parsed. (A browser cannot send a cross-site PUT without a CORS preflight.)
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // A refused upload leaves its body unread; drain it so the connection stays in step for the
  // client's next request on it (keep-alive with a chunked body).
  app.addHook('onSend', async (request) => {
    if (!request.raw.complete) request.raw.resume();
  });

  const download = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(request);
    const { stream, sizeBytes } = await artifacts.open(path);
    const name = path.split('/').pop() ?? 'artifact';
    return reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', sizeBytes)
      .header('content-disposition', `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      .header('x-content-type-options', 'nosniff')
      .send(stream);
  };
  app.get('/artifacts/*', { config: { access: 'viewer' }, schema: { hide: true } }, download);
  app.put('/artifacts/*', { config: { access: 'developer' }, schema: { hide: true } }, async (request) => {
    const path = pathOf(request);
    const body = request.body as NodeJS.ReadableStream | undefined;
    if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
      throw invalid('An artifact upload must carry the file as its body.', 'body');
    }
    await artifacts.put(path, body as AsyncIterable<Uint8Array>);
    return {};
  });
  app.delete('/artifacts/*', { config: { access: 'developer' }, schema: { hide: true } }, async (request) => {
    await artifacts.remove(pathOf(request));
    return {};
  });
  app.get('/artifacts', { config: { access: 'viewer' }, schema: { hide: true } }, async (request) => {
    const path = (new Fields(request).string('path') ?? '').replace(/\/+$/, '');
    const entries = await artifacts.list(path);
    if (entries.length === 0) return {};
    return {
      files: entries.map((e) => ({
        path: e.name,
        is_dir: e.isDir,
        ...(e.sizeBytes !== undefined ? { file_size: e.sizeBytes } : {}),
      })),
    };
  });
  for (const step of ['create', 'complete', 'abort']) {
    app.post(
      `/mpu/${step}/*`,
      { config: { access: 'developer' }, schema: { hide: true } },
      async (request, reply) =>
        reply.status(501).send({
          error_code: 'NOT_IMPLEMENTED',
          message: 'Multipart upload is not supported for the current artifact repository',
          request_id: request.id,
        }),
    );
  }
}
