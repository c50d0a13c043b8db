"""The gate and the report formats."""

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from runbook.phases import skipped_phase
from runbook.report import junit_xml, status_matrix_markdown
from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status, gate


def result(check_id: str, severity: Severity, status: Status) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id,
        phase=Phase.infrastructure,
        severity=severity,
        status=status,
        summary=f"{check_id} is {status}",
        remediation="gcloud fix" if status != Status.PASS else "",
    )


def test_gate_opens_when_all_pass() -> None:
    assert gate([result("a", Severity.P0, Status.PASS), result("b", Severity.P2, Status.PASS)]) == PhaseStatus.passed


def test_p0_or_p1_fail_or_error_closes_the_gate() -> None:
    for severity in (Severity.P0, Severity.P1):
        for status in (Status.FAIL, Status.ERROR):
            assert gate([result("a", severity, status)]) == PhaseStatus.failed


def test_p2_problems_and_warnings_pass_with_warnings() -> None:
    assert gate([result("m", Severity.P2, Status.FAIL)]) == PhaseStatus.passed_with_warnings
    assert gate([result("v", Severity.P0, Status.WARN)]) == PhaseStatus.passed_with_warnings
    assert gate([result("v", Severity.P0, Status.SKIPPED)]) == PhaseStatus.passed


def report_with_failure() -> RunReport:
    failed = PhaseResult(
        phase=Phase.infrastructure,
        status=PhaseStatus.failed,
        checks=(result("vpc-connector", Severity.P0, Status.FAIL), result("secrets", Severity.P1, Status.PASS)),
    )
    return RunReport(
        environment="local",
        started_at=datetime(2026, 11, 29, tzinfo=UTC),
        phases=(failed, skipped_phase(Phase.restoration, failed.failure_reason())),
    )


def test_failure_reason_names_the_blocking_checks_and_later_phases_are_skipped_with_it() -> None:
    report = report_with_failure()
    assert report.phases[0].failure_reason() == "infrastructure validation failed: vpc-connector"
    assert report.phases[1].skip_reason == "infrastructure validation failed: vpc-connector"
    assert all(c.status == Status.SKIPPED for c in report.phases[1].checks)
    assert report.verdict.value == "failed"
    assert report.to_json()["phases"][1]["status"] == "skipped"


def test_markdown_matrix_has_component_status_performance_readiness_and_the_fix() -> None:
    text = status_matrix_markdown(report_with_failure())
    assert "| component | status | performance | readiness |" in text
    assert "| vpc-connector (`vpc-connector`, P0) | ❌ FAIL |" in text and "not ready" in text
    assert "fix: `gcloud fix`" in text


def test_junit_has_one_testcase_per_check_with_failures_and_skips() -> None:
    root = ET.fromstring(junit_xml(report_with_failure()).split("?>", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == 2 + len(report_with_failure().phases[1].checks)
    vpc = next(c for c in cases if c.get("name") == "vpc-connector")
    assert vpc.find("failure") is not None and "gcloud fix" in (vpc.find("failure").text or "")
    assert root.find("testsuite[@name='restoration']/testcase/skipped") is not None
