# Slipway: the two front-door commands are `make demo` and `make test`.
# Every target installs what it needs; nothing is assumed on the machine but Node 20, Python 3 and make.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# better-sqlite3 compiles against the local Node headers when no prebuilt binary can be fetched.
export npm_config_nodedir ?= $(shell dirname $$(dirname $$(command -v node)))

.PHONY: demo test lint typecheck vitest pytest build clean

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(VENV)/.stamp: python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r python/requirements.txt
	@touch $@

build: node_modules/.stamp
	npx tsc -p tsconfig.build.json

lint: node_modules/.stamp
	npx biome check .

typecheck: node_modules/.stamp
	npx tsc -p tsconfig.json --noEmit

# Unit, contract and integration tests (real servers on loopback, real SQLite files).
vitest: node_modules/.stamp
	npx vitest run

pytest: build $(VENV)/.stamp
	$(PY) -m pytest -q python/tests

# Everything: lint, strict types, vitest, then the Python interop tests against the built server.
test: lint typecheck vitest pytest

demo: build
	node bin/slipway.js demo

clean:
	rm -rf dist .slipway
