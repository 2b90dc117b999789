import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { allowsHost, compileConfig } from '../../src/config/index.js';
import { VARIABLES } from '../../src/config/variables.js';

/**
 * What the Helm chart deploy/helm/slipway renders, read from `helm template` (the helm that
 * scripts/helm.sh builds into .tools/; that script also lints the chart and validates every manifest
 * against the Kubernetes schemas): the security context, the probes, where secrets come from, and that
 * every server's environment is one Slipway's own configuration code accepts, with names it knows.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'deploy/helm/slipway');
const HELM = join(ROOT, '.tools/helm');
const CI = (name: string) => join(CHART, 'ci', `${name}-values.yaml`);

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes manifests are free-form YAML.
type Manifest = any;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

function render(valueFiles: string[], set: string[] = []): Manifest[] {
  const args = ['template', 'slipway', CHART, '--namespace', 'models'];
  for (const file of valueFiles) args.push('-f', file);
  for (const value of set) args.push('--set', value);
  const output = execFileSync(HELM, args, { encoding: 'utf8' });
  return parseAllDocuments(output)
    .map((document) => document.toJS())
    .filter(Boolean);
}

const find = (manifests: Manifest[], kind: string, name?: string): Manifest | undefined =>
  manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
const get = (manifests: Manifest[], kind: string, name?: string): Manifest => {
  const manifest = find(manifests, kind, name);
  if (manifest === undefined) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return manifest;
};
const podsOf = (manifests: Manifest[]) =>
  manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'Job').map((m) => m.spec.template.spec);
const slipway = (deployment: Manifest) => deployment.spec.template.spec.containers[0];

/** A Deployment's environment as the kubelet would hand it over; Secrets from the render or `secrets`. */
function resolveEnv(
  manifests: Manifest[],
  env: EnvVar[],
  secrets: Record<string, Record<string, string>> = {},
): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const variable of env) {
    let value = variable.value;
    const secretRef = variable.valueFrom?.secretKeyRef;
    if (secretRef) {
      const rendered = find(manifests, 'Secret', secretRef.name)?.stringData ?? {};
      value = rendered[secretRef.key] ?? secrets[secretRef.name]?.[secretRef.key];
      if (value === undefined) throw new Error(`${variable.name}: no ${secretRef.name}/${secretRef.key}`);
    }
    if (variable.valueFrom?.fieldRef?.fieldPath === 'status.podIP') value = '10.42.0.17';
    if (value === undefined) throw new Error(`${variable.name} has no value`);
    // Kubernetes expands $(NAME) from the variables defined before it.
    resolved[variable.name] = value.replace(
      /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
      (whole, name) => resolved[name] ?? whole,
    );
  }
  return resolved;
}

/** Compiles a server's rendered environment with Slipway's configuration code and its slipway.yaml. */
function compileServer(manifests: Manifest[], deployment: Manifest, secrets = {}) {
  const env = resolveEnv(manifests, slipway(deployment).env, secrets);
  const configMap = get(manifests, 'ConfigMap', 'slipway-config');
  const folder = mkdtempSync(join(tmpdir(), 'helm-config-'));
  const file = join(folder, 'slipway.yaml');
  writeFileSync(file, configMap.data['slipway.yaml']);
  expect(env.SLIPWAY_CONFIG_FILE).toBe('/etc/slipway/slipway.yaml');
  return { env, config: compileConfig({ SLIPWAY_CONFIG_FILE: file }, env, folder) };
}

beforeAll(() => {
  if (!existsSync(HELM))
    throw new Error('helm is not installed: run `bash scripts/helm.sh install` (make test does)');
});

