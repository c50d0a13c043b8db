"""The stakeholder summary's words for each verdict: ready, ready with warnings, NOT ready, and phases not run.

`compose_summary` is what a non-engineer forwards: its headline must never say "ready for use" while a P0/P1 check,
in business validation or before, failed or could not be determined.
"""

import pytest

from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, Severity, Status
from tasks.stakeholder import compose_summary, decide_summary

READY = "**Staging (staging) is ready for use: users can log in and get AI responses.**"


def check(
    check_id: str,
    status: Status = Status.PASS,
    severity: Severity = Severity.P0,
    phase: Phase = Phase.business,
    **evidence: object,
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id.replace("-", " ").capitalize(),
        phase=phase,
        severity=severity,
        status=status,
        summary=f"{check_id} found this",
        evidence=evidence,
    )


def infrastructure(*checks: CheckResult, status: PhaseStatus = PhaseStatus.passed) -> PhaseResult:
    return PhaseResult(phase=Phase.infrastructure, status=status, checks=checks)


def restoration(*checks: CheckResult, skip_reason: str | None = None) -> PhaseResult:
    status = PhaseStatus.skipped if skip_reason else PhaseStatus.passed
    return PhaseResult(phase=Phase.restoration, status=status, checks=checks, skip_reason=skip_reason)


def test_everything_passed_reads_ready_with_each_phase_and_the_golden_path_time() -> None:
    text = compose_summary(
        "staging",
        [infrastructure(check("vpc-connector", phase=Phase.infrastructure)), restoration(check("health-endpoints"))],
        [check("golden-path", total_ms=99_960), check("performance", severity=Severity.P1)],
    )
    assert text.splitlines() == [
        READY,
        "",
        "- Infrastructure validation: passed.",
        "- Service restoration: passed.",
        "- Business validation: passed.",
        "- Golden path: login to AI response in 100.0 s.",
    ]


def test_warnings_are_ready_with_the_problems_listed() -> None:
    text = compose_summary(
        "staging",
        [infrastructure(check("monitoring", Status.FAIL, Severity.P2), check("secrets", Status.WARN, Severity.P1))],
        [check("golden-path", total_ms=1500.0)],
    )
    assert text.splitlines() == [
        READY,
        "",
        "- Infrastructure validation: passed with warnings: Monitoring FAIL: monitoring found this; "
        "Secrets WARN: secrets found this.",
        "- Business validation: passed.",
        "- Golden path: login to AI response in 1.5 s.",
    ]


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR])
@pytest.mark.parametrize("severity", [Severity.P0, Severity.P1])
def test_a_blocking_business_check_makes_it_not_ready(status: Status, severity: Severity) -> None:
    text = compose_summary(
        "staging",
        [infrastructure(check("vpc-connector", phase=Phase.infrastructure))],
        [check("golden-path", total_ms=900), check("performance", status, severity)],
    )
    assert text.splitlines()[0] == "**Staging (staging) is NOT ready: Performance failed.**"
    assert "ready for use" not in text
    assert text.splitlines()[3] == f"- Business validation: failed: Performance {status.value}: performance found this."


def test_a_blocking_check_in_an_earlier_phase_makes_it_not_ready_and_names_every_one() -> None:
    text = compose_summary(
        "staging",
        [
            infrastructure(
                check("vpc-connector", Status.FAIL, phase=Phase.infrastructure),
                check("secrets", Status.ERROR, Severity.P1, phase=Phase.infrastructure),
                status=PhaseStatus.failed,
            ),
            restoration(skip_reason="infrastructure validation failed: vpc-connector, secrets"),
        ],
        [check("golden-path")],
    )
    assert text.splitlines() == [
        "**Staging (staging) is NOT ready: Vpc connector, Secrets failed.**",
        "",
        "- Infrastructure validation: failed: Vpc connector FAIL: vpc-connector found this; "
        "Secrets ERROR: secrets found this.",
        "- Service restoration: not run (infrastructure validation failed: vpc-connector, secrets).",
        "- Business validation: passed.",
    ]


def test_a_failed_golden_path_gives_no_time_and_not_ready() -> None:
    text = compose_summary("staging", [], [check("golden-path", Status.FAIL, total_ms=4000)])
    assert text.splitlines()[0] == "**Staging (staging) is NOT ready: Golden path failed.**"
    assert "login to AI response" not in text


@pytest.mark.parametrize("total", ["4000", None])
def test_a_golden_path_time_that_is_not_a_number_is_left_out(total: object) -> None:
    text = compose_summary("staging", [], [check("golden-path", total_ms=total)])
    assert text.splitlines() == [READY, "", "- Business validation: passed."]


def test_more_than_three_problems_are_counted_not_listed() -> None:
    problems = [check(f"check-{n}", Status.WARN, Severity.P2) for n in range(5)]
    line = compose_summary("staging", [], problems).splitlines()[2]
    assert line == (
        "- Business validation: passed with warnings: Check 0 WARN: check-0 found this; Check 1 WARN: check-1 found "
        "this; Check 2 WARN: check-2 found this (+2 more)."
    )
    assert compose_summary("staging", [], problems[:4]).splitlines()[2].endswith("check-2 found this (+1 more).")
    assert compose_summary("staging", [], problems[:3]).splitlines()[2].endswith("check-2 found this.")


def test_the_summary_is_attached_or_the_error_says_where_it_is() -> None:
    attached = decide_summary("text", True, None)
    assert (attached.status, attached.summary, attached.evidence) == (
        Status.PASS,
        "stakeholder summary attached to the run",
        {"summary": "text"},
    )
    failed = decide_summary("text", False, "ConnectError: refused")
    assert (failed.status, failed.summary, failed.evidence) == (
        Status.ERROR,
        "stakeholder summary could not be attached: ConnectError: refused",
        {"summary": "text"},
    )
    assert failed.remediation == (
        "Check the Prefect API is reachable from the run; the summary is in this result's evidence."
    )
