"""A check's hard cap follows its deadline (time credited for a client library's import moves it), and a run whose
check hit its deadline ends with its verdict, not a minute later."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.checks import within_deadline
from runbook.google.calls import Deadline
from simulator.server import Simulator
from tests.support import env_file_for, refusing_port, verdict_then_exit

ROOT = Path(__file__).resolve().parent.parent


async def test_a_check_past_its_deadline_is_cancelled_at_the_deadline_plus_grace() -> None:
    deadline = Deadline(0.3)
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"deadline of 0\.3 s passed"):
        await within_deadline(deadline, slow(), grace_s=0.1)
    assert 0.35 <= time.monotonic() - started < 1.0
    assert cancelled.is_set()


async def test_time_credited_for_a_client_import_extends_the_cap() -> None:
    deadline = Deadline(0.3)

    async def waits_for_its_client_then_answers() -> str:
        with deadline.paused():  # as the client factory does while a client library takes 0.5 s to import
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.1)
        return "decided"

    assert await within_deadline(deadline, waits_for_its_client_then_answers(), grace_s=0.1) == "decided"


async def test_an_answer_within_the_deadline_comes_back_unchanged() -> None:
    async def quick() -> int:
        return 42

    assert await within_deadline(Deadline(1.0), quick()) == 42


# --- a run whose check hit its deadline ends with its verdict -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_whose_check_hit_its_deadline_exits_within_2_s_of_the_verdict(tmp_path: Path) -> None:
    """VPC Access answers 503 all run long: vpc-connector ERRORs at its deadline, and the process ends right after.

    Prefect's own log level (INFO) on purpose: the check lines it sends early connect its log client, and a log
    client that has connected once retries a server gone away for more than a minute at interpreter exit.
    """
    deadline_s = 6
    with Simulator("api-503-always") as sim:
        overrides = {
            "checks": {"database-connectivity": {"enabled": False}},
            "timeouts": {"check_deadline_s": deadline_s, "api_call_s": 2},
        }
        env_file = env_file_for(sim, tmp_path, overrides)
        report = tmp_path / "report.json"
        environ = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        environ.update(
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            PREFECT_SERVER_API_PORT=str(refusing_port()),  # no server to reuse: a private one, as a first run gets
            SLACK_BOT_TOKEN="xoxb-sim-token-not-a-secret",
            NO_GCE_CHECK="true",
            PREFECT_LOGGING_LEVEL="INFO",
        )
        args = [sys.executable, "-m", "runbook.app.cli", "run", "--env", str(env_file), "--report", str(report)]
        process = subprocess.Popen(
            [*args, "--phase", "infrastructure"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        verdict_at, exited_at, out, err = verdict_then_exit(process, 15)
        connector_reads = sim.log.count(api="vpcaccess", method="GET", path_contains="/connectors/staging-connector")

    assert verdict_at is not None, f"no verdict line:\n{out[-3000:]}\n{err[-3000:]}"
    assert exited_at - verdict_at < 2.0, f"exited {exited_at - verdict_at:.1f} s after the verdict\n{err[-2000:]}"
    assert process.returncode == 1, f"{out[-2000:]}\n{err[-2000:]}"
    assert "Error logging to API" not in err  # the run's last log lines reached the server before it stopped
    checks = {c["id"]: c for p in json.loads(report.read_text())["phases"] for c in p["checks"]}
    connector, drift = checks["vpc-connector"], checks["service-drift"]
    assert connector["status"] == "ERROR" and "vpcaccess kept failing for connector" in connector["summary"]
    assert f"after {connector_reads} attempt(s)" in connector["summary"]  # the requests the simulator received
    assert connector["evidence"]["attempts"] == connector_reads
    # service-drift got the same failure from the read they share, and did not read the connector again
    assert drift["status"] == "WARN" and f"after {connector_reads} attempt(s)" in drift["summary"]
