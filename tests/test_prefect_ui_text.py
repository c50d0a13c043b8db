"""Issue 18, what people read: verdicts in words (never `passed_with_warnings`) and an approved redeploy's decision,
approver and note in the `<env>-handoff-report` markdown, as the checks table and Slack have them.

Pure rendering; the same text on a real Prefect server (artifacts, log lines, run names) is in
tests/test_prefect_ui.py.
"""

from datetime import UTC, datetime

from rich.console import Console

from runbook.report import print_report, status_matrix_markdown
from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status


def check(check_id: str, status: Status, severity: Severity = Severity.P0, **evidence: object) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id.replace("-", " ").capitalize(),
        phase=Phase.restoration,
        severity=severity,
        status=status,
        summary=f"{check_id} {status.value}",
        evidence=dict(evidence),
    )


def report(*checks: CheckResult) -> RunReport:
    statuses = {c.status for c in checks}
    status = PhaseStatus.passed_with_warnings if Status.WARN in statuses else PhaseStatus.passed
    phase = PhaseResult(phase=Phase.restoration, status=status, checks=checks)
    return RunReport(environment="local", started_at=datetime(2026, 12, 1, tzinfo=UTC), phases=(phase,))


def test_a_run_with_warnings_says_it_in_words_in_the_markdown_and_the_terminal() -> None:
    run = report(check("cloud-run-ready", Status.PASS), check("post-restore-monitoring", Status.WARN, Severity.P2))
    markdown = status_matrix_markdown(run)
    assert markdown.startswith("# Staging handoff: local: passed with warnings\n")
    assert "passed_with_warnings" not in markdown
    console = Console(record=True, width=200)
    print_report(run, console)
    text = console.export_text()
    assert "verdict: passed with warnings (local" in text and "passed_with_warnings" not in text


def test_an_approved_redeploys_decision_approver_and_note_are_in_the_report_markdown() -> None:
    approval = {"decision": "approved in the Prefect UI", "approved_by": "alice", "note": "roll back | the bad\nconfig"}
    run = report(check("redeploy", Status.PASS, approval=approval), check("cloud-run-ready", Status.PASS))
    markdown = status_matrix_markdown(run)
    assert (
        "- **Redeploy** (`redeploy`): approved in the Prefect UI by alice; note: roll back \\| the bad config"
        in markdown.splitlines()
    )


def test_a_rejected_redeploy_says_who_rejected_it_and_why() -> None:
    approval = {
        "decision": "rejected in Slack",
        "approved_by": "<@U0SIMLEAD01>",
        "note": "not now",
        "status": "rejected",
    }
    run = report(check("redeploy", Status.FAIL, approval=approval))
    assert "- **Redeploy** (`redeploy`): rejected in Slack by <@U0SIMLEAD01>; note: not now" in status_matrix_markdown(
        run
    )