describe('deploy/helm/slipway', () => {
  it('runs one control server, replaced rather than rolled, and serving replicas of one environment', () => {
    const manifests = render([CI('default')]);
    const control = get(manifests, 'Deployment', 'slipway-control');
    const serving = get(manifests, 'Deployment', 'slipway-serving');
    expect(control.spec.replicas).toBe(1);
    expect(control.spec.strategy.type).toBe('Recreate');
    expect(slipway(control).args).toEqual(['serve']);
    expect(slipway(serving).args).toEqual(['serve', '--env', 'prod']);
    expect(serving.spec.replicas).toBe(2);
    expect(serving.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(find(manifests, 'HorizontalPodAutoscaler')).toBeUndefined();
    expect(get(manifests, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(
      serving.spec.selector.matchLabels,
    );
    // One replica: a disruption budget would block every node drain.
    expect(find(render([CI('default')], ['serving.replicas=1']), 'PodDisruptionBudget')).toBeUndefined();
    for (const service of ['slipway-control', 'slipway-serving']) {
      const selector = get(manifests, 'Service', service).spec.selector;
      const deployment = get(manifests, 'Deployment', service);
      expect(deployment.spec.template.metadata.labels).toMatchObject(selector);
    }
  });

  it('runs every pod as the image user, non-root, read-only, without capabilities, writing only to emptyDir or its claim', () => {
    const uid = Number(/^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);
    expect(uid).toBe(10001);
    for (const values of ['default', 'full', 'existing-secrets', 'aws']) {
      const manifests = render([CI(values)]);
      const pods = podsOf(manifests);
      expect(pods.length).toBeGreaterThanOrEqual(2);
      for (const pod of pods) {
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: uid,
          runAsGroup: uid,
          fsGroup: uid,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        for (const container of pod.containers) {
          expect(container.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
          const mounts = Object.fromEntries(
            container.volumeMounts.map((m: { mountPath: string; name: string }) => [m.mountPath, m.name]),
          );
          const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]));
          // The data folder and /tmp are writable volumes; everything else mounted is read-only.
          const env = Object.fromEntries(container.env.map((v: EnvVar) => [v.name, v.value]));
          expect(mounts[env.SLIPWAY_DATA_DIR]).toBe('data');
          expect(mounts['/tmp']).toBe('tmp');
          expect(volumes.tmp.emptyDir).toEqual({});
          expect(volumes.data.emptyDir ?? volumes.data.persistentVolumeClaim).toBeDefined();
          for (const mount of container.volumeMounts) {
            if (!['data', 'tmp'].includes(mount.name)) expect(mount.readOnly, mount.name).toBe(true);
          }
        }
      }
      // The servers never call the Kubernetes API; only the admin token Job gets a token.
      for (const deployment of manifests.filter((m) => m.kind === 'Deployment')) {
        expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
      }
    }
    const persistent = render([CI('full')]);
    const claim = get(persistent, 'PersistentVolumeClaim', 'slipway-control');
    const volumes = get(persistent, 'Deployment', 'slipway-control').spec.template.spec.volumes;
    expect(volumes.find((v: { name: string }) => v.name === 'data').persistentVolumeClaim.claimName).toBe(
      claim.metadata.name,
    );
  });

  it('probes liveness, readiness and start-up on the HTTP port Slipway listens on', () => {
    const manifests = render([CI('default')]);
    for (const name of ['slipway-control', 'slipway-serving']) {
      const container = slipway(get(manifests, 'Deployment', name));
      const http = container.ports.find((p: { name: string }) => p.name === 'http');
      const env = Object.fromEntries(container.env.map((v: EnvVar) => [v.name, v.value]));
      expect(http.containerPort).toBe(Number(env.SLIPWAY_PORT));
      expect(container.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
      expect(container.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
      expect(container.startupProbe.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
      // The start-up probe covers migrations before the liveness probe may restart the pod.
      const startup = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold;
      expect(startup).toBeGreaterThanOrEqual(120);
      const metrics = container.ports.find((p: { name: string }) => p.name === 'metrics');
      expect(metrics.containerPort).toBe(Number(env.SLIPWAY_METRICS_PORT));
    }
  });

  it('takes the registry URI and S3 keys from Secrets, never from plain values in the pods', () => {
    const inline = render([CI('full')]);
    const secret = get(inline, 'Secret', 'slipway');
    const values = parse(readFileSync(CI('full'), 'utf8'));
    expect(secret.stringData).toEqual({
      SLIPWAY_REGISTRY_URI: values.registry.uri,
      AWS_ACCESS_KEY_ID: values.artifacts.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: values.artifacts.s3.secretAccessKey,
    });
    for (const pod of podsOf(inline)) {
      const env: EnvVar[] = pod.containers[0].env;
      for (const name of ['SLIPWAY_REGISTRY_URI', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        expect(env.find((v) => v.name === name)?.valueFrom?.secretKeyRef, name).toEqual({
          name: 'slipway',
          key: name,
        });
      }
      const plain = JSON.stringify(env.filter((v) => v.value !== undefined));
      expect(plain).not.toContain(values.artifacts.s3.secretAccessKey);
      expect(plain).not.toContain('change-me@');
    }
    // A change of the Secret or slipway.yaml rolls the servers.
    const annotations = get(inline, 'Deployment', 'slipway-serving').spec.template.metadata.annotations;
    expect(Object.keys(annotations)).toEqual(expect.arrayContaining(['checksum/config', 'checksum/secret']));

    const existing = render([CI('existing-secrets')]);
    expect(find(existing, 'Secret')).toBeUndefined();
    expect(find(existing, 'ConfigMap')).toBeUndefined();
    const env: EnvVar[] = slipway(get(existing, 'Deployment', 'slipway-control')).env;
    const ref = (name: string) => env.find((v) => v.name === name)?.valueFrom?.secretKeyRef;
    expect(ref('SLIPWAY_REGISTRY_URI')).toEqual({ name: 'slipway-database', key: 'uri' });
    expect(ref('AWS_ACCESS_KEY_ID')).toEqual({ name: 'slipway-s3', key: 'access-key' });
    expect(ref('AWS_SECRET_ACCESS_KEY')).toEqual({ name: 'slipway-s3', key: 'secret-key' });
    const volumes = get(existing, 'Deployment', 'slipway-control').spec.template.spec.volumes;
    expect(volumes.find((v: { name: string }) => v.name === 'config').configMap.name).toBe(
      'slipway-policies',
    );

    // No keys at all: the AWS SDK's own chain (a role on the service account).
    const aws = render([CI('aws')]);
    const names = slipway(get(aws, 'Deployment', 'slipway-serving')).env.map((v: EnvVar) => v.name);
    expect(names).not.toContain('AWS_ACCESS_KEY_ID');
    expect(get(aws, 'ServiceAccount', 'slipway').metadata.annotations).toHaveProperty(
      'eks.amazonaws.com/role-arn',
    );
  });

  it("hands every server settings Slipway's configuration accepts: PostgreSQL, S3, its environment, its host names", () => {
    const sets = {
      default: render([CI('default')]),
      full: render([CI('full')]),
      'existing-secrets': render([CI('existing-secrets')], ['existingConfigMap=']),
    };
    const placeholders = {
      'slipway-database': { uri: 'postgres://slipway:secret@db:5432/slipway' },
      'slipway-s3': { 'access-key': 'slipway', 'secret-key': 'secret' },
      'analytics-database': { password: 'secret' },
    };
    for (const [name, manifests] of Object.entries(sets)) {
      const values = parse(readFileSync(CI(name), 'utf8'));
      for (const deployment of manifests.filter((m) => m.kind === 'Deployment')) {
        const { env, config } = compileServer(manifests, deployment, placeholders);
        const component = deployment.metadata.labels['app.kubernetes.io/component'];
        expect(config.environment, name).toBe(
          component === 'serving' ? (values.serving?.environment ?? 'prod') : null,
        );
        expect(config.host).toBe('0.0.0.0');
        expect(config.registryUri).toMatch(/^postgres(ql)?:\/\//);
        expect(config.artifactUri).toBe(values.artifacts?.uri ?? 's3://slipway/artifacts');
        expect(config.dataDir).toBe('/data');
        expect(config.auth).toBe(true);
        // Probes and Prometheus address the pod by its IP, clients the Services by name, the Ingress by host.
        const hosts = [
          '10.42.0.17:8080',
          '10.42.0.17:9464',
          'localhost:8080',
          'slipway-control:8080',
          'slipway-serving.models.svc.cluster.local:8080',
          ...(values.ingress?.enabled ? values.ingress.hosts.map((h: { host: string }) => h.host) : []),
          ...(values.allowedHosts ?? []),
        ];
        for (const host of hosts) expect(allowsHost(config.allowedHosts, host), host).toBe(true);
        expect(allowsHost(config.allowedHosts, 'evil.example.net')).toBe(false);
        expect(env.SLIPWAY_REPLICA_NAME, 'the pod name names the replica').toBeUndefined();
      }
    }
  });

  it("names only variables Slipway knows, and its values schema allows exactly Slipway's settings", () => {
    const helpers = new Set(['POD_IP']);
    const jobOnly = new Set(['SECRET_NAME', 'TOKEN_NAME', 'NODE_EXTRA_CA_CERTS']);
    for (const values of ['default', 'full', 'existing-secrets', 'aws']) {
      const extra = new Set<string>(
        (parse(readFileSync(CI(values), 'utf8')).extraEnv ?? []).map((v: EnvVar) => v.name),
      );
      for (const pod of podsOf(render([CI(values)]))) {
        for (const { name } of pod.containers[0].env as EnvVar[]) {
          const known = name in VARIABLES || helpers.has(name) || extra.has(name) || jobOnly.has(name);
          expect(known, `${values}: ${name} is not a Slipway variable`).toBe(true);
        }
      }
    }
    // values.schema.json lists the settings env:, control.env and serving.env may carry. Every variable
    // of src/config/variables.ts is either one of them or one the chart sets or keeps off on purpose, so
    // a variable added to Slipway fails here until the chart says which it is.
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const settable: string[] = schema.definitions.envMap.propertyNames.enum;
    const setByChart = [
      'SLIPWAY_HOST',
      'SLIPWAY_PORT',
      'SLIPWAY_METRICS_PORT',
      'SLIPWAY_DATA_DIR',
      'SLIPWAY_CONFIG_FILE',
      'SLIPWAY_ALLOWED_HOSTS',
      'SLIPWAY_ENV',
      'SLIPWAY_REGISTRY_URI',
      'SLIPWAY_ARTIFACT_URI',
      'AWS_ENDPOINT_URL',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ];
    const keptOff = [
      'SLIPWAY_AUTH', // must stay on beyond loopback
      'SLIPWAY_REPLICA_NAME', // the pod name, distinct per replica
      'SLIPWAY_GRPC_PORT', // the Services expose no gRPC port
      'AWS_SESSION_TOKEN', // a secret: extraEnv with a secretKeyRef
      'SLIPWAY_TOKEN', // the CLI's, not a server's
      'SLIPWAY_SERVER', // the CLI's, not a server's
    ];
    expect([...settable, ...setByChart, ...keptOff].sort()).toEqual(Object.keys(VARIABLES).sort());
    // extraEnv may not set what the chart sets.
    const refused: string[] = schema.definitions.extraEnv.items.properties.name.not.enum;
    expect(refused).toEqual(expect.arrayContaining(setByChart));
  });

  it('scales serving with an autoscaler and reaches both Services through the Ingress and Prometheus', () => {
    const manifests = render([CI('full')]);
    const serving = get(manifests, 'Deployment', 'slipway-serving');
    expect(serving.spec.replicas).toBeUndefined();
    const hpa = get(manifests, 'HorizontalPodAutoscaler', 'slipway-serving');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'slipway-serving',
    });
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12 });
    expect(slipway(serving).resources.requests.cpu).toBeDefined();
    expect(find(manifests, 'PodDisruptionBudget')).toBeDefined();

    const services = manifests.filter((m) => m.kind === 'Service');
    const ingress = get(manifests, 'Ingress');
    for (const rule of ingress.spec.rules) {
      for (const path of rule.http.paths) {
        const service = services.find((s) => s.metadata.name === path.backend.service.name);
        expect(service?.spec.ports.map((p: { name: string }) => p.name)).toContain(
          path.backend.service.port.name,
        );
      }
    }
    expect(ingress.spec.rules.map((r: { host: string }) => r.host)).toEqual([
      'slipway.example.com',
      'predict.example.com',
    ]);

    const monitor = get(manifests, 'ServiceMonitor');
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    for (const service of services) {
      expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
      expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain('metrics');
    }
    // The alerting rules of deploy/prometheus/alerts.yaml select the scrape job `slipway`.
    expect(monitor.spec.endpoints[0].relabelings).toContainEqual({
      targetLabel: 'job',
      replacement: 'slipway',
    });
    expect(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yaml'), 'utf8')).toContain('job="slipway"');
  });

  it('bootstraps the first admin token with a hook Job that may read only its own Secret', () => {
    const manifests = render([CI('default')]);
    const job = get(manifests, 'Job', 'slipway-admin-token');
    expect(job.metadata.annotations['helm.sh/hook']).toBe('post-install,post-upgrade');
    const container = job.spec.template.spec.containers[0];
    expect(container.command).toEqual([
      'node',
      '/etc/slipway-bootstrap/create-admin-token.mjs',
      'node',
      '/app/bin/slipway.js',
    ]);
    const env = Object.fromEntries(container.env.map((v: EnvVar) => [v.name, v.value]));
    expect(env).toMatchObject({ SECRET_NAME: 'slipway-admin-token', TOKEN_NAME: 'admin' });
    const script = get(manifests, 'ConfigMap', 'slipway-admin-token').data['create-admin-token.mjs'];
    expect(script).toBe(readFileSync(join(CHART, 'files/create-admin-token.mjs'), 'utf8'));
    const role = get(manifests, 'Role', 'slipway-admin-token');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['slipway-admin-token'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const binding = get(manifests, 'RoleBinding', 'slipway-admin-token');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: job.spec.template.spec.serviceAccountName, namespace: 'models' },
    ]);
    expect(find(render([CI('existing-secrets')]), 'Job')).toBeUndefined();
    expect(get(render([CI('aws')]), 'Job').spec.template.spec.containers[0].env).toContainEqual({
      name: 'SECRET_NAME',
      value: 'slipway-admin',
    });
  });
});
