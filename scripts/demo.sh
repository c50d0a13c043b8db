#!/usr/bin/env bash
# `make demo`: the runbook against the local staging world. Starts PostgreSQL and the staging simulator,
# runs `runbook run --env local $ARGS`, prints the result, stops what it started.
# Exit status: the run's own (0 passed, 1 failed, 2 bad configuration or usage). make reports any non-zero status
# of a recipe as its own 2, so call this script directly (after `make install`) when the 1/2 distinction matters:
#   SCENARIO=connector-error bash scripts/demo.sh; echo $?
# SCENARIO picks the simulator scenario (default healthy; `runbook simulate --list` lists them). SIM_PORT (default
# 8765; gRPC Monitoring on SIM_PORT+1) and PG_PORT (default 55432) move the simulator and PostgreSQL; the run's
# environment file follows (.run/environments/local.toml, environments/local.toml on those ports).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SIM_PORT=${SIM_PORT:-8765}
PG_PORT=${PG_PORT:-55432}
# The demo's Prefect is its own: its data in .prefect/demo, apart from a team server's (.prefect, the operator
# guide's), and never that server: PREFECT_API_URL is dropped, and the local server `runbook run` would reuse is
# looked for on a port where nothing listens, so the run starts a private server that dies with it.
export PREFECT_HOME=$PWD/.prefect/demo
unset PREFECT_API_URL
PREFECT_SERVER_API_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PREFECT_SERVER_API_PORT
export DO_NOT_TRACK=${DO_NOT_TRACK:-1}
export PREFECT_SERVER_ANALYTICS_ENABLED=${PREFECT_SERVER_ANALYTICS_ENABLED:-false}
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}
export NO_GCE_CHECK=${NO_GCE_CHECK:-true}
[ -x "$PY" ] || { echo "no $PY: run \`make install\` first (or \`make demo\`, which installs)" >&2; exit 2; }
SCENARIO=${SCENARIO:-healthy}
RUN_DIR=.run
mkdir -p "$RUN_DIR"

sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  "$PY" -m tests.pg stop --dir "$RUN_DIR/pg" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

echo "== environment: $("$PY" scripts/demo_env.py "$SIM_PORT" "$PG_PORT" "$RUN_DIR/environments")" \
  "(environments/local.toml on ports $SIM_PORT/$PG_PORT)" || exit 2
export RUNBOOK_ENVIRONMENTS_DIR=$PWD/$RUN_DIR/environments  # searched first: --env local is that file

echo "== starting PostgreSQL on 127.0.0.1:$PG_PORT"
"$PY" -m tests.pg stop --dir "$RUN_DIR/pg" >/dev/null 2>&1
"$PY" -m tests.pg start --port "$PG_PORT" --dir "$RUN_DIR/pg" || { echo "PostgreSQL did not start" >&2; exit 2; }

echo "== starting the staging simulator (scenario: $SCENARIO) on 127.0.0.1:$SIM_PORT (gRPC $((SIM_PORT + 1)))"
"$PY" -m runbook.app.cli simulate --scenario "$SCENARIO" --port "$SIM_PORT" >"$RUN_DIR/simulator.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  SIM_PORT=$SIM_PORT "$PY" - <<'PY' 2>/dev/null && break
import os, socket; socket.create_connection(("127.0.0.1", int(os.environ["SIM_PORT"])), timeout=0.2).close()
PY
  kill -0 "$sim_pid" 2>/dev/null || { cat "$RUN_DIR/simulator.log" >&2; exit 2; }
  sleep 0.1
done

# Test values known to the simulator and the throwaway database; not real secrets.
export RUNBOOK_DB_PASSWORD=netra-app-test-password
export SLACK_BOT_TOKEN=xoxb-sim-token-not-a-secret

echo "== runbook run --env local ${ARGS:-}"
# shellcheck disable=SC2086
"$PY" -m runbook.app.cli run --env local --report "$RUN_DIR/report.json" ${ARGS:-}
status=$?
echo "== The Slack conversation the run produced (the simulator's Slack)"
SIM_PORT=$SIM_PORT "$PY" - <<'PY'
import os, httpx
print(httpx.get(f"http://127.0.0.1:{os.environ['SIM_PORT']}/_simulator/slack/conversation", timeout=5).text)
PY
echo "== JSON report: $RUN_DIR/report.json (exit status $status)"
exit $status
