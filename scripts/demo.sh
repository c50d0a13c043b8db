#!/usr/bin/env bash
# `make demo`: the runbook against the local staging world. Starts PostgreSQL and the staging simulator,
# runs `runbook run --env local $ARGS`, prints the result, stops what it started.
# Exit status: the run's own (0 passed, 1 failed, 2 bad configuration or usage). make reports any non-zero status
# of a recipe as its own 2, so call this script directly (after `make install`) when the 1/2 distinction matters:
#   SCENARIO=connector-error bash scripts/demo.sh; echo $?
# SCENARIO picks the simulator scenario (default healthy; `runbook simulate --list` lists them).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# The same offline, self-contained Prefect as the Makefile's, when called directly.
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
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

echo "== starting PostgreSQL on 127.0.0.1:55432"
"$PY" -m tests.pg stop --dir "$RUN_DIR/pg" >/dev/null 2>&1
"$PY" -m tests.pg start --port 55432 --dir "$RUN_DIR/pg" || { echo "PostgreSQL did not start" >&2; exit 2; }

echo "== starting the staging simulator (scenario: $SCENARIO) on 127.0.0.1:8765 (gRPC 8766)"
"$PY" -m runbook.app.cli simulate --scenario "$SCENARIO" --port 8765 >"$RUN_DIR/simulator.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  "$PY" - <<'PY' 2>/dev/null && break
import socket; socket.create_connection(("127.0.0.1", 8765), timeout=0.2).close()
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
"$PY" - <<'PY'
import httpx
print(httpx.get("http://127.0.0.1:8765/_simulator/slack/conversation", timeout=5).text)
PY
echo "== JSON report: $RUN_DIR/report.json (exit status $status)"
exit $status
