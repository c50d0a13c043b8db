"""A check's task run state says its outcome; its log lines tell the story in the UI and stay off the CLI console."""

import logging

import pytest

from runbook.check_task import RUN_STORY, _NotTheRunsStory, outcome_line, outcome_state
from runbook.results import CheckResult, Phase, Severity, Status


def result(status: Status, remediation: str = "gcloud fix it\nthen rerun") -> CheckResult:
    return CheckResult(
        id="vpc-connector",
        title="VPC connector",
        phase=Phase.infrastructure,
        severity=Severity.P0,
        status=status,
        summary=f"connector is {status.value}",
        remediation=remediation,
    )


@pytest.mark.parametrize(
    ("status", "state_type", "name"),
    [
        (Status.PASS, "COMPLETED", "Completed"),
        (Status.WARN, "COMPLETED", "Warning"),
        (Status.SKIPPED, "COMPLETED", "Skipped"),
        (Status.FAIL, "FAILED", "Failed"),
        (Status.ERROR, "FAILED", "Error"),
    ],
)
def test_each_status_ends_the_task_run_in_its_state_with_the_summary_and_the_result(
    status: Status, state_type: str, name: str
) -> None:
    state = outcome_state(result(status))
    assert (state.type.value, state.name, state.message) == (state_type, name, f"connector is {status.value}")
    assert state.result(raise_on_failure=False) == result(status)  # the phase flow still reads every result


def test_outcome_line_gives_the_fix_first_line_for_problems_only() -> None:
    assert outcome_line(result(Status.FAIL)) == "FAIL vpc-connector (P0): connector is FAIL | fix: gcloud fix it"
    assert outcome_line(result(Status.PASS)) == "PASS vpc-connector (P0): connector is PASS"
    assert outcome_line(result(Status.WARN, remediation="")) == "WARN vpc-connector (P0): connector is WARN"


def test_the_cli_console_leaves_out_the_runs_story_and_check_task_lines_but_keeps_the_rest() -> None:
    console_filter = _NotTheRunsStory()

    def record(name: str, level: int, story: bool = False) -> logging.LogRecord:
        made = logging.LogRecord(name, level, __file__, 1, "message", None, None)
        if story:
            made.__dict__.update(RUN_STORY)
        return made

    assert not console_filter.filter(record("prefect.flow_runs", logging.ERROR, story=True))
    assert not console_filter.filter(record("prefect.task_runs", logging.ERROR))
    assert console_filter.filter(record("prefect.flow_runs", logging.ERROR))  # "Finished in state Failed(...)"
    assert console_filter.filter(record("prefect.task_runs", logging.CRITICAL))
    assert console_filter.filter(record("runbook.slack.reporter", logging.WARNING))
