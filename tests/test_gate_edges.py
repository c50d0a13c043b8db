"""The gate at its edges: every status and severity, ERROR prerequisites, empty reports, crashed and skipped phases.

Plain objects only (no Prefect, no simulator): `make mutate` reruns these for every mutant of the gate.
"""

from datetime import UTC, datetime

import pytest

from runbook.catalog import phase_checks
from runbook.phases import PhaseClock, conclude_phase, crashed_phase, prerequisite_problem, skipped_phase
from runbook.results import (
    CheckResult,
    Phase,
    PhaseResult,
    PhaseStatus,
    RunReport,
    Severity,
    Status,
    Verdict,
    gate,
)


def check(check_id: str = "a", severity: Severity = Severity.P0, status: Status = Status.PASS) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"{check_id} title",
        phase=Phase.infrastructure,
        severity=severity,
        status=status,
        summary=f"{check_id} is {status.value}",
    )


def phase(status: PhaseStatus, name: Phase = Phase.infrastructure) -> PhaseResult:
    return PhaseResult(phase=name, status=status)


def report(*phases: PhaseResult, interrupted: bool = False) -> RunReport:
    return RunReport(
        environment="local", started_at=datetime(2026, 12, 1, tzinfo=UTC), phases=phases, interrupted=interrupted
    )


# Every severity x status: does it block the gate, is it a problem, what does the gate say about it alone.
EXPECTED = {
    (Severity.P0, Status.PASS): (False, False, PhaseStatus.passed),
    (Severity.P0, Status.WARN): (False, True, PhaseStatus.passed_with_warnings),
    (Severity.P0, Status.FAIL): (True, True, PhaseStatus.failed),
    (Severity.P0, Status.ERROR): (True, True, PhaseStatus.failed),
    (Severity.P0, Status.SKIPPED): (False, False, PhaseStatus.passed),
    (Severity.P1, Status.PASS): (False, False, PhaseStatus.passed),
    (Severity.P1, Status.WARN): (False, True, PhaseStatus.passed_with_warnings),
    (Severity.P1, Status.FAIL): (True, True, PhaseStatus.failed),
    (Severity.P1, Status.ERROR): (True, True, PhaseStatus.failed),
    (Severity.P1, Status.SKIPPED): (False, False, PhaseStatus.passed),
    (Severity.P2, Status.PASS): (False, False, PhaseStatus.passed),
    (Severity.P2, Status.WARN): (False, True, PhaseStatus.passed_with_warnings),
    (Severity.P2, Status.FAIL): (False, True, PhaseStatus.passed_with_warnings),
    (Severity.P2, Status.ERROR): (False, True, PhaseStatus.passed_with_warnings),
    (Severity.P2, Status.SKIPPED): (False, False, PhaseStatus.passed),
}


@pytest.mark.parametrize(("severity", "status"), list(EXPECTED))
def test_each_severity_and_status_blocks_warns_or_passes_as_the_plan_says(severity: Severity, status: Status) -> None:
    blocking, problem, alone = EXPECTED[(severity, status)]
    result = check(severity=severity, status=status)
    assert (result.blocking, result.problem, gate([result])) == (blocking, problem, alone)


def test_one_blocking_check_among_passing_and_warning_ones_closes_the_gate() -> None:
    checks = [check("a"), check("b", Severity.P2, Status.WARN), check("c", Severity.P1, Status.ERROR), check("d")]
    assert gate(checks) == PhaseStatus.failed
    assert gate(tuple(checks[:2])) == PhaseStatus.passed_with_warnings


def test_a_phase_with_no_checks_passes_its_gate() -> None:
    assert gate([]) == PhaseStatus.passed


@pytest.mark.parametrize(
    ("status", "passed"),
    [
        (PhaseStatus.passed, True),
        (PhaseStatus.passed_with_warnings, True),
        (PhaseStatus.failed, False),
        (PhaseStatus.skipped, False),
    ],
)
def test_a_phase_passed_only_when_its_gate_opened(status: PhaseStatus, passed: bool) -> None:
    assert phase(status).passed is passed


def test_blocking_checks_are_exactly_the_p0_p1_fail_and_error_ones_in_order() -> None:
    checks = (
        check("p0-fail", Severity.P0, Status.FAIL),
        check("p2-fail", Severity.P2, Status.FAIL),
        check("p1-warn", Severity.P1, Status.WARN),
        check("p1-error", Severity.P1, Status.ERROR),
    )
    result = PhaseResult(phase=Phase.restoration, status=PhaseStatus.failed, checks=checks)
    assert [c.id for c in result.blocking_checks] == ["p0-fail", "p1-error"]
    assert result.failure_reason() == "service restoration failed: p0-fail, p1-error"


def test_failure_reason_without_a_blocking_check_says_the_gate_closed() -> None:
    assert phase(PhaseStatus.failed, Phase.business).failure_reason() == "business validation failed: gate closed"


# --- the run's verdict ------------------------------------------------------------------------------------------


