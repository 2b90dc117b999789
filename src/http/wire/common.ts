import { type TSchema, Type } from '@sinclair/typebox';

/**
 * Shapes every API area shares. Wire modules (this folder, and `src/jobs/wire.ts`) import only
 * TypeBox and domain types, so the CLI can name the same shapes without loading server code.
 */

/** The one error body of every route (`$id` `Error`, registered once with `app.addSchema`). */
export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'What was wrong and what was expected.' }),
    code: Type.String({ description: 'Stable error code; see docs/errors.md.' }),
    request_id: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error' },
);

/** `schema` or JSON null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** The page size a list route accepts (a query string, so a digit string). */
export const Limit = Type.Optional(
  Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000 (default 100).' }),
);
/** Where a list route resumes: the `next_page_token` of the previous page. */
export const PageToken = Type.Optional(
  Type.String({ maxLength: 200, description: 'next_page_token of the previous page.' }),
);
/** The query fields of every paged list. */
export const PageQuery = { limit: Limit, page_token: PageToken };
/** Null on the last page. */
export const NextPageToken = Nullable(Type.String());

/** A name in a path (model, environment, job, dataset): bounded before any rule reads it. */
export const PathName = Type.String({ maxLength: 200 });

/** Every response a route may answer with a 204: no body. */
export const NoContent = Type.Null();

/** A list route's paging fields, as the stores take them. */
export function pageOf(query: { limit?: string; page_token?: string }): {
  limit?: number;
  pageToken?: string;
} {
  return {
    ...(query.limit !== undefined ? { limit: Number(query.limit) } : {}),
    ...(query.page_token !== undefined ? { pageToken: query.page_token } : {}),
  };
}

/** The error body by reference, for `schema.response`. */
export const ErrorRef = Type.Ref(ErrorSchema);

/** `{ 400: Error, 404: Error, … }`: the error statuses a route documents, all with the one error body. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorRef> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorRef])) as Record<S, typeof ErrorRef>;
}
