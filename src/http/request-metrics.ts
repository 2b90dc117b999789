import type { FastifyInstance, FastifyReply, onResponseHookHandler } from 'fastify';
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
  if (!metrics.enabled) return;
  // A hook of the prediction routes alone, added as each is declared: other routes pay nothing, and a
  // prediction pays no route lookup and no promise for it.
  app.addHook('onRoute', (route) => {
    const protocol = (route.config as { prediction?: 'v1' | 'v2' } | undefined)?.prediction;
    if (protocol === undefined) return;
    const count: onResponseHookHandler = (request, reply, done) => {
      const served = request.served ?? UNSERVED;
      metrics.request({
        model: served.model,
        version: served.version,
        environment: served.environment,
        revision: served.revision,
        protocol,
        status: reply.statusCode,
        seconds: reply.elapsedTime / 1000,
      });
      done();
    };
    route.onResponse = [...[route.onResponse ?? []].flat(), count];
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
