import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Access } from '../../http/auth.js';
import { Fields } from './mlflow-wire.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Handler = (fields: Fields, params: Record<string, string>, request: FastifyRequest) => Promise<object>;

/** Registers one MLflow endpoint: hidden from Slipway's OpenAPI document, answering a JSON object. */
export function endpoint(
  app: FastifyInstance,
  methods: Method[],
  url: string,
  access: Access,
  handler: Handler,
): void {
  app.route({
    method: methods,
    url,
    config: { access },
    schema: { hide: true },
    handler: async (request) =>
      handler(new Fields(request), request.params as Record<string, string>, request),
  });
}

export function optionalPaging(f: Fields): { maxResults?: number; pageToken?: string } {
  const maxResults = f.integer('max_results');
  const pageToken = f.string('page_token');
  return {
    ...(maxResults !== undefined ? { maxResults } : {}),
    ...(pageToken ? { pageToken } : {}),
  };
}

export function withToken<T extends object>(body: T, token: string | null): T & { next_page_token?: string } {
  return token ? { ...body, next_page_token: token } : body;
}
