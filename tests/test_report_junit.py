"""JUnit XML agrees with the exit code: CI shows red exactly when `runbook run` exits non-zero."""

import itertools
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from runbook.report import junit_xml
from runbook.results import CheckResult, Phase, PhaseResult, RunReport, Severity, Status, Verdict, gate


def check(check_id: str, severity: Severity, status: Status) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        phase=Phase.infrastructure,
        severity=severity,
        status=status,
        summary=f"{check_id} is {status.value}",
        evidence={"seen": 1},
        remediation="gcloud fix it",
    )


def report(*checks: CheckResult) -> RunReport:
    phase = PhaseResult(phase=Phase.infrastructure, status=gate(checks), checks=checks)
    return RunReport(environment="local", started_at=datetime(2026, 12, 1, tzinfo=UTC), phases=(phase,))


def parsed(run: RunReport) -> ET.Element:
    return ET.fromstring(junit_xml(run).split("?>", 1)[1])


def red(root: ET.Element) -> bool:
    """What CI shows as a broken build: any failure or error element, or a suite counting one."""
    elements = root.findall(".//failure") + root.findall(".//error")
    counted = any(int(s.get("failures", "0")) or int(s.get("errors", "0")) for s in root.iter("testsuite"))
    return bool(elements) or counted


def test_a_p2_fail_passes_with_warnings_and_is_not_a_junit_failure() -> None:
    run = report(check("vpc-connector", Severity.P0, Status.PASS), check("monitoring", Severity.P2, Status.FAIL))
    assert run.verdict == Verdict.passed_with_warnings  # runbook run exits 0
    root = parsed(run)
    assert not red(root)
    (case,) = root.findall(".//testcase[@name='monitoring']")
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "P2 FAIL (does not fail the run): monitoring is FAIL"
    assert "remediation: gcloud fix it" in (case.findtext("system-out") or "")
    assert root.find("testsuite").get("skipped") == "1"  # type: ignore[union-attr]


def test_junit_is_red_exactly_when_the_run_exits_non_zero() -> None:
    for severity, status in itertools.product(Severity, Status):
        run = report(check("a", Severity.P0, Status.PASS), check("b", severity, status))
        exits_non_zero = run.verdict == Verdict.failed
        assert red(parsed(run)) == exits_non_zero, (severity, status)
