/**
 * The console's one way to the server: same-origin JSON calls with the session's token as a bearer
 * header. The token lives in sessionStorage (this tab only), never in a cookie or a URL.
 */

const TOKEN_KEY = 'slipway.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A refused call: Slipway's `{error, code, details}` or MLflow's `{error_code, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Listeners told when the server refuses the token (it was revoked, or the tab's session ended). */
const unauthenticated = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticated.add(listener);
  return () => unauthenticated.delete(listener);
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined || (method !== 'GET' && method !== 'HEAD')) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const parsed = text === '' ? undefined : safeJson(text);
  if (!response.ok) {
    const error = (parsed ?? {}) as Record<string, unknown>;
    const code = String(error.code ?? error.error_code ?? `HTTP_${response.status}`);
    const message = String(error.error ?? error.message ?? (text || response.statusText));
    if (response.status === 401) for (const listener of unauthenticated) listener();
    throw new ApiError(response.status, code, message, (error.details as Record<string, unknown>) ?? {});
  }
  return parsed as T;
}

/** Prometheus's text format from `/metrics` (the live figures are computed from it in the page). */
export async function metricsText(): Promise<string> {
  const token = storedToken();
  const response = await fetch('/metrics', {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  if (!response.ok) throw new ApiError(response.status, `HTTP_${response.status}`, 'metrics unavailable');
  return response.text();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: text };
  }
}

/** A query string from the defined entries of `params`. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const enc = encodeURIComponent;
