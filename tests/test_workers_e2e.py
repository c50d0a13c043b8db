"""Several workers, one Prefect server: what users see depends on the server only, never on a worker's disk.

One PostgreSQL-backed `prefect server start` (the session's), the deployments of deployments/prefect.yaml, the
project's automations applied twice, and two process workers (`prefect worker start`, each with its own PREFECT_HOME
and work queue); every flow run gets a fresh PREFECT_HOME of its own, as a fresh container would. Then:

- history across workers: connector-error on A, B, A: "new", "still failing since <run 1> (2 runs)", "(3 runs)";
  then the connector is healthy again (run 4, on B): "recovered";
- a redeploy Paused for approval on A lives through more than the automation's `within` (its heartbeats go on) and
  holds its environment: a run of the same environment on B waits, saying which run holds it, and the CLI, with no
  time to wait, is refused naming it;
- worker A and the paused run's process are SIGKILLed: the automation marks the run Crashed when its heartbeats stop,
  the crash notice (on B) says so on its Slack parent, in place, and the waiting run gets the environment once the
  killed run's lease has expired, and runs;
- one parent message per run, in every Slack.
"""

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from runbook.config.files import PROJECT_ROOT
from simulator.server import Simulator
from simulator.slack import conversation
from tests.pg import PostgresServer
from tests.prefect_pg import PrefectServerInfo
from tests.support import local_data_for
from tests.test_deployment_e2e import Processes, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PREFECT = str(Path(sys.executable).parent / "prefect")
RUNBOOK = str(Path(sys.executable).parent / "runbook")
PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"
POOL = "staging-runbook"
WITHIN_S = 60  # the automation's window: two heartbeats (every 30 s, set for the pool in prefect.yaml)
CLI_TIMEOUT_S = 120
RUN_TIMEOUT_S = 180
FAST = {
    "timeouts": {"golden_path_s": 15, "e2e_s": 10, "readiness_s": 10, "health_s": 5},
    "performance": {"health_probes": 3, "golden_path_probes": 1},
}


@pytest.fixture
def cluster(
    tmp_path: Path, postgres: PostgresServer, prefect_server_postgres: PrefectServerInfo
) -> Iterator[tuple[Processes, str, Path]]:
    """The CLI and worker processes of this test against the session's PostgreSQL-backed server; all killed after."""
    logs, environments = tmp_path / "logs", tmp_path / "environments"
    logs.mkdir()
    environments.mkdir()
    env = subprocess_env(tmp_path / "cli-home", prefect_server_postgres.api_url, postgres, environments)
    env.update(PREFECT_WORKER_QUERY_SECONDS="2", RUNBOOK_LOCK_WAIT_S="400")
    procs = Processes(env, logs)
    try:
        yield procs, prefect_server_postgres.api_url, tmp_path
    finally:
        procs.stop_all()


def write_environment(sim: Simulator, directory: Path, name: str, postgres: PostgresServer) -> None:
    database = {"host": postgres.host, "port": postgres.port, "name": postgres.dbname, "user": postgres.user}
    data = local_data_for(sim, {**FAST, "database": database})
    data["name"] = name
    (directory / f"{name}.toml").write_bytes(tomli_w.dumps(data).encode())


def parents(sim: Simulator) -> list[dict[str, Any]]:
    """The runbook channel's messages (one parent per run), as Slack shows them now, with their replies."""
    channels = conversation(sim.log)
    return next((c["messages"] for c in channels if c["channel"] == "#staging-deploys"), [])


def text_of(message: dict[str, Any]) -> str:
    return json.dumps([message.get("text"), message.get("blocks")], ensure_ascii=False)


def sent_bodies(sim: Simulator) -> list[str]:
    return [json.dumps(entry.body, ensure_ascii=False) for entry in sim.log.entries("slack")]


