import type { AuditStore } from '../audit/audit-store.js';
import type { TokenService } from '../auth/token-service.js';
import type { Config } from '../config/index.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import type { DriftService } from '../drift/drift-service.js';
import type { JobService } from '../jobs/job-service.js';
import type { ClusterView } from '../leadership/leadership.js';
import type { Metrics, MetricsExposition } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { DataPlane } from '../serving/data-plane.js';

/** What route handlers may use. Handlers decode, call one of these, and encode. */
export interface HttpServices {
  readonly config: Config;
  readonly registry: RegistryService;
  readonly dataPlane: DataPlane;
  readonly deployments: DeploymentService;
  readonly tokens: TokenService;
  /** Where the access check records refused writes. */
  readonly audit: Pick<AuditStore, 'record'>;
  readonly jobs: JobService;
  readonly drift: DriftService;
  /** Slipway's own version, reported by health and metadata routes. */
  readonly version: string;
  /** Where prediction requests are counted. */
  readonly metrics: Metrics;
  /** Traces of prediction requests, or null when no OTLP endpoint is configured. */
  readonly tracing: Tracing | null;
  /** What `GET /metrics` answers: this process's metrics, or every HTTP process's summed. */
  readonly exposition: MetricsExposition;
  /** The servers sharing the registry: who leads, and whether this process does. */
  readonly replicas: {
    readonly leading: () => boolean;
    readonly view: () => Promise<ClusterView>;
  };
  /** Whether the server has finished loading what it serves (readiness). */
  readonly isReady: () => boolean;
}
