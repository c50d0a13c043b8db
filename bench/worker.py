"""Worker pickup to first check: deployment runs through a real `prefect worker` of a process work pool.

Against the benchmark's running server, as the operator guide does it: the process work pool of
deployments/prefect.yaml (`prefect work-pool create`), `prefect deploy` of staging-handoff/manual, then
`prefect worker start --pool POOL --type process`, left polling; once it polls, flow runs are created from the
deployment as the UI's Run does (the deployment's parameters, the environment changed). Per run, from the server's
state history of the flow run (the worker sets Pending when it picks the run up; the flow-run process sets Running)
and the simulator's request log:

- created -> picked up: the worker's poll interval (PREFECT_WORKER_QUERY_SECONDS=1 here; 10 s by default);
- picked up -> Running: the flow-run process starts, imports Prefect and the flow, and reports Running;
- picked up -> first check: the simulator's first Google API request after the pickup (injected latency subtracted).

The server's timestamps are wall clock; the simulator logs CLOCK_MONOTONIC: one (time.time(), time.monotonic())
pair converts. Every wait is bounded; the worker (its own process group, started here) is stopped at the end.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.measure import GOOGLE_APIS, BenchError, Setup
from bench.prefect_env import ROOT, executable

PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
DEPLOYMENT = "staging-handoff/manual"
POOL = "staging-runbook"  # deployments/prefect.yaml's process pool
CLI_TIMEOUT_S = 180.0
WORKER_READY_S = 90.0
RUN_TIMEOUT_S = 240.0
QUERY_S = 1  # the worker's poll interval here (created -> picked up is not what this measures)


def worker_env(setup: Setup, api_url: str, home: Path) -> dict[str, str]:
    env = setup.child_env(api_url, home)
    env.update(
        {
            # The deployment's environment dropdown offers the world's file, as a team's own environments/ would.
            "RUNBOOK_ENVIRONMENTS_DIR": str(setup.env_file.parent),
            "PREFECT_WORKER_QUERY_SECONDS": str(QUERY_S),
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
    )
    return env


def _cli(args: list[str], env: dict[str, str], log: Path, what: str) -> None:
    with log.open("a") as out:
        try:
            done = subprocess.run(
                args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=CLI_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"{what}: no end within {CLI_TIMEOUT_S:g} s (log {log})") from error
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchError(f"{what} exited {done.returncode}:\n{tail}")


@contextlib.contextmanager
def running_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`prefect worker start` for the pool, in a process group of its own; stopped (by its id) on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [executable("prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(wait_s)


async def _wait_polling(client: Any, process: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until the worker has polled the pool (its heartbeat is on the server)."""
    started = time.monotonic()
    while time.monotonic() - started < WORKER_READY_S:
        if process.poll() is not None:
            raise BenchError(f"prefect worker exited with {process.returncode} (log {log})")
        workers = await client.read_workers_for_work_pool(POOL)
        if any(w.last_heartbeat_time for w in workers):
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise BenchError(f"prefect worker did not poll {POOL} within {WORKER_READY_S:g} s (log {log})")


def _first(states: list[Any], kind: str) -> datetime | None:
    times = [s.timestamp for s in states if s.type.value == kind]
    return min(times) if times else None


