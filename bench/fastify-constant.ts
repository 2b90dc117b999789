/**
 * The HTTP ceiling: bare Fastify that parses the V1 request like any JSON route and answers a
 * constant, the reference prediction (BENCH_RESPONSE). No model, no validation, no logging.
 * BENCH_WORKERS processes share BENCH_PORT through node:cluster.
 *
 *   BENCH_PORT=8090 BENCH_WORKERS=2 BENCH_RESPONSE='{"predictions":[]}' node --import tsx bench/fastify-constant.ts
 */
import cluster from 'node:cluster';
import Fastify from 'fastify';

const port = Number(process.env.BENCH_PORT);
const workers = Number(process.env.BENCH_WORKERS ?? 2);
const response = JSON.parse(process.env.BENCH_RESPONSE ?? '{}');

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  // A worker that dies takes the peer down: the bench then reports the failure instead of a number.
  cluster.on('exit', () => process.exit(1));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const app = Fastify({ logger: false });
  app.get('/health', async () => ({ status: 'ok' }));
  // `:target` is `penguin-species:predict`, as in Slipway's own V1 route.
  app.post('/v1/models/:target', async () => response);
  await app.listen({ host: '127.0.0.1', port });
}
