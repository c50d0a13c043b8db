"""Issue 18, `runbook serve` as an operator runs it: a real process against a real Prefect server (the session's).

- A served run's INFO lines reach the server (its Logs tab): the CLI's quiet console must not silence the runs it
  starts, which inherit its environment.
- Stopping it leaves a deployment it found (registered before it started, as `prefect deploy` does for a worker) as
  it was, pauses the one it created, and says which is which.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.server import Simulator
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parent.parent
FLOW = "infrastructure-validation"
DEPLOYMENTS = """
deployments:
  - name: serve-test-found
    entrypoint: flows/infrastructure.py:infrastructure_validation
    parameters: {environment: servetest}
  - name: serve-test-new
    entrypoint: flows/infrastructure.py:infrastructure_validation
    parameters: {environment: servetest}
"""


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("healthy") as simulator:
        yield simulator


def _environ(tmp_path: Path, api_url: str, environments: Path) -> dict[str, str]:
    """An operator's shell: their server, no Prefect logging settings of their own (the CLI's defaults apply)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(tmp_path / "serve-home"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # the runner asks for due runs every second instead of every ten
        RUNBOOK_ENVIRONMENTS_DIR=str(environments),
        NO_GCE_CHECK="true",
        SLACK_BOT_TOKEN="xoxb-sim-token-not-a-secret",
    )
    environ.pop("SLACK_APP_TOKEN", None)
    return environ


def _start_serve(prefect_file: Path, environ: dict[str, str], logs: Path) -> subprocess.Popen[str]:
    """`runbook serve --prefect-file FILE` in its own process group, its output in files (a pipe could fill up)."""
    with (logs / "serve.out").open("w") as out, (logs / "serve.err").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "runbook.app.cli", "serve", "--prefect-file", str(prefect_file)],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )


async def _wait(what: str, check: Any, process: subprocess.Popen[str], timeout_s: float = 180) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"runbook serve ended ({process.returncode}) before {what}")
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    process.kill()
    pytest.fail(f"no {what} within {timeout_s:.0f} s")


async def test_served_runs_log_info_to_the_server_and_stopping_leaves_found_deployments_as_found(
    sim: Simulator, tmp_path: Path
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    from runbook.app.serve import deployment_specs, load_flow

    environments = tmp_path / "environments"
    environments.mkdir()
    env_file_for(sim, environments, {"checks": {"database-connectivity": {"enabled": False}}}, name="servetest")
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(DEPLOYMENTS)
    api_url = str(PREFECT_API_URL.value())

    async with get_client() as client:
        # Registered before serving, active, as `prefect deploy` leaves it for a worker.
        flow_id = await client.create_flow(load_flow(deployment_specs(prefect_file)[0]))
        found_id = await client.create_deployment(
            flow_id=flow_id,
            name="serve-test-found",
            entrypoint="flows/infrastructure.py:infrastructure_validation",
            parameters={"environment": "servetest"},
            paused=False,
        )
        with pytest.raises(ObjectNotFound):
            await client.read_deployment_by_name(f"{FLOW}/serve-test-new")

        process = _start_serve(prefect_file, _environ(tmp_path, api_url, environments), tmp_path)
        try:

            async def registered() -> Any:
                try:
                    return await client.read_deployment_by_name(f"{FLOW}/serve-test-new")
                except ObjectNotFound:
                    return None

            created = await _wait("the served deployment", registered, process)
            flow_run = await client.create_flow_run_from_deployment(created.id)

            async def finished() -> Any:
                run = await client.read_flow_run(flow_run.id)
                return run if run.state and run.state.is_final() else None

            run = await _wait("the served run's end", finished, process)
            assert run.state.is_completed(), run.state
            await asyncio.sleep(2)  # the run's process sends its last log lines as it exits
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
            info = [log.message for log in logs if log.level == 20]
            assert any(message.startswith("PASS vpc-connector (P0)") for message in info), [
                (log.level, log.message[:80]) for log in logs
            ]
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(60)
        err = (tmp_path / "serve.err").read_text()

        said = [line for line in err.splitlines() if line.startswith("runbook serve stopped: ")]
        assert f"runbook serve stopped: {FLOW}/serve-test-found: left active, its schedule on, as it was before " in (
            "\n".join(said)
        ), err[-3000:]
        assert any(f"{FLOW}/serve-test-new: paused (this process created it" in line for line in said), said
        assert (await client.read_deployment(found_id)).paused is False
        assert (await client.read_deployment(created.id)).paused is True
