"""The deployments end to end on a real Prefect server, the way an operator uses them.

The session's Prefect server on PostgreSQL, as in production (tests/prefect_pg.py: `prefect server start` on a
database of the session's PostgreSQL, one for the session), the process work pool, `prefect deploy` from
deployments/prefect.yaml, two runs of staging-handoff/manual created through the API exactly as the UI's Run >
Custom run does (the form's values: the deployment's parameters with changes), one against a healthy simulator and
one against a fault, then `prefect worker start --run-once` picks both up and runs them as subprocesses. Completed
for healthy, Failed for the fault; the runs are rows of the server's PostgreSQL database.

Isolation: Prefect settings are passed only to the subprocesses (the session's test harness is left alone), every
subprocess gets its own process group and a marker in its environment, and everything carrying the marker is
killed at the end, including flow-run processes the worker starts in sessions of their own.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from runbook.app.serve import deployment_specs
from runbook.config.files import PROJECT_ROOT
from simulator.server import Simulator
from tests.pg import PostgresServer
from tests.prefect_pg import PrefectServerInfo
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PREFECT = str(Path(sys.executable).parent / "prefect")
PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"
SPECS = {spec.name: spec for spec in deployment_specs(PREFECT_FILE)}
POOL = SPECS["manual"].work_pool or "staging-runbook"
CLI_TIMEOUT_S = 90
WORKER_TIMEOUT_S = 150
MARKER = "RUNBOOK_E2E_MARKER"
PYCACHE = PROJECT_ROOT / ".prefect" / "pycache"  # git-ignored, removed by `make clean`
FAST = {
    "timeouts": {"golden_path_s": 15, "e2e_s": 10, "readiness_s": 10, "health_s": 5},
    "performance": {"health_probes": 3, "golden_path_probes": 1},
}


class Processes:
    """The test's subprocesses: own process groups, a marker in the environment, all killed by `stop_all`."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.marker = uuid.uuid4().hex
        self.env = {**env, MARKER: self.marker}
        self.logs = logs
        self._started: list[tuple[subprocess.Popen[bytes], TextIO]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._started.append((process, log))
        return process

    def run(self, name: str, *args: str, timeout: float) -> int:
        """Run to completion within `timeout` seconds; returns the exit code (the output goes to NAME.log)."""
        process = self.start(name, *args)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._stop(process)
            pytest.fail(f"{name} did not finish within {timeout} s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait_s)
                return

    def _marked(self) -> list[int]:
        """Every live process whose environment carries this test's marker (the worker's flow runs included)."""
        needle = f"{MARKER}={self.marker}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def stop_all(self) -> None:
        for process, log in reversed(self._started):
            self._stop(process)
            log.close()
        for pid in self._marked():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def subprocess_env(home: Path, api_url: str, postgres: PostgresServer, environments: Path) -> dict[str, str]:
    """The environment of the CLI and the worker: this test's Prefect only, offline, and the test secrets.

    `environments` holds the test's environment files: deployments offer them by name (RUNBOOK_ENVIRONMENTS_DIR).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.pop("RUNBOOK_NIGHTLY", None)  # deployed as a rehearsal: the nightly's schedule stays off
    # Every subprocess imports Prefect and the Google clients; with bytecode off (PYTHONDONTWRITEBYTECODE, a venv
    # installed without it) each one compiles them again. A shared bytecode cache outside the venv saves ~half.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        NO_GCE_CHECK="true",
        RUNBOOK_ENVIRONMENTS_DIR=str(environments),
        # Test values known to the throwaway database and the simulator's Slack; not real secrets.
        RUNBOOK_DB_PASSWORD=postgres.password,
        SLACK_BOT_TOKEN="xoxb-sim-token-not-a-secret",
    )
    return env


@pytest.fixture
def processes(
    tmp_path: Path, postgres: PostgresServer, prefect_server_postgres: PrefectServerInfo
) -> Iterator[tuple[Processes, str]]:
    """The CLI and worker processes of one test, against the session's PostgreSQL-backed Prefect server."""
    api_url = prefect_server_postgres.api_url
    logs = tmp_path / "logs"
    logs.mkdir()
    environments = tmp_path / "environments"
    environments.mkdir()
    env = subprocess_env(tmp_path / "prefect-home", api_url, postgres, environments)
    procs = Processes(env, logs)
    try:
        yield procs, api_url
    finally:
        procs.stop_all()


def rows_in_prefect_database(postgres: PostgresServer, database: str, run_ids: list[Any]) -> int:
    """How many of these flow runs the server's PostgreSQL database holds (the server is the system of record)."""
    import psycopg

    dsn = f"host={postgres.host} port={postgres.port} user=postgres dbname={database} connect_timeout=10"
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM flow_run WHERE id = ANY(%s)", (run_ids,)).fetchone()
    return int(row[0]) if row else 0


async def final_states(api_url: str, run_ids: dict[str, Any], timeout_s: float = 30) -> dict[str, Any]:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=api_url) as client:
        deadline = time.monotonic() + timeout_s
        while True:
            runs = {name: await client.read_flow_run(run_id) for name, run_id in run_ids.items()}
            if all(run.state and run.state.is_final() for run in runs.values()) or time.monotonic() > deadline:
                return {name: run.state for name, run in runs.items()}
            await asyncio.sleep(1)


async def artifact_keys(api_url: str, run_id: Any) -> set[str]:
    """The keys of the artifacts a flow run left (what the UI's Artifacts tab lists)."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with PrefectClient(api=api_url) as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {artifact.key for artifact in artifacts if artifact.key}


async def task_runs_of(api_url: str, parent_id: Any) -> dict[str, Any]:
    """The check task runs under a handoff run (in its phase subflows), by name; and the subflow runs by name."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    async with PrefectClient(api=api_url) as client:
        subflows = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
        )
        tasks = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[r.id for r in subflows]))
        )
    return {"subflows": {r.name: r for r in subflows}, "tasks": {t.name: t for t in tasks}}


