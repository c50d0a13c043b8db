"""Where a handoff run's seconds go, from the server's record of it and the simulator's request log.

The handoff flow run and its phase subflow runs (start and end as the server recorded them, wall clock), the
first Google API call after each phase started (the simulator logs CLOCK_MONOTONIC; one (time.time(),
time.monotonic()) pair converts; the injected latency is subtracted) and the last check of each phase to finish.
From these: flow start -> first phase, per phase its start -> first call, first call -> last check, last check ->
phase end, and the gaps between phases (subflow run creation, the gate, the artifacts).
"""

import asyncio
import time
from typing import Any

from simulator.requestlog import RecordedRequest

GOOGLE_APIS = ("vpcaccess", "sqladmin", "run", "secretmanager", "compute", "monitoring")


def clock_pair() -> tuple[float, float]:
    """(wall, monotonic) read together: monotonic + (wall - monotonic) is wall clock."""
    return time.time(), time.monotonic()


async def _runs(api_url: str, flow_run_id: str) -> tuple[Any, list[Any]]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with PrefectClient(api=api_url) as client:
        parent = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id]))
        )
    return parent, sorted((c for c in children if c.start_time), key=lambda c: c.start_time)


def timeline(
    api_url: str,
    flow_run_id: str,
    entries: list[RecordedRequest],
    check_finished_mono: dict[str, float],
    phase_checks: list[list[str]],
    latency_s: float,
    clock: tuple[float, float],
) -> dict[str, Any]:
    """The run's seconds, phase by phase (see the module docstring); all figures in seconds."""
    parent, children = asyncio.run(_runs(api_url, flow_run_id))
    offset = clock[0] - clock[1]
    calls = sorted(e.at + offset - latency_s for e in entries if e.api in GOOGLE_APIS)
    start = parent.start_time.timestamp() if parent.start_time else None
    end = parent.end_time.timestamp() if parent.end_time else None
    phases: list[dict[str, Any]] = []
    previous_end = start
    for child, checks in zip(children, phase_checks, strict=False):
        p_start = child.start_time.timestamp()
        p_end = child.end_time.timestamp() if child.end_time else None
        first = next((at for at in calls if at >= p_start), None)
        finished = [check_finished_mono[c] + offset for c in checks if c in check_finished_mono]
        last = max(finished) if finished else None
        phases.append(
            {
                "name": child.name,
                "gap_before_s": _d(previous_end, p_start),
                "start_to_first_call_s": _d(p_start, first),
                "first_call_to_last_check_s": _d(first, last),
                "last_check_to_end_s": _d(last, p_end),
                "duration_s": _d(p_start, p_end),
            }
        )
        previous_end = p_end
    return {
        "flow_s": _d(start, end),
        "flow_start_to_first_call_s": _d(start, calls[0] if calls else None),
        "phases": phases,
        "after_last_phase_s": _d(previous_end, end),
    }


def _d(a: float | None, b: float | None) -> float | None:
    return round(b - a, 3) if a is not None and b is not None else None


async def _latest_handoff(api_url: str, since: float) -> tuple[Any, Any] | None:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    async with PrefectClient(api=api_url) as client:
        runs = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=20)
        top = [r for r in runs if r.parent_task_run_id is None and r.created and r.created.timestamp() >= since]
        if not top:
            return None
        handoff = min(top, key=lambda r: r.created.timestamp() if r.created else 0.0)  # the process's first run
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[handoff.id]))
        )
    started = [c for c in children if c.start_time]
    first_phase = min(started, key=lambda c: c.start_time.timestamp() if c.start_time else 0.0, default=None)
    return handoff, first_phase


def startup_timeline(api_url: str, started_wall: float, first_call_wall: float) -> dict[str, Any]:
    """`runbook run`'s start-up, from the server's record of the run it created: process start -> flow run
    created (imports, config, flow run creation) -> Running -> first phase's subflow started -> first Google call."""
    found = asyncio.run(_latest_handoff(api_url, started_wall))
    if found is None:
        return {}
    handoff, phase = found
    created = handoff.created.timestamp() if handoff.created else None
    running = handoff.start_time.timestamp() if handoff.start_time else None
    phase_start = phase.start_time.timestamp() if phase is not None else None
    return {
        "process_start_to_flow_run_created_s": _d(started_wall, created),
        "created_to_running_s": _d(created, running),
        "running_to_first_phase_s": _d(running, phase_start),
        "first_phase_to_first_call_s": _d(phase_start, first_call_wall),
    }
