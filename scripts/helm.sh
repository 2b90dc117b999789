#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/slipway offline: helm lint, then helm template of every value set in
# deploy/helm/slipway/ci/, each manifest validated against the Kubernetes API schemas of the oldest and the
# newest Kubernetes the chart supports (kubernetes-validate, strict: unknown fields fail) and the
# ServiceMonitor against prometheus-operator's CRD; then every value set in tests/helm/invalid/ must be
# refused by values.schema.json or the chart's own checks, with the message its `# expect:` line names.
#
#   scripts/helm.sh            install what is missing, then check
#   scripts/helm.sh install    only install: helm (built from the Go module proxy into .tools/), the
#                              validator (.venv-helm, deploy/helm/requirements.txt) and the CRD schema
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v4.3.2
PROMETHEUS_OPERATOR=github.com/prometheus-operator/prometheus-operator@v0.85.0
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows.
KUBE_VERSIONS=(1.25.0 1.37.0)
TOOLS="$PWD/.tools"
HELM="$TOOLS/helm"
VENV="$PWD/.venv-helm"
CHART=deploy/helm/slipway
PYTHON=${PYTHON:-python3}

helm_installed() {
  [[ -x $HELM ]] && go version -m "$HELM" 2>/dev/null | grep -q "mod[[:space:]]*helm.sh/helm/v4[[:space:]]*$HELM_VERSION"
}

install() {
  if ! helm_installed; then
    command -v go >/dev/null || { echo "Go is needed to build helm: install golang" >&2; exit 1; }
    echo "building helm $HELM_VERSION into $TOOLS (a few minutes the first time)" >&2
    mkdir -p "$TOOLS"
    GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
    helm_installed || { echo "helm did not build" >&2; exit 1; }
  fi
  if [[ ! -f $VENV/.stamp || deploy/helm/requirements.txt -nt "$VENV/.stamp" ]]; then
    if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
      # Debian's python3 needs python3-venv for `python3 -m venv`.
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
      $SUDO apt-get install -y -q python3-venv >/dev/null 2>&1 ||
        { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q python3-venv >/dev/null; }
      "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r deploy/helm/requirements.txt
    touch "$VENV/.stamp"
  fi
}

# The ServiceMonitor CRD from the Go module proxy (kept in Go's module cache after the first download).
service_monitor_crd() {
  local dir
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$PROMETHEUS_OPERATOR" |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  [[ -n $dir ]] || { echo "could not download $PROMETHEUS_OPERATOR" >&2; exit 1; }
  echo "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
}

install
[[ ${1:-} == install ]] && exit 0

started=$(date +%s%N)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crd=$(service_monitor_crd) || exit 1

manifests=()
for values in "$CHART"/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  "$HELM" lint --strict --quiet "$CHART" -f "$values" >/dev/null
  for kube in "${KUBE_VERSIONS[@]}"; do
    "$HELM" template slipway "$CHART" --namespace slipway --kube-version "$kube" -f "$values" \
      >"$work/$name-$kube.yaml"
  done
  manifests+=("$work/$name")
done
for kube in "${KUBE_VERSIONS[@]}"; do
  "$VENV/bin/python" scripts/k8s-validate.py --kubernetes-version "$kube" --crd "$crd" \
    "${manifests[@]/%/-$kube.yaml}"
done

refused=0
for values in tests/helm/invalid/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$values")
  [[ -n $expect ]] || { echo "$values has no '# expect: <message>' line" >&2; exit 1; }
  if output=$("$HELM" template slipway "$CHART" -f "$CHART/ci/default-values.yaml" -f "$values" 2>&1); then
    echo "$values: helm template accepted it; it must be refused ($expect)" >&2
    exit 1
  fi
  if ! grep -qF -- "$expect" <<<"$output"; then
    echo "$values: refused, but not with \"$expect\":" >&2
    echo "$output" >&2
    exit 1
  fi
  refused=$((refused + 1))
done
# The chart's defaults alone name no database: they must be refused too.
if "$HELM" lint --quiet "$CHART" >/dev/null 2>&1; then
  echo "helm lint accepted the defaults without a registry database" >&2
  exit 1
fi
echo "helm $HELM_VERSION: ${#manifests[@]} value sets linted, rendered and valid; $refused bad value sets refused" \
  "($(( ($(date +%s%N) - started) / 1000000 )) ms)"
