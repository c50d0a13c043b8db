"""What every phase flow does once its checks are in: gate, record, publish, tell the listeners."""

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from runbook.catalog import phase_checks
from runbook.checks import skipped
from runbook.interruption import ChecksStopped, stop_reason
from runbook.report import PHASE_WORDS, checks_table
from runbook.results import PHASE_TITLES, CheckResult, Phase, PhaseResult, PhaseStatus, Status, gate

T = TypeVar("T")


class Listeners(Generic[T]):
    """Functions told about each T as it happens; they must not raise (a listener never changes or breaks a run)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[T], None]] = []

    def add(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Register a listener; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def tell(self, value: T) -> T:
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener(value)
        return value


# Each check as it finishes (the CLI's live progress), and each phase as the handoff records it, in plan order
# (skipped phases too: what an interrupted CLI run still reports).
_checks = Listeners[CheckResult]()
_phases = Listeners[PhaseResult]()
add_check_listener = _checks.add
check_finished = _checks.tell
add_phase_listener = _phases.add
phase_recorded = _phases.tell


# Waiting for a check's future blocks a thread; never the flow's event loop, which Prefect still needs meanwhile.
_WAITERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="check-waiter")


async def settle(future: Any) -> CheckResult:
    """Wait for a submitted check (a PrefectFuture), tell the listeners, return its result.

    A FAIL or ERROR check ends in a Failed task run state that still carries its CheckResult: read it, don't raise.
    """
    wait = functools.partial(future.result, raise_on_failure=False)
    result = await asyncio.get_running_loop().run_in_executor(_WAITERS, wait)
    reason = stop_reason()
    if not isinstance(result, CheckResult) and reason is not None:
        raise ChecksStopped(reason)  # a check the interruption stopped: the phase stops too, undecided
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


def refused_phase(phase: Phase, reason: str) -> PhaseResult:
    """The first phase of a run that never held its environment: failed, with one ERROR saying which run held it."""
    spec = phase_checks(phase)[0]
    error = CheckResult(
        id="environment-in-use",
        title="Environment lock",
        phase=phase,
        severity=spec.severity,
        status=Status.ERROR,
        summary=reason[:500],
        remediation=(
            "Wait until the run holding the environment has finished (or cancel it in the Prefect UI), then run "
            "again; RUNBOOK_LOCK_WAIT_S sets how long a run waits for its environment."
        ),
        attempts=0,
    )
    return PhaseResult(phase=phase, status=PhaseStatus.failed, checks=(error,))


async def publish_phase_artifact(environment: str, result: PhaseResult, on_handoff: bool = False) -> None:
    """A table artifact of the phase's checks, versioned by key (one version per run).

    The phase flow's own is `<env>-<phase>-checks`; the copy the handoff attaches to the run the operator started
    (`on_handoff`), so that its Artifacts tab shows every phase, is `<env>-handoff-<phase>-checks`: titled in the UI
    like the run's other artifacts (`<env>-handoff-report`, `<env>-handoff-checks`), never an untitled card.
    """
    from prefect.artifacts import acreate_table_artifact

    rows: list[dict[str, Any]] = checks_table([result])
    words = f"{PHASE_TITLES[result.phase]} ({environment}): {PHASE_WORDS[result.status]} ({len(rows)} checks)"
    await acreate_table_artifact(
        key=f"{environment}-{'handoff-' if on_handoff else ''}{result.phase.value}-checks",
        table=rows,
        description=f"{words}, as the phase's subflow recorded it" if on_handoff else words,
    )


@contextlib.contextmanager
def run_tags(*extra: str) -> Iterator[None]:
    """The current flow run's tags (a deployment's), and `extra` ones, on the subflows and task runs started inside."""
    from prefect import tags
    from prefect.runtime import flow_run

    with tags(*(flow_run.tags or []), *extra):
        yield


def phase_run_name(phase: Phase) -> Callable[[], str]:
    """A phase flow's run name: `infrastructure · staging · 2026-12-01 10:00 UTC` (the phase, the environment, when:
    the artifact history of a key lists runs by name, and the same name every night would say nothing)."""

    def name() -> str:
        from prefect.runtime import flow_run

        environment = Path(str((flow_run.parameters or {}).get("environment") or "staging")).stem
        when = flow_run.scheduled_start_time or datetime.now(UTC)
        return f"{phase.value} · {environment} · {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"

    return name
