{{/* Names and labels. */}}
{{- define "slipway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "slipway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A component's resource name: <fullname>-control, <fullname>-serving. */}}
{{- define "slipway.componentName" -}}
{{- printf "%s-%s" (include "slipway.fullname" .root | trunc 54 | trimSuffix "-") .component }}
{{- end }}

{{- define "slipway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "slipway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "slipway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slipway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component (control, serving): call with (dict "root" $ "component" "control"). */}}
{{- define "slipway.componentLabels" -}}
{{ include "slipway.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "slipway.componentSelectorLabels" -}}
{{ include "slipway.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "slipway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "slipway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "slipway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the chart creates for values given inline (registry URI, S3 keys). */}}
{{- define "slipway.secretName" -}}
{{- include "slipway.fullname" . }}
{{- end }}

{{- define "slipway.configMapName" -}}
{{- default (printf "%s-config" (include "slipway.fullname" .)) .Values.existingConfigMap }}
{{- end }}

{{- define "slipway.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "slipway.fullname" .)) .Values.adminToken.secretName }}
{{- end }}

{{/* Whether the chart creates a Secret: some value is given inline. */}}
{{- define "slipway.createsSecret" -}}
{{- if or (and .Values.registry.uri (not .Values.registry.existingSecret)) (and .Values.artifacts.s3.accessKeyId (not .Values.artifacts.s3.existingSecret)) }}true{{- end }}
{{- end }}

{{/*
SLIPWAY_ALLOWED_HOSTS: the loopback names, the pod's own address (probes and Prometheus reach pods by
address), the Services' names in every form a client in the cluster may use, the Ingress hosts and
allowedHosts. $(POD_IP) is expanded by Kubernetes from the variable defined before it.
*/}}
{{- define "slipway.allowedHosts" -}}
{{- $root := . }}
{{- $hosts := list "localhost" "127.0.0.1" "$(POD_IP)" }}
{{- range $component := list "control" "serving" }}
{{- $service := include "slipway.componentName" (dict "root" $root "component" $component) }}
{{- $hosts = concat $hosts (list $service (printf "%s.%s" $service $root.Release.Namespace) (printf "%s.%s.svc" $service $root.Release.Namespace) (printf "%s.%s.svc.cluster.local" $service $root.Release.Namespace)) }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- end }}
{{- $hosts = concat $hosts .Values.allowedHosts }}
{{- join "," (uniq $hosts) }}
{{- end }}

{{/*
The environment of a Slipway container: call with (dict "root" $ "component" "control" "env" <map>).
Fixed settings first, then the chart-wide env, then the component's; a later value of a name wins.
*/}}
{{- define "slipway.env" -}}
{{- $root := .root }}
{{- $values := $root.Values }}
{{- $settings := dict
  "SLIPWAY_HOST" "0.0.0.0"
  "SLIPWAY_PORT" "8080"
  "SLIPWAY_METRICS_PORT" (toString $values.metrics.port)
  "SLIPWAY_DATA_DIR" "/data"
  "SLIPWAY_CONFIG_FILE" "/etc/slipway/slipway.yaml"
  "SLIPWAY_ALLOWED_HOSTS" (include "slipway.allowedHosts" $root)
  "SLIPWAY_ARTIFACT_URI" $values.artifacts.uri
}}
{{- with $values.artifacts.s3.endpoint }}{{ $_ := set $settings "AWS_ENDPOINT_URL" . }}{{ end }}
{{- with $values.artifacts.s3.region }}{{ $_ := set $settings "AWS_REGION" . }}{{ end }}
{{- if eq .component "serving" }}{{ $_ := set $settings "SLIPWAY_ENV" $values.serving.environment }}{{ end }}
{{- range $name, $value := $values.env }}{{ $_ := set $settings $name (toString $value) }}{{ end }}
{{- range $name, $value := .env }}{{ $_ := set $settings $name (toString $value) }}{{ end }}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- range $name := keys $settings | sortAlpha }}
- name: {{ $name }}
  value: {{ get $settings $name | quote }}
{{- end }}
- name: SLIPWAY_REGISTRY_URI
  valueFrom:
    secretKeyRef:
      name: {{ default (include "slipway.secretName" $root) $values.registry.existingSecret }}
      key: {{ ternary $values.registry.existingSecretKey "SLIPWAY_REGISTRY_URI" (ne $values.registry.existingSecret "") }}
{{- if or $values.artifacts.s3.existingSecret $values.artifacts.s3.accessKeyId }}
{{- $secret := default (include "slipway.secretName" $root) $values.artifacts.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary $values.artifacts.s3.accessKeyIdKey "AWS_ACCESS_KEY_ID" (ne $values.artifacts.s3.existingSecret "") }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary $values.artifacts.s3.secretAccessKeyKey "AWS_SECRET_ACCESS_KEY" (ne $values.artifacts.s3.existingSecret "") }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The volumes every Slipway pod mounts; /data is the control server's claim when persistence is on. */}}
{{- define "slipway.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
- name: config
  mountPath: /etc/slipway
  readOnly: true
{{- end }}

{{- define "slipway.configVolume" -}}
- name: config
  configMap:
    name: {{ include "slipway.configMapName" . }}
    items:
      - key: slipway.yaml
        path: slipway.yaml
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "slipway.probes" -}}
{{- $probes := .Values.probes }}
startupProbe:
  httpGet:
    path: /v2/health/live
    port: http
  periodSeconds: {{ $probes.startup.periodSeconds }}
  timeoutSeconds: {{ $probes.startup.timeoutSeconds }}
  failureThreshold: {{ $probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /v2/health/live
    port: http
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $probes.liveness.timeoutSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /v2/health/ready
    port: http
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $probes.readiness.timeoutSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
{{- end }}