async def _one_run(client: Any, deployment: Any, setup: Setup, clock: tuple[float, float]) -> dict[str, Any]:
    wall0, mono0 = clock
    setup.sim.log.clear()
    parameters = {**deployment.parameters, "environment": setup.world.name, "trigger": "bench"}
    run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    started = time.monotonic()
    while True:
        current = await client.read_flow_run(run.id)
        if current.state and current.state.is_final():
            break
        if time.monotonic() - started > RUN_TIMEOUT_S:
            raise BenchError(f"deployment run {run.id} not final within {RUN_TIMEOUT_S:g} s ({current.state!r})")
        await asyncio.sleep(0.5)
    if not current.state.is_completed():
        raise BenchError(f"deployment run {run.id} ended {current.state.name}: {current.state.message}")
    states = await client.read_flow_run_states(run.id)
    created = run.created.timestamp() if run.created else None
    pending, running = _first(states, "PENDING"), _first(states, "RUNNING")
    if pending is None or running is None:
        raise BenchError(f"deployment run {run.id}: no Pending/Running state in {[s.type.value for s in states]}")
    picked = pending.timestamp()
    google = [e.at - mono0 + wall0 for e in setup.sim.log.entries() if e.api in GOOGLE_APIS]
    after = [at for at in google if at >= picked]
    if not after:
        raise BenchError(f"deployment run {run.id}: no Google API call after the pickup")
    first = min(after) - setup.world.google_ms / 1000
    ended = max(s.timestamp for s in states).timestamp()
    phase_start, first_task = await _phase_one(client, run.id)
    return {
        "flow_run_id": str(run.id),
        "created_to_pickup_s": round(picked - created, 3) if created else None,
        "pickup_to_running_s": round(running.timestamp() - picked, 3),
        "running_to_first_check_s": round(first - running.timestamp(), 3),
        "pickup_to_first_check_s": round(first - picked, 3),
        # Running -> first check, split: the handoff flow until phase 1's subflow started, then until its first
        # check's task run was Running (task run creation, tag concurrency slots), then until the first call.
        "running_to_phase_1_s": _d(running.timestamp(), phase_start),
        "phase_1_to_first_task_running_s": _d(phase_start, first_task),
        "first_task_running_to_first_call_s": _d(first_task, first),
        "pickup_to_end_s": round(ended - picked, 3),
        "state": current.state.name,
    }


async def _phase_one(client: Any, flow_run_id: Any) -> tuple[float | None, float | None]:
    """When the first phase subflow started, and when its first check's task run started (wall clock)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    children = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
    )
    started = [c for c in children if c.start_time]
    if not started:
        return None, None
    phase = min(started, key=lambda c: c.start_time.timestamp())
    tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[phase.id])))
    task_starts = [t.start_time.timestamp() for t in tasks if t.start_time]
    return phase.start_time.timestamp(), min(task_starts) if task_starts else None


def _d(a: float | None, b: float | None) -> float | None:
    return round(b - a, 3) if a is not None and b is not None else None


def measure_worker(setup: Setup, api_url: str, home: Path, runs: int, logs: Path) -> dict[str, Any]:
    """Deploy, start a worker, run the deployment `runs` times one after another; the figures of each run."""
    env = worker_env(setup, api_url, home)
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):  # this measurement's logs only
        old.unlink()
    prefect = executable("prefect")
    started = time.monotonic()
    _cli([prefect, "work-pool", "create", POOL, "--type", "process", "--overwrite"], env, logs / "pool.log", "pool")
    _cli(
        [prefect, "--no-prompt", "deploy", "--prefect-file", str(PREFECT_FILE), "--name", DEPLOYMENT],
        env,
        logs / "deploy.log",
        "prefect deploy",
    )
    deployed = time.monotonic() - started
    with running_worker(env, logs / "worker.log") as worker:
        result = asyncio.run(_runs(api_url, worker, setup, runs, logs / "worker.log"))
    result["pool_and_deploy_s"] = round(deployed, 1)
    return result


async def _runs(api_url: str, worker: subprocess.Popen[bytes], setup: Setup, runs: int, log: Path) -> dict[str, Any]:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=api_url) as client:
        ready = await _wait_polling(client, worker, log)
        deployment = await client.read_deployment_by_name(DEPLOYMENT)
        clock = (time.time(), time.monotonic())
        measured = [await _one_run(client, deployment, setup, clock) for _ in range(runs)]
    figures = sorted(r["pickup_to_first_check_s"] for r in measured)
    return {
        "deployment": DEPLOYMENT,
        "pool": POOL,
        "worker_query_s": QUERY_S,
        "worker_ready_s": round(ready, 1),
        "runs": measured,
        "pickup_to_first_check_median_s": figures[len(figures) // 2],
    }
