"""Issue 20, the commands users start as processes: `runbook simulate` and `runbook slack-bot`, each a real process.

(`runbook serve` as a process: tests/test_serve_process.py.)

- `runbook simulate --port 0` serves the scenario asked for on free ports (Google REST, gRPC Monitoring, Slack) and
  prints them; `--list` lists the scenarios; an unknown one is a usage error (2); SIGTERM (`kill`, scripts/demo.sh)
  and SIGINT (Ctrl-C) both close its servers and exit 0.
- `runbook slack-bot --env FILE` connects over Socket Mode to the simulator's Slack and answers `/runbook help`
  within Slack's 3 s; without the app-level token it says which one is missing and exits 2.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runbook.slack.commands import usage
from simulator.server import Simulator
from tests.sim_fixtures import LOCATION
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = [sys.executable, "-m", "runbook.app.cli"]
BOT_TOKEN, APP_TOKEN = "xoxb-sim-token-not-a-secret", "xapp-sim-app-token-not-a-secret"  # the simulator's


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell of its own: a private PREFECT_HOME, no Prefect server, no Slack tokens unless given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
    environ.update(PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1", NO_GCE_CHECK="true", **extra)
    return environ


def _start(args: list[str], environ: dict[str, str], logs: Path, name: str) -> subprocess.Popen[str]:
    """The command in its own process group, its output in files (a pipe could fill up)."""
    with (logs / f"{name}.out").open("w") as out, (logs / f"{name}.err").open("w") as err:
        return subprocess.Popen(
            [*RUNBOOK, *args], cwd=ROOT, env=environ, stdout=out, stderr=err, text=True, start_new_session=True
        )


def _wait_for(pattern: str, path: Path, process: subprocess.Popen[str], timeout_s: float = 60) -> re.Match[str]:
    """The first match of `pattern` in the file `process` writes; fails with its output when it ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"ended ({process.returncode}) before {pattern!r}: {_output(path)}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"no {pattern!r} within {timeout_s:.0f} s: {_output(path)}")


def _output(path: Path) -> str:
    err = path.with_suffix(".err")
    return f"{path.name}: {path.read_text()!r}; {err.name}: {err.read_text()!r}"


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        pytest.fail(f"did not stop within 30 s of {sig.name}")


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`runbook simulate --scenario connector-error --port 0`: the process, its REST URL and its gRPC target."""
    process = _start(["simulate", "--scenario", "connector-error", "--port", "0"], _environ(tmp_path), tmp_path, "sim")
    try:
        url = _wait_for(r"REST \(.*\): (http://127\.0\.0\.1:\d+)\n", tmp_path / "sim.out", process)[1]
        grpc = _wait_for(r"gRPC \(Cloud Monitoring\): (127\.0\.0\.1:\d+)\n", tmp_path / "sim.out", process)[1]
        yield process, url, grpc
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_simulate_serves_the_scenario_on_free_ports_and_stops_cleanly(
    simulate: tuple[subprocess.Popen[str], str, str], tmp_path: Path, sig: signal.Signals
) -> None:
    process, url, grpc = simulate
    port, grpc_port = int(url.rsplit(":", 1)[1]), int(grpc.rsplit(":", 1)[1])
    assert port >= 1024 and grpc_port >= 1024 and grpc_port != port, (url, grpc)  # free ports, not port 0 + 1
    socket.create_connection(("127.0.0.1", grpc_port), timeout=5).close()
    with httpx.Client(timeout=10) as http:
        connector = http.get(f"{url}/v1/{LOCATION}/connectors/staging-connector")
        assert connector.status_code == 200 and connector.json()["state"] == "ERROR", connector.text  # the scenario's
        slack = http.post(f"{url}/slack/api/auth.test", headers={"Authorization": f"Bearer {BOT_TOKEN}"})
        assert slack.json()["ok"] and slack.json()["user_id"] == "U0SIMBOT01", slack.text
    assert _stop(process, sig) == 0, _output(tmp_path / "sim.out")
    assert (tmp_path / "sim.out").read_text().endswith("Stopping the simulator.\n")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_simulate_lists_the_scenarios_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    listed = subprocess.run([*RUNBOOK, "simulate", "--list"], cwd=ROOT, env=_environ(tmp_path), capture_output=True)
    assert listed.returncode == 0, listed
    lines = listed.stdout.decode().splitlines()
    assert "healthy: The healthy Netra staging world: every resource as the handoff plan expects it." in lines
    assert "connector-error: The VPC connector staging-connector is in state ERROR." in lines
    unknown = subprocess.run(
        [*RUNBOOK, "simulate", "--scenario", "no-such-world", "--port", "0"],
        cwd=ROOT,
        env=_environ(tmp_path),
        capture_output=True,
        timeout=60,
    )
    assert unknown.returncode == 2, unknown
    assert unknown.stderr.decode().startswith("unknown scenario no-such-world; known scenarios: "), unknown.stderr


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("healthy") as simulator:
        yield simulator


def test_slack_bot_connects_over_socket_mode_and_answers_help(sim: Simulator, tmp_path: Path) -> None:
    env_file = env_file_for(sim, tmp_path)
    environ = _environ(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
    process = _start(["slack-bot", "--env", str(env_file)], environ, tmp_path, "bot")
    try:
        _wait_for(r"Socket Mode connected; serving sim\n", tmp_path / "bot.err", process)
        assert (tmp_path / "bot.out").read_text() == "Slack ChatOps (Socket Mode) for sim; Ctrl-C stops.\n"
        answer = httpx.post(
            f"{sim.url}/_simulator/slack/socket/slash",
            json={"user": "U0SIMOTHER1", "channel": "#staging-deploys", "command": "/runbook", "text": "help"},
            timeout=15,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["acked"] and result["ack_ms"] < 3000, result
        assert result["ack_payload"] == {"response_type": "ephemeral", "text": usage("/runbook")}, result
    finally:
        status = _stop(process, signal.SIGINT)
    assert status == 0, _output(tmp_path / "bot.out")
    assert (tmp_path / "bot.out").read_text().endswith("Slack ChatOps stopped.\n")


def test_slack_bot_without_the_app_token_says_which_and_exits_2(sim: Simulator, tmp_path: Path) -> None:
    env_file = env_file_for(sim, tmp_path)
    bot = subprocess.run(
        [*RUNBOOK, "slack-bot", "--env", str(env_file)],
        cwd=ROOT,
        env=_environ(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN),
        capture_output=True,
        timeout=60,
    )
    assert bot.returncode == 2, bot
    assert (
        "no app-level token: set env SLACK_APP_TOKEN or [slack.chatops] app_token_block (xapp-..., scope "
        "connections:write)" in bot.stderr.decode()
    ), bot.stderr
