# Two commands do everything on a fresh machine: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SCENARIO ?= healthy
ARGS ?=
SIM_PORT ?= 8765
PG_PORT ?= 55432

# Prefect offline and self-contained: no telemetry, patient start-up. Its data lives in the project, each use apart:
# the demos in .prefect/demo (scripts/demo.sh), the tests in .prefect/tests, the benchmark in .prefect/bench; a team
# server started as the operator guide says keeps .prefect itself.
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
# Never probe the GCE metadata server for credentials on these machines.
export NO_GCE_CHECK := true

.PHONY: install postgresql test lint mutate demo demo-approval bench clean server-postgres
BENCH_SIZE ?= full

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -r requirements.lock
	@$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	@touch $@

install: $(VENV)/.installed

# The tests and the demo start a throwaway PostgreSQL server; install Debian's when it is missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install postgresql lint
	PREFECT_HOME=$(CURDIR)/.prefect/tests RUNBOOK_REQUIRE_POSTGRES=1 $(PY) -m pytest -q --durations=15

# Mutation testing of the functions that decide, each set against its fast unit tests (docs/testing.md).
# MUTATE_SETS="gate authorization" runs some sets; prints the score and the surviving mutants, exit 1 below 90 %.
MUTATE_SETS ?=
mutate: install
	$(PY) scripts/mutate.py $(MUTATE_SETS)

demo: install postgresql
	@SCENARIO='$(SCENARIO)' ARGS='$(ARGS)' SIM_PORT='$(SIM_PORT)' PG_PORT='$(PG_PORT)' PY='$(PY)' bash scripts/demo.sh

# A redeploy approved from the simulator's Slack (Socket Mode, runbook slack-bot), end to end; exit 0 when it completed.
# Its Prefect is its own too: .prefect/demo, a private server (not PREFECT_API_URL's, not one on 127.0.0.1:4200).
demo-approval: install
	PREFECT_HOME=$(CURDIR)/.prefect/demo PREFECT_SERVER_API_PORT=$$($(PY) -c 'import socket; s = socket.socket(); \
		s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') env -u PREFECT_API_URL $(PY) scripts/demo_approval.py

# A Prefect server on PostgreSQL (the production set-up, docs/production.md), on the throwaway PostgreSQL under
# .run/prefect-pg (port 55433), API and UI on 127.0.0.1:4200; Ctrl-C stops both. PORT=4300 PG_PORT=55434: other ports.
server-postgres: install postgresql
	$(PY) scripts/server_postgres.py --port $(or $(PORT),4200) --pg-port $(or $(PG_PORT),55433)

# The benchmark (not timed tests): a run side by side with a sequential script; tables + bench/results.json.
bench: install postgresql
	$(PY) -m bench.run --size $(BENCH_SIZE)

# .prefect itself may hold a team server's database (the operator guide's): only what make put there goes.
clean:
	rm -rf $(VENV) .prefect/demo .prefect/tests .prefect/bench .prefect/pycache .run .pytest_cache .mypy_cache \
		.ruff_cache mutants
