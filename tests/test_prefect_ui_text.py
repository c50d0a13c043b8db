"""Issue 18, what people read: verdicts in words (never `passed_with_warnings`) and an approved redeploy's decision,
approver and note in the `<env>-handoff-report` markdown, as the checks table and Slack have them.

Pure rendering; the same text on a real Prefect server (artifacts, log lines, run names) is in
tests/test_prefect_ui.py.
"""

from datetime import UTC, datetime

import pytest
from rich.console import Console

from runbook.app.serve import deployment_specs
from runbook.config.files import PROJECT_ROOT
from runbook.parameters import generated_name
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


@pytest.mark.parametrize("file", ["prefect.yaml", "prefect-cloud-run.yaml"])
def test_a_schedules_timezone_is_said_in_the_deployments_description(file: str) -> None:
    """The UI's deployment page shows the description; it does not show a cron schedule's timezone everywhere."""
    scheduled = [spec for spec in deployment_specs(PROJECT_ROOT / "deployments" / file) if spec.schedules]
    assert scheduled
    for spec in scheduled:
        for schedule in spec.schedules:
            assert f"02:00 {schedule['timezone']}" in spec.description, spec.description


def test_a_name_prefect_made_up_is_told_from_one_somebody_typed() -> None:
    from prefect.utilities.names import generate_slug

    assert all(generated_name(generate_slug(2)) for _ in range(2000))
    for typed in ("hotfix-check", "rollback after INC-1278", "staging · manual · 2026-12-01 10:00 UTC", "Brave-Lion"):
        assert not generated_name(typed), typed
