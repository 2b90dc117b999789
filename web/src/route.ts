/**
 * The console routes by the URL's fragment (`#/experiments/1/runs/abc`): the server has one page, and
 * the links the `mlflow` client prints (`http://host/#/experiments/<id>/runs/<run>`) open the run.
 */
export interface Route {
  /** Path segments after `#/`, decoded. */
  readonly parts: readonly string[];
  readonly params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const body = hash.replace(/^#\/?/, '');
  const mark = body.indexOf('?');
  const path = mark < 0 ? body : body.slice(0, mark);
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, params: new URLSearchParams(mark < 0 ? '' : body.slice(mark + 1)) };
}

/** A fragment link from path segments (each encoded) and optional query parameters. */
export function href(parts: readonly (string | number)[], params?: Record<string, string | number>): string {
  const path = parts.map((p) => encodeURIComponent(String(p))).join('/');
  const search = params
    ? new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]))
    : null;
  return `#/${path}${search && search.size > 0 ? `?${search}` : ''}`;
}
