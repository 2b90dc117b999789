# Slipway: the two front-door commands are `make demo` and `make test`.
# Every target installs what it needs; nothing is assumed on the machine but Node 20, Python 3 and make.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# better-sqlite3 compiles against the local Node headers when no prebuilt binary can be fetched.
export npm_config_nodedir ?= $(shell dirname $$(dirname $$(command -v node)))

.PHONY: demo demo-cluster test lint typecheck workflows helm vitest pytest build clean bench image image-test

# `make bench` installs its peers into a venv of their own, never into the test venv.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
PERF_ANALYZER := $(BENCH_VENV)/perf-analyzer
# Extra options for bench/serving.ts, e.g. BENCH_ARGS="--duration 3 --peers slipway,fastify".
BENCH_ARGS ?=
# Extra options for bench/batch-scoring.ts, e.g. BATCH_BENCH_ARGS="--rows 200000 --peers slipway,ceiling".
BATCH_BENCH_ARGS ?=
# Extra options for bench/mlflow-tracking.ts, e.g. MLFLOW_BENCH_ARGS="--runs 8 --points 50".
MLFLOW_BENCH_ARGS ?=
# Extra options for bench/cluster.ts, e.g. CLUSTER_BENCH_ARGS="--duration 3 --ops-seconds 3".
CLUSTER_BENCH_ARGS ?=

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The test venv holds the Python client (python/sdk) too, editable, so its tests run the working copy.
$(VENV)/.stamp: python/requirements.txt python/sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r python/requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q -e ./python/sdk
	@touch $@

# The MLflow 2.x client's interop test has a venv of its own: mlflow-skinny 2.x caps protobuf below the
# test venv's pin.
MLFLOW2_VENV := .venv-mlflow2
$(MLFLOW2_VENV)/.stamp: python/requirements-mlflow2.txt
	$(PYTHON) -m venv $(MLFLOW2_VENV)
	$(MLFLOW2_VENV)/bin/python -m pip install --disable-pip-version-check -q -r python/requirements-mlflow2.txt
	@touch $@

# tritonclient's gRPC client caps protobuf below the test venv's pin too: a venv of its own.
GRPC_VENV := .venv-grpc
$(GRPC_VENV)/.stamp: python/requirements-grpc.txt
	$(PYTHON) -m venv $(GRPC_VENV)
	$(GRPC_VENV)/bin/python -m pip install --disable-pip-version-check -q -r python/requirements-grpc.txt
	@touch $@

# A real Apache Airflow for the operators' test, in a venv of its own (Airflow pins much of its world),
# with the Python client installed into it.
AIRFLOW_VENV := .venv-airflow
$(AIRFLOW_VENV)/.stamp: python/requirements-airflow.txt python/sdk/pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --disable-pip-version-check -q -r python/requirements-airflow.txt
	$(AIRFLOW_VENV)/bin/python -m pip install --disable-pip-version-check -q --no-deps -e ./python/sdk
	@touch $@

$(BENCH_VENV)/.stamp: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --disable-pip-version-check -q -r bench/requirements.txt
	@touch $@

$(PERF_ANALYZER)/.stamp: bench/perf-analyzer.txt bench/install-perf-analyzer.sh | $(BENCH_VENV)/.stamp
	bash bench/install-perf-analyzer.sh $(PERF_ANALYZER) $(BENCH_PY)
	@touch $@

# The server (tsc) and the web console (Vite, web/ into dist/console, which the server serves at /).
build: node_modules/.stamp
	npx tsc -p tsconfig.build.json
	node scripts/build-info.mjs
	npx vite build --config web/vite.config.ts

lint: node_modules/.stamp
	npx biome check .

typecheck: node_modules/.stamp
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p web/tsconfig.json

# Every GitHub Actions workflow (Slipway's own and the examples) through actionlint and shellcheck.
workflows:
	bash scripts/actionlint.sh

# The Helm chart (deploy/helm/slipway): helm lint and helm template of each value set in its ci/ folder, every
# manifest validated offline against the Kubernetes schemas, bad value sets (tests/helm/invalid) refused.
helm:
	bash scripts/helm.sh

# Unit, contract, integration and browser tests (real servers on loopback: SQLite files, PostgreSQL,
# MinIO for S3, Prometheus, Debian's Chromium for tests/e2e).
# The console's browser tests log a run with the real `mlflow` client of the test venv.
vitest: node_modules/.stamp $(VENV)/.stamp
	bash scripts/chromium.sh install
	bash scripts/prometheus.sh install
	bash scripts/postgres.sh install
	bash scripts/s3.sh install
	bash scripts/helm.sh install
	npx vitest run

pytest: build $(VENV)/.stamp $(MLFLOW2_VENV)/.stamp $(GRPC_VENV)/.stamp $(AIRFLOW_VENV)/.stamp
	$(PY) -m pytest -q python/tests --ignore=python/tests/test_mlflow2_client.py --ignore=python/tests/test_triton_grpc_client.py --ignore=python/tests/test_airflow.py
	$(MLFLOW2_VENV)/bin/python -m pytest -q python/tests/test_mlflow2_client.py
	$(GRPC_VENV)/bin/python -m pytest -q python/tests/test_triton_grpc_client.py
	$(AIRFLOW_VENV)/bin/python -m pytest -q python/tests/test_airflow.py

# Everything: lint, strict types, vitest, then the Python interop tests against the built server.
test: lint typecheck workflows helm vitest pytest

demo: build
	node bin/slipway.js demo

# The same demo scaled out: PostgreSQL, MinIO, three replicas and HAProxy on SLIPWAY_PORT (default 8080),
# installed when missing (scripts/postgres.sh, s3.sh, haproxy.sh), all in temporary folders; Ctrl-C stops
# everything. DEMO_CLUSTER_ARGS="--replicas 5" changes the count.
DEMO_CLUSTER_ARGS ?=
demo-cluster: build
	node bin/slipway.js demo --cluster $(DEMO_CLUSTER_ARGS)

# Throughput and latency of Slipway against named peers, side by side in one run, then batch scoring
# against pandas + scikit-learn and the ONNX ceiling, MLflow tracking against `mlflow server`, and last
# Slipway scaled out: replicas behind HAProxy, and the control plane on PostgreSQL against SQLite
# (bench/README.md).
# Not part of `make test`. perf_analyzer is optional: when it cannot install, the bench says why.
bench: build $(BENCH_VENV)/.stamp
	@$(MAKE) --no-print-directory $(PERF_ANALYZER)/.stamp || echo "perf_analyzer did not install (above); the bench goes on without it"
	BENCH_PYTHON=$(BENCH_PY) BENCH_PERF_ANALYZER=$(PERF_ANALYZER) npx tsx bench/serving.ts $(BENCH_ARGS)
	BENCH_PYTHON=$(BENCH_PY) npx tsx bench/batch-scoring.ts $(BATCH_BENCH_ARGS)
	BENCH_PYTHON=$(BENCH_PY) npx tsx bench/mlflow-tracking.ts $(MLFLOW_BENCH_ARGS)
	npx tsx bench/cluster.ts $(CLUSTER_BENCH_ARGS)

# The container image, built without a Docker daemon (as root: buildah and mmdebstrap from Debian's
# packages, Node.js from the npm registry) into build/slipway-image.tar. README.md, "Container image".
image:
	bash scripts/image.sh

# Runs the image just built: first token, serve, health check, push and predict, as its non-root user.
image-test: image
	bash scripts/image-test.sh

clean:
	rm -rf dist .slipway build .tools
