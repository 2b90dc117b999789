/**
 * OpenTelemetry traces of predictions: the one module that calls OpenTelemetry. Protocol handlers
 * start a `RequestTrace` per prediction and hand it down with the request; the data plane, the
 * batcher and the runtime report what they timed to it, in milliseconds of the wall clock
 * (`traceClock`), and never see a span. Without an OTLP endpoint there is no `Tracing`: requests
 * carry `null`, nothing is timed for traces, and the SDK is never loaded (it is imported here, on
 * demand, by `startTracing`).
 */
import type { Context, Span, SpanAttributes } from '@opentelemetry/api';
import type { Protocol } from './metrics.js';

/** Where spans go and what they are named after: compiled by config from the `OTEL_*` variables. */
export interface TracesSettings {
  /** The OTLP/HTTP traces URL (`…/v1/traces`). */
  readonly url: string;
  /** The `service.name` of every span (OTEL_SERVICE_NAME). */
  readonly serviceName: string;
}

/**
 * The clock of every traced time: wall-clock milliseconds with sub-millisecond precision. Inference
 * workers read the same clock in their own process, so their times line up with the server's.
 */
export const traceClock = (): number => performance.timeOrigin + performance.now();

/** Where a caller's trace context travels: HTTP headers, or gRPC metadata read into the same shape. */
export type TraceCarrier = Readonly<Record<string, string | string[] | undefined>>;

/** What a protocol handler knows when a prediction arrives. */
export interface RequestStart {
  readonly protocol: Protocol;
  readonly requestId: string;
  /** Carries the caller's `traceparent` and `tracestate`, if any: the request's span continues that trace. */
  readonly carrier: TraceCarrier;
  /** When the request arrived (`traceClock`), if before now. */
  readonly startedAt?: number;
}

/**
 * One prediction's trace: a server span, and a child span for each step reported to it. Times are
 * `traceClock` milliseconds. Created only while tracing is on, so every call costs nothing otherwise.
 */
export interface RequestTrace {
  /** The version that answers, and the revision of the environment that routed to it. */
  served(model: string, version: number, environment: string, revision: number): void;
  /** Inputs decoded and checked against the version's signature (`decode`). */
  decoded(startedAt: number, endedAt: number): void;
  /** Waited in the model's batcher until its call left for a worker (`queue`). */
  queued(startedAt: number, endedAt: number): void;
  /**
   * A worker ran the model on a call of `rows` rows merged from `requests` requests (`inference`);
   * the times are the worker's own, around the model's run.
   */
  inferred(startedAt: number, endedAt: number, rows: number, requests: number): void;
  /** Outputs encoded for the protocol (`encode`). */
  encoded(startedAt: number, endedAt: number): void;
  /** Ends the request's span with the HTTP status of its outcome (gRPC: the status the same outcome has over HTTP). */
  end(status: number, errorCode?: string): void;
}

/** Traces of this process's predictions, exported over OTLP/HTTP. */
export interface Tracing {
  /**
   * Starts a prediction's trace, continuing the caller's W3C trace context when it sent a valid one;
   * null when the trace is not sampled (a caller's context without the sampled flag, or the
   * `OTEL_TRACES_SAMPLER` said no), so its steps are not even timed.
   */
  startRequest(start: RequestStart): RequestTrace | null;
  /** Exports the spans still buffered (waiting at most 5 s for the collector), then stops the exporter. */
  close(): Promise<void>;
}

/** The name of a prediction's server span. */
const REQUEST_SPAN = 'slipway.infer';

/**
 * Longest a server's shutdown waits for the last spans to reach the collector: an unreachable
 * collector must not hold up a restart (the SDK's own export timeout is 30 s).
 */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Loads the OpenTelemetry SDK and starts exporting: spans are batched (BatchSpanProcessor) and sent
 * as OTLP/HTTP JSON. The SDK's own `OTEL_*` settings (headers, batch sizes and delays, sampler)
 * apply as it reads them; the default sampler follows the caller's sampled flag and samples every
 * trace the server starts.
 */
export async function startTracing(settings: TracesSettings, serviceVersion: string): Promise<Tracing> {
  const [api, core, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.version': serviceVersion,
    }),
    spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: settings.url }))],
  });
  const tracer = provider.getTracer('slipway', serviceVersion);
  const propagator = new core.W3CTraceContextPropagator();
  const { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, trace } = api;

  class SpanTrace implements RequestTrace {
    private readonly context: Context;

    constructor(
      private readonly span: Span,
      parent: Context,
    ) {
      this.context = trace.setSpan(parent, span);
    }

    served(model: string, version: number, environment: string, revision: number): void {
      this.span.setAttributes({
        'slipway.model': model,
        'slipway.version': version,
        'slipway.environment': environment,
        'slipway.revision': revision,
      });
    }

    decoded(startedAt: number, endedAt: number): void {
      this.child('decode', startedAt, endedAt);
    }

    queued(startedAt: number, endedAt: number): void {
      this.child('queue', startedAt, endedAt);
    }

    inferred(startedAt: number, endedAt: number, rows: number, requests: number): void {
      this.child('inference', startedAt, endedAt, {
        'slipway.batch_size': rows,
        'slipway.batch_requests': requests,
      });
    }

    encoded(startedAt: number, endedAt: number): void {
      this.child('encode', startedAt, endedAt);
    }

    end(status: number, errorCode?: string): void {
      this.span.setAttribute('slipway.status_code', status);
      if (errorCode !== undefined) this.span.setAttribute('slipway.error_code', errorCode);
      // As OpenTelemetry's HTTP conventions say of servers: a refusal of the caller's request is no error of ours.
      if (status >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode ?? '' });
      this.span.end(traceClock());
    }

    private child(name: string, startedAt: number, endedAt: number, attributes?: SpanAttributes): void {
      tracer
        .startSpan(
          name,
          attributes ? { startTime: startedAt, attributes } : { startTime: startedAt },
          this.context,
        )
        .end(endedAt);
    }
  }

  return {
    startRequest(start: RequestStart): RequestTrace | null {
      // Extraction checks the header's format; anything malformed is ignored and a new trace starts.
      const parent = propagator.extract(ROOT_CONTEXT, start.carrier, defaultTextMapGetter);
      const span = tracer.startSpan(
        REQUEST_SPAN,
        {
          kind: SpanKind.SERVER,
          startTime: start.startedAt ?? traceClock(),
          attributes: { 'slipway.protocol': start.protocol, 'slipway.request_id': start.requestId },
        },
        parent,
      );
      return span.isRecording() ? new SpanTrace(span, parent) : null;
    },
    async close() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS).unref();
      });
      await Promise.race([provider.shutdown(), timeout]);
      clearTimeout(timer);
    },
  };
}