class Runs:
    """Flow runs of the deployments, each on a chosen worker's queue with a fresh PREFECT_HOME."""

    def __init__(self, api_url: str, homes: Path) -> None:
        self.api_url, self.homes = api_url, homes
        self.created: list[Any] = []
        self.home: dict[Any, Path] = {}

    async def start(self, deployment: str, queue: str, **parameters: Any) -> Any:
        from prefect.client.orchestration import PrefectClient

        home = self.homes / f"run-{len(self.created) + 1}"  # fresh and empty: nothing of an earlier run on it
        async with PrefectClient(api=self.api_url) as client:
            found = await client.read_deployment_by_name(deployment)
            run = await client.create_flow_run_from_deployment(
                found.id,
                parameters={**found.parameters, **parameters},
                work_queue_name=queue,
                job_variables={"env": {"PREFECT_HOME": str(home)}},
            )
        self.created.append(run.id)
        self.home[run.id] = home
        return run.id

    async def read(self, run_id: Any) -> Any:
        from prefect.client.orchestration import PrefectClient

        async with PrefectClient(api=self.api_url) as client:
            return await client.read_flow_run(run_id)

    async def wait(self, run_id: Any, done: Any, what: str, timeout_s: float = RUN_TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            run = await self.read(run_id)
            if run.state is not None and done(run.state):
                return run
            if time.monotonic() > deadline:
                pytest.fail(f"run {run.name} ({run_id}) not {what} within {timeout_s:g} s: {run.state!r}")
            await asyncio.sleep(1)

    async def finished(self, run_id: Any, timeout_s: float = RUN_TIMEOUT_S) -> Any:
        return await self.wait(run_id, lambda s: s.is_final(), "final", timeout_s)

    async def cancel_leftovers(self) -> None:
        from prefect.client.orchestration import PrefectClient
        from prefect.states import Cancelled

        async with PrefectClient(api=self.api_url) as client:
            for run_id in self.created:
                run = await client.read_flow_run(run_id)
                if run.state is not None and not run.state.is_final():
                    await client.set_flow_run_state(run_id, Cancelled(message="test over"), force=True)


def pids_with_env(needle: str) -> list[int]:
    """Live processes whose environment has `needle` (NAME=value): a flow run's process, by its PREFECT_HOME."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


async def test_two_workers_fresh_homes_one_server_history_parents_crashes_and_exclusion(
    cluster: tuple[Processes, str, Path], postgres: PostgresServer
) -> None:
    from prefect.client.orchestration import PrefectClient

    procs, api_url, tmp_path = cluster
    environments = Path(procs.env["RUNBOOK_ENVIRONMENTS_DIR"])
    timings: dict[str, float] = {}
    with Simulator("connector-error") as faulty, Simulator("healthy") as healthy:
        write_environment(faulty, environments, "hist", postgres)
        write_environment(healthy, environments, "paused", postgres)

        assert procs.run("pool", PREFECT, "work-pool", "create", POOL, "--type", "process", "--overwrite",
                         timeout=CLI_TIMEOUT_S) == 0, procs.tail("pool")  # fmt: skip
        assert procs.run("deploy", PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE),
                         timeout=CLI_TIMEOUT_S) == 0, procs.tail("deploy")  # fmt: skip
        async with PrefectClient(api=api_url) as client:
            for queue in ("a", "b"):
                with contextlib.suppress(Exception):  # already there from an earlier test of the session
                    await client.create_work_queue(name=queue, work_pool_name=POOL)

        homes = tmp_path / "homes"
        homes.mkdir()
        suffix = uuid.uuid4().hex[:6]
        worker_a = procs.start("worker-a", "env", f"PREFECT_HOME={homes / 'worker-a'}", PREFECT, "worker", "start",
                               "--pool", POOL, "--work-queue", "a", "--name", f"worker-a-{suffix}")  # fmt: skip
        procs.start("worker-b", "env", f"PREFECT_HOME={homes / 'worker-b'}", PREFECT, "worker", "start",
                    "--pool", POOL, "--work-queue", "b", "--work-queue", "default",
                    "--name", f"worker-b-{suffix}")  # fmt: skip
        runs = Runs(api_url, homes)
        try:
            await scenario(procs, runs, faulty, healthy, environments, postgres, worker_a, timings)
        finally:
            await runs.cancel_leftovers()
    print(f"timings (s): { {k: round(v, 3) for k, v in timings.items()} }")


async def scenario(
    procs: Processes,
    runs: Runs,
    faulty: Simulator,
    healthy: Simulator,
    environments: Path,
    postgres: PostgresServer,
    worker_a: Any,
    timings: dict[str, float],
) -> None:
    # History across workers, each run with a fresh PREFECT_HOME: A, B, A with the connector in ERROR.
    started = time.monotonic()
    marks = []
    for queue in ("a", "b", "a"):
        run_id = await runs.start("staging-handoff/manual", queue, environment="hist", phases=["infrastructure"])
        run = await runs.finished(run_id)
        assert run.state.is_failed() and run.state.message == "infrastructure validation failed: vpc-connector", (
            run.state,
            procs.tail(f"worker-{queue}"),
        )
        (reply,) = parents(faulty)[-1]["replies"]
        found = re.search(r"\*vpc-connector\* \(P0, FAIL\) · _(new|still failing since [^_]*)_", text_of(reply))
        assert found, text_of(reply)
        marks.append(found.group(1))
    first_failure = marks and marks[1].removeprefix("still failing since ").split(" (")[0]
    assert marks == [
        "new",
        f"still failing since {first_failure} (2 runs)",
        f"still failing since {first_failure} (3 runs)",
    ], marks
    # The connector is healthy again (the environment file now points at the healthy world): recovered, on B.
    write_environment(healthy, environments, "hist", postgres)
    recovered = await runs.finished(
        await runs.start("staging-handoff/manual", "b", environment="hist", phases=["infrastructure"])
    )
    assert recovered.state.is_completed(), recovered.state
    assert "recovered: vpc-connector" in text_of(parents(healthy)[-1])
    assert len(parents(faulty)) == 3  # one parent per run
    timings["history (4 runs)"] = time.monotonic() - started

    # The project's automations, as code: applied twice, one of each.
    for attempt in ("apply-1", "apply-2"):
        code = procs.run(attempt, RUNBOOK, "automations", "apply", "--within", str(WITHIN_S), timeout=CLI_TIMEOUT_S)
        assert code == 0, procs.tail(attempt)
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=runs.api_url) as client:
        for name in ("runbook: crash silent runs", "runbook: crash notice"):
            assert len(await client.read_automations_by_name(name)) == 1, name

    # A redeploy of `paused`, on worker A: it pauses for approval (before phase 2 changes anything), holding `paused`.
    paused = await runs.start("staging-handoff/manual", "a", environment="paused", phases=["restoration"],
                              redeploy=True, approval_timeout_s=600)  # fmt: skip
    paused_run = await runs.wait(paused, lambda s: s.is_paused(), "Paused")
    paused_at = time.monotonic()

    # The CLI, with no time to wait, is refused while the paused redeploy holds `paused`, and says which run holds it.
    code = procs.run("cli", "env", "RUNBOOK_LOCK_WAIT_S=0", RUNBOOK, "run", "--env", "paused", "--phase",
                     "infrastructure", timeout=CLI_TIMEOUT_S)  # fmt: skip
    cli_output = procs.tail("cli", 80)
    assert code == 1, cli_output
    assert f"paused is in use by run '{paused_run.name}' (flow run {paused}" in " ".join(cli_output.split()), cli_output

    # A run of `paused` on B waits for the environment and says, in Slack, which run holds it.
    waiting = await runs.start("staging-handoff/manual", "b", environment="paused", phases=["infrastructure"])
    deadline = time.monotonic() + 60
    words = f"paused is in use by run '{paused_run.name}' (flow run {paused}"
    while not any(words in body for body in sent_bodies(healthy)):
        assert time.monotonic() < deadline, f"no waiting message naming the holder:\n{procs.tail('worker-b')}"
        await asyncio.sleep(1)
    # The paused run lived through more than `within`: its heartbeats go on while it waits for approval.
    await asyncio.sleep(max(0.0, WITHIN_S + 10 - (time.monotonic() - paused_at)))
    still = await runs.read(paused)
    assert still.state.is_paused(), f"a live run Paused for approval was not left alone: {still.state!r}"
    assert (await runs.read(waiting)).state.is_running()  # still waiting: the paused run holds the environment

    # SIGKILL worker A and the paused run's process (found by its own PREFECT_HOME).
    killed = pids_with_env(f"PREFECT_HOME={runs.home[paused]}")
    assert killed, "the paused run's process was not found"
    os.killpg(worker_a.pid, signal.SIGKILL)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    crashed = await runs.wait(paused, lambda s: s.is_crashed(), "Crashed", timeout_s=WITHIN_S + 90)
    timings["kill -> Crashed"] = time.monotonic() - killed_at
    assert "no heartbeat for 60 s" in (crashed.state.message or ""), crashed.state

    # The crash notice (on B) updates the killed run's parent in place; no second parent.
    deadline = time.monotonic() + 90
    while True:
        said = [m for m in parents(healthy) if "Service restoration" in text_of(m)]  # only the redeploy ran phase 2
        if any("Run crashed" in text_of(m) for m in said):
            break
        assert time.monotonic() < deadline, (
            f"the killed run's Slack parent never said Crashed:\n{procs.tail('worker-b')}"
        )
        await asyncio.sleep(1)
    timings["kill -> Slack says crashed"] = time.monotonic() - killed_at
    (said_crashed,) = said
    assert "no heartbeat for 60 s" in text_of(said_crashed)

    # The waiting run got the environment once the killed run's lease expired, and ran after it, alone.
    waited = await runs.finished(waiting, timeout_s=240)
    timings["kill -> waiting run done"] = time.monotonic() - killed_at
    assert waited.state.is_completed(), (waited.state, procs.tail("worker-b"))
    # One parent message per run in each Slack: the redeploy, the recovered run, the refused CLI run, the waiting run.
    assert len(parents(healthy)) == 4 and len(parents(faulty)) == 3, [text_of(m)[:160] for m in parents(healthy)]
    # Every run carries its environment's tag; no flow run left anything of the run's memory on its disk.
    for run_id in runs.created:
        run = await runs.read(run_id)
        environment = run.parameters.get("environment")
        assert f"env:{environment}" in run.tags, (run.name, run.tags)
    leftovers = [p for p in runs.homes.rglob("*") if "history" in p.name or "parent" in p.name]
    assert leftovers == [], leftovers
    await history_read_cost(procs.env["PREFECT_API_URL"], timings)


async def history_read_cost(api_url: str, timings: dict[str, float]) -> None:
    """What a run pays at its start to read its environment's history from this server: well under 0.2 s."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from runbook.slack.store import RunHistory

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        await RunHistory().previous("hist", "warm-up")
        started = time.perf_counter()
        for _ in range(5):
            assert await RunHistory().previous("hist", str(uuid.uuid4())) is not None
        cost = (time.perf_counter() - started) / 5
    timings["history read"] = cost
    assert cost < 0.2, f"reading the history costs {cost:.3f} s"
