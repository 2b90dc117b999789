import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ModelVersion } from '../domain/model.js';
import type { Revision } from '../domain/revision.js';
import type { Metrics } from '../observability/metrics.js';

/** The deployment version that answered a prediction request, once the data plane chose it. */
interface Served {
  readonly model: string;
  readonly version: string;
  readonly environment: string;
  readonly revision: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers predictions: each request is counted in `slipway_requests_total` under this protocol. */
    prediction?: 'v1' | 'v2';
  }
  interface FastifyRequest {
    served: Served | null;
  }
}

/**
 * Counts every request of a prediction route once, when its answer is sent, with the status sent and
 * the time taken: N requests add exactly N, whatever their outcome. Labels come from the version the
 * data plane chose (`noteServed`); a request refused before a version was chosen (an unknown model or
 * environment) counts with empty labels, so names from the URL never become series.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.decorateRequest('served', null);
  app.addHook('onResponse', async (request, reply) => {
    const protocol = request.routeOptions.config.prediction;
    if (protocol === undefined) return;
    const served = request.served ?? UNSERVED;
    metrics.request({ ...served, protocol, status: reply.statusCode, seconds: reply.elapsedTime / 1000 });
  });
}

const UNSERVED: Served = { model: '', version: '', environment: '', revision: '' };

/** Records which version and revision answer a prediction request (for its metrics labels). */
export function noteServed(reply: FastifyReply, version: ModelVersion, revision: Revision): void {
  reply.request.served = {
    model: version.model,
    version: String(version.version),
    environment: revision.environment,
    revision: String(revision.number),
  };
}
