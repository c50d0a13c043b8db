"""Issue 18, the command line: every argument of `runbook run` is checked before anything starts (exit 2, one line),
the report files are tried before the run, and a report that still cannot be written afterwards is one line with
its own exit status (3: the verdict was reached, the file was not written).

In-process through the CLI; Prefect is never started here: `prepare_server` is a tripwire, and the run itself is
replaced by a finished outcome where a test needs one.
"""

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from runbook.app import cli
from runbook.app.arguments import EXIT_NOT_WRITTEN, check_output_paths
from runbook.parameters import HandoffParameters
from runbook.results import Phase, PhaseResult, PhaseStatus, RunReport

runner = CliRunner()


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Starting or finding a Prefect server is recorded and refused: a refused argument must never get that far."""
    started: list[str] = []

    def refuse() -> None:
        started.append("prepare_server")
        raise AssertionError("a Prefect server was asked for")

    monkeypatch.setattr("runbook.app.prefect_server.prepare_server", refuse)
    monkeypatch.setattr(cli, "_import_flows_in_background", lambda: started.append("import flows"))
    return started


def run(*args: str) -> Any:
    return runner.invoke(cli.app, ["run", "--env", "local", "--phase", "infrastructure", *args])


def one_line(result: Any) -> str:
    lines = result.output.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return str(lines[0])


# --- --report and --junit, before the run ------------------------------------------------------------------------


def test_a_report_path_that_is_a_directory_is_refused_before_anything_starts(
    tmp_path: Path, nothing_starts: list[str]
) -> None:
    line = one_line(run("--report", str(tmp_path)))
    assert line == f"--report {tmp_path}: is a directory; give a file path such as report.json"
    assert nothing_starts == []


def test_a_report_in_a_missing_folder_is_refused(tmp_path: Path, nothing_starts: list[str]) -> None:
    line = one_line(run("--junit", str(tmp_path / "no-such" / "junit.xml")))
    assert line == f"--junit {tmp_path / 'no-such' / 'junit.xml'}: its folder {tmp_path / 'no-such'} does not exist"
    assert nothing_starts == []


def test_dev_full_is_refused_as_a_device(nothing_starts: list[str]) -> None:
    line = one_line(run("--report", "/dev/full"))
    assert line == "--report /dev/full: is a device, not a file (what is written there is lost); give a file path"
    assert nothing_starts == []


def test_a_file_that_cannot_be_written_is_refused(tmp_path: Path, nothing_starts: list[str]) -> None:
    line = one_line(run("--report", "/proc/version"))  # read-only for everyone, root included
    assert line.startswith("--report /proc/version: cannot be written (")
    if os.geteuid() != 0:  # root writes through file modes
        locked = tmp_path / "locked.json"
        locked.write_text("{}")
        locked.chmod(0o444)
        assert one_line(run("--report", str(locked))) == f"--report {locked}: cannot be written (Permission denied)"
    assert nothing_starts == []


def test_the_same_file_for_both_reports_is_refused(
    tmp_path: Path, nothing_starts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_line(run("--report", "out.xml", "--junit", str(tmp_path / "out.xml")))
    assert line == "--report and --junit both name out.xml: the JSON report and the JUnit XML need a file each"
    (tmp_path / "real.xml").write_text("")
    (tmp_path / "link.xml").symlink_to(tmp_path / "real.xml")
    assert "both name" in one_line(run("--report", "real.xml", "--junit", "link.xml"))
    assert nothing_starts == []


def test_usable_paths_pass_and_the_check_leaves_nothing_behind(tmp_path: Path) -> None:
    fresh = tmp_path / "report.json"
    existing = tmp_path / "junit.xml"
    existing.write_text("old")
    check_output_paths(fresh, existing)
    check_output_paths(Path(os.devnull), None)
    assert not fresh.exists() and existing.read_text() == "old"


# --- every other argument ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--trigger", "x" * 121], "--trigger: expected at most 120 characters, found 121"),
        (["--trigger", ""], "--trigger: expected some text, found none"),
        (
            ["--trigger", "cli\n:white_check_mark: Staging is healthy"],
            "--trigger: expected text without control characters or bidirectional marks (NUL, tabs, line breaks, "
            "U+202E...), found U+000A (a line feed) at character 4",
        ),
        (["--trigger", "ops\u202elanimret"], "found U+202E (right-to-left override) at character 4"),
        (["--approval-timeout", "10"], "--approval-timeout: expected at least 30, found 10"),
        (["--approval-timeout", "100000"], "--approval-timeout: expected at most 86400, found 100000"),
    ],
)
def test_every_argument_is_checked_before_anything_starts(
    args: list[str], said: str, nothing_starts: list[str]
) -> None:
    assert said in one_line(run(*args))
    assert nothing_starts == []


def test_a_line_break_in_the_trigger_is_refused_by_the_flows_parameters_too() -> None:
    """The UI's form and `prefect deployment run -p trigger=...` go through the same model: no forged Slack line."""
    with pytest.raises(ValidationError, match="U\\+000A"):
        HandoffParameters(trigger="manual\n*Approved by the CTO*")
    with pytest.raises(ValidationError, match="U\\+202E"):
        HandoffParameters(slack_channel="#ops\u202e")


# --- a report that cannot be written after the verdict ------------------------------------------------------------


class _Server:
    api_url, owned, source, pid = "http://127.0.0.1:1/api", False, "test", None

    def stop(self) -> None:
        pass


def test_a_report_that_cannot_be_written_after_the_run_is_one_line_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbook.app.execute import RunOutcome

    folder = tmp_path / "out"
    folder.mkdir()
    report, junit = folder / "report.json", tmp_path / "junit.xml"

    def finished_run(*args: object, **kwargs: object) -> RunOutcome:
        folder.rmdir()  # the folder went away while the run ran
        phase = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.passed)
        return RunOutcome(report=RunReport(environment="local", started_at=datetime.now(UTC), phases=(phase,)))

    monkeypatch.setattr("runbook.app.prefect_server.prepare_server", _Server)
    monkeypatch.setattr(cli, "_import_flows_in_background", lambda: None)
    monkeypatch.setattr(cli, "_run_flow", finished_run)
    monkeypatch.setattr("runbook.check_task.story_off_the_console", lambda: None)
    result = run("--report", str(report), "--junit", str(junit))
    assert result.exit_code == EXIT_NOT_WRITTEN == 3, result.output
    assert result.output.splitlines() == [
        f"--report {report} not written (No such file or directory); the run's verdict: passed",
        f"JUnit XML: {junit}",
    ] or result.output.splitlines() == [
        f"JUnit XML: {junit}",
        f"--report {report} not written (No such file or directory); the run's verdict: passed",
    ]
    assert junit.read_text().startswith("<?xml")