def test_an_empty_report_with_no_phases_is_not_passed() -> None:
    assert report().verdict == Verdict.failed


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ((PhaseStatus.passed,), Verdict.passed),
        ((PhaseStatus.passed, PhaseStatus.passed, PhaseStatus.passed), Verdict.passed),
        ((PhaseStatus.passed, PhaseStatus.passed_with_warnings), Verdict.passed_with_warnings),
        ((PhaseStatus.passed_with_warnings, PhaseStatus.failed), Verdict.failed),
        ((PhaseStatus.passed, PhaseStatus.failed, PhaseStatus.skipped), Verdict.failed),
        ((PhaseStatus.failed,), Verdict.failed),
        ((PhaseStatus.passed, PhaseStatus.skipped), Verdict.passed),
    ],
)
def test_the_verdict_is_the_worst_phase(statuses: tuple[PhaseStatus, ...], verdict: Verdict) -> None:
    assert report(*(phase(s, p) for s, p in zip(statuses, Phase, strict=False))).verdict == verdict


def test_an_interrupted_run_is_neither_passed_nor_failed() -> None:
    assert report(phase(PhaseStatus.passed), interrupted=True).verdict == Verdict.interrupted
    assert report(phase(PhaseStatus.failed), interrupted=True).verdict == Verdict.interrupted
    assert report(interrupted=True).verdict == Verdict.interrupted


# --- prerequisites ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.PASS, Status.WARN])
def test_a_prerequisite_that_passed_or_warned_lets_its_dependent_run(status: Status) -> None:
    assert prerequisite_problem(check("health-endpoints", status=status), "websocket-handshake") is None


def test_no_prerequisite_result_lets_the_dependent_run() -> None:
    assert prerequisite_problem(None, "performance") is None


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR, Status.SKIPPED])
def test_a_prerequisite_that_failed_errored_or_was_skipped_skips_its_dependent(status: Status) -> None:
    problem = prerequisite_problem(check("golden-path", status=status), "performance")
    assert problem == f"skipped: prerequisite golden-path is {status.value}"


# --- concluding, skipping and crashing phases --------------------------------------------------------------------


class StoppedClock(PhaseClock):
    """A clock whose phase took exactly 1.5 s."""

    @property
    def elapsed(self) -> float:
        return 1.5


def test_conclude_phase_orders_checks_as_the_catalog_does_and_lets_the_gate_decide() -> None:
    clock = StoppedClock()
    unknown = check("not-in-catalog", Severity.P2, Status.PASS)
    found = [unknown, check("monitoring", Severity.P2, Status.WARN), check("vpc-connector"), check("secrets")]
    result = conclude_phase(Phase.infrastructure, found, clock)
    assert [c.id for c in result.checks] == ["vpc-connector", "secrets", "monitoring", "not-in-catalog"]
    assert result.phase == Phase.infrastructure
    assert result.status == PhaseStatus.passed_with_warnings
    assert result.started_at == clock.started_at
    assert result.duration_s == 1.5


def test_conclude_phase_fails_when_a_blocking_check_is_in() -> None:
    result = conclude_phase(Phase.infrastructure, [check("secrets", Severity.P1, Status.ERROR)], PhaseClock())
    assert result.status == PhaseStatus.failed


def test_a_skipped_phase_skips_every_catalog_check_with_the_reason() -> None:
    result = skipped_phase(Phase.business, "service restoration failed: health-endpoints")
    specs = phase_checks(Phase.business)
    assert result.status == PhaseStatus.skipped
    assert result.skip_reason == "service restoration failed: health-endpoints"
    assert [(c.id, c.severity, c.phase) for c in result.checks] == [(s.id, s.severity, s.phase) for s in specs]
    assert {(c.status, c.summary, c.attempts) for c in result.checks} == {
        (Status.SKIPPED, "service restoration failed: health-endpoints", 0)
    }
    assert not result.passed


def test_a_crashed_phase_fails_with_one_error_saying_why() -> None:
    result = crashed_phase(Phase.restoration, "KeyError: 'x'" + "y" * 400)
    assert result.status == PhaseStatus.failed and result.phase == Phase.restoration
    (error,) = result.checks
    assert error.id == "restoration-phase"
    assert error.title == "Service restoration flow"
    assert error.phase == Phase.restoration
    assert error.severity == phase_checks(Phase.restoration)[0].severity == Severity.P0
    assert error.status == Status.ERROR and error.blocking
    assert error.summary == "the phase flow crashed before deciding: KeyError: 'x'" + "y" * 287
    assert error.remediation.startswith("Open the flow run's logs in the Prefect UI; rerun")
    assert error.attempts == 0
    assert result.failure_reason() == "service restoration failed: restoration-phase"


@pytest.mark.parametrize("crashed", list(Phase))
def test_a_crashed_phase_blocks_with_the_severity_of_its_first_catalog_check(crashed: Phase) -> None:
    (error,) = crashed_phase(crashed, "boom").checks
    assert error.severity == phase_checks(crashed)[0].severity == Severity.P0
    assert error.phase == crashed and error.id == f"{crashed.value}-phase"
