# Two commands for a new user: `make demo` (the whole daily job on synthetic data) and
# `make test` (lint, format check, the import layers, the test suite). Both build .venv from
# nothing first.
# `make browser` (as root) installs Debian's chromium for the risk report's browser test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test format install clean lock browser bench airflow

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip sync --quiet --compile-bytecode requirements.lock
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/loanrisk demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# One benchmark size (LOANS=1000000 by default): a two-day run timed stage by stage, the I/O
# floor and the pandas / DuckDB baselines; results in benchmarks/results/ and RESULTS.md.
# SHARDS=8 or SHARDS=auto (and MAX_SHARD_MEMORY_GIB=G) run it on a copy of execution.yaml with
# that setting; BENCH_ARGS passes anything else (e.g. --no-baselines). benchmarks/README.md.
LOANS ?= 1000000
SHARDS ?=
MAX_SHARD_MEMORY_GIB ?=
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m benchmarks run --loans $(LOANS) $(if $(SHARDS),--shards $(SHARDS)) \
		$(if $(MAX_SHARD_MEMORY_GIB),--max-shard-memory-gib $(MAX_SHARD_MEMORY_GIB)) $(BENCH_ARGS)

# A real Airflow on this machine until Ctrl-C: PostgreSQL 15 (Debian's postgresql-15 binaries),
# api-server, scheduler and dag-processor with LocalExecutor, the loanrisk_run pool. README
# "Running under a real Airflow"; `source $(AIRFLOW_DIR)/airflow.env` to run airflow commands.
AIRFLOW_DIR ?= data/airflow-server
airflow: $(STAMP)
	$(BIN)/python -m loanrisk.airflow.deploy serve $(AIRFLOW_DIR)

# Debian's chromium for the risk report's browser test (tests/test_report_browser.py); needs root
# (or run the same apt-get line with sudo). Without it `make test` skips that test.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--quiet -o requirements.lock
