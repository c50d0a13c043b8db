"""What every phase flow does once its checks are in: gate, record, publish, tell the listeners."""

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from runbook.catalog import phase_checks
from runbook.checks import skipped
from runbook.report import checks_table
from runbook.results import PHASE_TITLES, CheckResult, Phase, PhaseResult, PhaseStatus, Status, gate

# Listeners hear about each check as it finishes (the CLI's live progress, later Slack). They must not raise.
CheckListener = Callable[[CheckResult], None]
_listeners: list[CheckListener] = []


def add_check_listener(listener: CheckListener) -> Callable[[], None]:
    """Register a listener; returns a function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def check_finished(result: CheckResult) -> CheckResult:
    for listener in list(_listeners):
        with contextlib.suppress(Exception):  # a listener never changes or breaks the run
            listener(result)
    return result


# Waiting for a check's future blocks a thread; never the flow's event loop, which Prefect still needs meanwhile.
_WAITERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="check-waiter")


async def settle(future: Any) -> CheckResult:
    """Wait for a submitted check (a PrefectFuture), tell the listeners, return its result."""
    result = await asyncio.get_running_loop().run_in_executor(_WAITERS, future.result)
    if not isinstance(result, CheckResult):
        raise TypeError(f"a check task returned {type(result).__name__}, expected CheckResult")
    return check_finished(result)


class PhaseClock:
    """When a phase started, in wall time for reports and monotonic time for durations."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0


def prerequisite_problem(result: CheckResult | None, check_id: str) -> str | None:
    """Why a dependent check must be skipped, or None when its prerequisite allows it to run."""
    if result is None:
        return None
    if result.status in (Status.PASS, Status.WARN):
        return None
    return f"skipped: prerequisite {result.id} is {result.status.value}"


def conclude_phase(phase: Phase, results: Iterable[CheckResult], clock: PhaseClock) -> PhaseResult:
    """Order the results as the catalog does and let the gate decide."""
    order = {spec.id: index for index, spec in enumerate(phase_checks(phase))}
    checks = tuple(sorted(results, key=lambda c: order.get(c.id, len(order))))
    return PhaseResult(
        phase=phase, status=gate(checks), checks=checks, started_at=clock.started_at, duration_s=clock.elapsed
    )


async def close_phase(environment: str, phase: Phase, results: Iterable[CheckResult], clock: PhaseClock) -> Any:
    """The end of every phase flow: gate, table artifact, and the flow's state (Failed when the gate closed)."""
    from prefect.states import Failed

    result = conclude_phase(phase, results, clock)
    await publish_phase_artifact(environment, result)
    if result.status == PhaseStatus.failed:
        return Failed(message=result.failure_reason(), data=result)
    return result


def skipped_phase(phase: Phase, reason: str) -> PhaseResult:
    """A phase the gate did not let run: every check SKIPPED with the reason."""
    checks = tuple(skipped(spec, reason) for spec in phase_checks(phase))
    return PhaseResult(phase=phase, status=PhaseStatus.skipped, checks=checks, skip_reason=reason)


def crashed_phase(phase: Phase, detail: str) -> PhaseResult:
    """A phase flow that ended without a result (a bug or a crash): failed, with one ERROR saying why."""
    spec = phase_checks(phase)[0]
    error = CheckResult(
        id=f"{phase.value}-phase",
        title=f"{PHASE_TITLES[phase]} flow",
        phase=phase,
        severity=spec.severity,
        status=Status.ERROR,
        summary=f"the phase flow crashed before deciding: {detail[:300]}",
        remediation="Open the flow run's logs in the Prefect UI; rerun, and report it with the logs if it persists.",
        attempts=0,
    )
    return PhaseResult(phase=phase, status=PhaseStatus.failed, checks=(error,))


async def publish_phase_artifact(environment: str, result: PhaseResult) -> None:
    """A table artifact of the phase's checks (versioned by key, one key per environment and phase)."""
    from prefect.artifacts import acreate_table_artifact

    rows: list[dict[str, Any]] = checks_table([result])
    await acreate_table_artifact(
        key=f"{environment}-{result.phase.value}-checks",
        table=rows,
        description=f"{result.phase.value}: {result.status.value} ({len(rows)} checks)",
    )