async def log_lines(api_url: str, task_run_id: Any) -> list[str]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId

    async with PrefectClient(api=api_url) as client:
        logs = await client.read_logs(log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run_id])))
    return [entry.message for entry in logs]


async def test_manual_deployment_runs_on_a_worker_completed_when_healthy_failed_on_a_fault(
    processes: tuple[Processes, str], postgres: PostgresServer, prefect_server_postgres: PrefectServerInfo
) -> None:
    from prefect.client.orchestration import PrefectClient

    procs, api_url = processes
    timings: dict[str, float] = {"server": 0.0}  # the session's, already up
    started = time.monotonic()
    database = {"host": postgres.host, "port": postgres.port, "name": postgres.dbname, "user": postgres.user}
    with Simulator("healthy") as healthy, Simulator("connector-error") as faulty:
        environments = Path(procs.env["RUNBOOK_ENVIRONMENTS_DIR"])
        env_file_for(healthy, environments, {**FAST, "database": database}, name="sim-healthy")
        env_file_for(faulty, environments, {**FAST, "database": database}, name="sim-fault")

        # What the operator guide says, verbatim: create the pool, deploy everything in the file.
        code = procs.run("pool", PREFECT, "work-pool", "create", POOL, "--type", "process", timeout=CLI_TIMEOUT_S)
        assert code == 0, procs.tail("pool")
        code = procs.run(
            "deploy", PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE),
            timeout=CLI_TIMEOUT_S,
        )  # fmt: skip
        assert code == 0, procs.tail("deploy")
        timings["pool+deploy"] = time.monotonic() - started - timings["server"]

        async with PrefectClient(api=api_url) as client:
            nightly = await client.read_deployment_by_name("staging-handoff/nightly")
            assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [  # type: ignore[union-attr]
                ("0 2 * * *", "America/Los_Angeles")
            ]
            # Deployed without RUNBOOK_NIGHTLY=on, as a rehearsal: the nightly never runs against staging by itself.
            assert [s.active for s in nightly.schedules] == [False]
            on_demand = await client.read_deployment_by_name("infrastructure-validation/on-demand")
            assert on_demand.work_pool_name == POOL and not on_demand.schedules
            manual = await client.read_deployment_by_name("staging-handoff/manual")
            assert manual.work_pool_name == POOL and not manual.schedules
            assert manual.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
            ]
            # Run > Custom run: the flat form starts from the deployment's parameters; the operator picks one.
            form = {**manual.parameters, "environment": "sim-fault"}
            run = await client.create_flow_run_from_deployment(manual.id, parameters=form)
            run_ids = {"connector-error": run.id}
        # From a shell, as the guide says: one parameter changed on the command line.
        code = procs.run(
            "deployment-run", PREFECT, "deployment", "run", "staging-handoff/manual", "-p", "environment=sim-healthy",
            timeout=CLI_TIMEOUT_S,
        )  # fmt: skip
        assert code == 0, procs.tail("deployment-run")
        run_ids["healthy"] = uuid.UUID(procs.tail("deployment-run").split("UUID:")[1].split()[0])

        code = procs.run(
            "worker", PREFECT, "worker", "start", "--pool", POOL, "--run-once", "--limit", "2",
            timeout=WORKER_TIMEOUT_S,
        )  # fmt: skip
        timings["worker"] = time.monotonic() - started - timings["server"] - timings["pool+deploy"]
        states = await final_states(api_url, run_ids)

    worker_log = procs.tail("worker", 80)
    assert states["healthy"].is_completed(), f"{states['healthy']!r}\n{worker_log}"
    assert states["connector-error"].is_failed(), f"{states['connector-error']!r}\n{worker_log}"
    assert states["connector-error"].message == "infrastructure validation failed: vpc-connector"
    assert code == 0, worker_log
    # The report a person reads in the UI: the status matrix and the table of every check.
    assert {"sim-healthy-handoff-report", "sim-healthy-handoff-checks"} <= await artifact_keys(
        api_url, run_ids["healthy"]
    )
    # The UI: runs named after what they are; a failing check is a Failed task run saying why, in its log too.
    async with PrefectClient(api=api_url) as client:
        healthy_run = await client.read_flow_run(run_ids["healthy"])
        fault_run = await client.read_flow_run(run_ids["connector-error"])
    assert healthy_run.name.startswith("sim-healthy · manual · "), healthy_run.name
    assert fault_run.name.startswith("sim-fault · manual · "), fault_run.name
    fault = await task_runs_of(api_url, run_ids["connector-error"])
    subflows = {name.rsplit(" · ", 1)[0] for name in fault["subflows"]}  # `infrastructure · sim-fault · <time> UTC`
    assert {"infrastructure · sim-fault", "restoration · sim-fault", "business · sim-fault"} == subflows
    vpc = fault["tasks"]["vpc-connector"]
    assert vpc.state.is_failed() and "state ERROR, expected READY" in (vpc.state.message or ""), vpc.state
    assert "manual" in vpc.tags and "staging-runbook" in vpc.tags  # the deployment's tags reach the checks
    assert any(line.startswith("FAIL vpc-connector (P0): ") for line in await log_lines(api_url, vpc.id))
    secrets = fault["tasks"]["secrets"]
    assert secrets.state.is_completed() and secrets.state.name == "Completed"
    healthy_checks = (await task_runs_of(api_url, run_ids["healthy"]))["tasks"]
    assert {"vpc-connector", "golden-path", "stakeholder-summary"} <= set(healthy_checks)
    assert all(t.state.is_completed() for t in healthy_checks.values()), {
        name: t.state.name for name, t in healthy_checks.items()
    }
    # Where the runs live: the server's PostgreSQL database, not a file on this machine.
    assert rows_in_prefect_database(postgres, prefect_server_postgres.database, list(run_ids.values())) == 2
    print(f"timings (s): { {k: round(v, 1) for k, v in timings.items()} }")
