import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import FormData from 'form-data';

/** An error the server answered with (4xx/5xx), carrying its stable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    /** The error's `details` (for GATE_FAILED, every gate result), if the server sent any. */
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server could not be reached at all. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

/** A small client for Slipway's HTTP API, used by the CLI. */
export class ApiClient {
  /** `token` is sent as `Authorization: Bearer <token>` on every request when given. */
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null = null,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T = void>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Streams an ONNX file as a multipart upload, reporting bytes sent. */
  async upload<T>(
    path: string,
    file: string,
    fields: Record<string, string>,
    onProgress: (sent: number, total: number) => void,
  ): Promise<T> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    const total = statSync(file).size;
    form.append('model', createReadStream(file), { filename: basename(file), knownLength: total });
    let sent = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        onProgress(Math.min(sent, total), total);
        done(null, chunk);
      },
    });
    const length = await new Promise<number>((resolve, reject) =>
      form.getLength((error, value) => (error ? reject(error) : resolve(value))),
    );
    return this.send<T>(path, {
      method: 'POST',
      headers: { ...form.getHeaders(), 'content-length': String(length) },
      body: Readable.toWeb(form.pipe(meter)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
  }

  private request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.send<T>(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  private async send<T>(path: string, init: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          // Names the caller as a program rather than a web page: a browser cannot add this header
          // without a CORS preflight, so multipart uploads carrying it pass the server's guard.
          'x-slipway-client': 'slipway-cli',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new UnreachableError(
        `Cannot reach the Slipway server at ${this.baseUrl} (${cause}). Is it running? Set --server or SLIPWAY_SERVER.`,
      );
    }
    const text = await response.text();
    const parsed = text === '' ? undefined : safeJson(text);
    if (!response.ok) {
      const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
        error?: string;
        code?: string;
        request_id?: string;
        details?: Record<string, unknown> | null;
      };
      throw new ApiError(
        response.status,
        body.code ?? `HTTP_${response.status}`,
        body.error ?? text,
        body.request_id,
        body.details ?? null,
      );
    }
    return parsed as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `?a=1&b=x` from the parameters that are set (none: the empty string). */
export function queryOf(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
