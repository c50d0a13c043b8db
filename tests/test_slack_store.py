"""The reporter's memory: parent messages by run id, and what changed since the previous run of an environment."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status
from runbook.slack.store import CheckHistory, ParentStore, RunHistory, compare, default_store_dir, next_snapshot

T0 = datetime(2025, 9, 18, 2, 0, tzinfo=UTC)


def check(check_id: str, status: Status) -> CheckResult:
    return CheckResult(
        id=check_id, title=check_id, phase=Phase.infrastructure, severity=Severity.P0, status=status, summary="s"
    )


def report(at: datetime, *checks: CheckResult) -> RunReport:
    phase = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.failed, checks=checks)
    return RunReport(environment="staging", started_at=at, phases=(phase,))


def test_no_previous_run_makes_every_problem_new() -> None:
    changes = compare(None, [check("vpc-connector", Status.FAIL), check("secrets", Status.PASS)])
    assert changes.new == ("vpc-connector",) and changes.still_failing == {} and changes.recovered == ()
    assert changes.mark("vpc-connector") == "new"


def test_still_failing_keeps_its_first_failure_time_and_recovered_checks_are_listed() -> None:
    first = next_snapshot(None, [check("vpc-connector", Status.FAIL), check("secrets", Status.WARN)], T0)
    assert first["vpc-connector"] == CheckHistory("FAIL", T0.isoformat(), 1)
    later = T0 + timedelta(days=1)
    current = [check("vpc-connector", Status.ERROR), check("secrets", Status.PASS), check("monitoring", Status.WARN)]
    changes = compare(first, current)
    assert changes.new == ("monitoring",)
    assert changes.recovered == ("secrets",)
    assert changes.mark("vpc-connector") == "still failing since 2025-09-18 02:00 UTC (2 runs)"
    second = next_snapshot(first, current, later)
    assert second["vpc-connector"] == CheckHistory("ERROR", T0.isoformat(), 2)
    assert second["secrets"] == CheckHistory("PASS")
    assert second["monitoring"].failing_since == later.isoformat()


def test_skipped_checks_neither_recover_nor_lose_their_history() -> None:
    first = next_snapshot(None, [check("golden-path", Status.FAIL)], T0)
    changes = compare(first, [check("golden-path", Status.SKIPPED)])
    assert changes.recovered == () and changes.new == ()
    assert next_snapshot(first, [check("golden-path", Status.SKIPPED)], T0 + timedelta(hours=1)) == first


def test_history_compares_with_the_previous_run_and_a_retried_run_does_not_compare_with_itself(tmp_path: Path) -> None:
    history = RunHistory(tmp_path)
    assert history.previous("staging", "run-1") is None
    history.record(report(T0, check("vpc-connector", Status.FAIL)), "run-1")
    history.record(report(T0 + timedelta(days=1), check("vpc-connector", Status.FAIL)), "run-2")
    history.record(report(T0 + timedelta(days=1), check("vpc-connector", Status.FAIL)), "run-2")  # retried flow
    previous = history.previous("staging", "run-2")
    assert previous is not None and previous["vpc-connector"] == CheckHistory("FAIL", T0.isoformat(), 1)
    latest = history.previous("staging", "run-3")
    assert latest is not None and latest["vpc-connector"] == CheckHistory("FAIL", T0.isoformat(), 2)
    data = json.loads((tmp_path / "history-staging.json").read_text())
    assert [r["run_id"] for r in data["runs"]] == ["run-1", "run-2"]
    assert history.previous("other-env", "run-3") is None


def test_parent_store_round_trips_and_survives_a_corrupt_file(tmp_path: Path) -> None:
    store = ParentStore(tmp_path)
    assert store.get("run-1") is None
    store.put("run-1", "C0STGDEPLOY", "1732900000.000100", {"environment": "staging"})
    record = ParentStore(tmp_path).get("run-1")
    assert record is not None and (record.channel, record.ts) == ("C0STGDEPLOY", "1732900000.000100")
    assert record.progress == {"environment": "staging"}
    assert [p.name for p in tmp_path.iterdir()] == ["slack-parents.json"]  # no temporary files left behind
    (tmp_path / "slack-parents.json").write_text("{not json")
    assert store.get("run-1") is None
    store.put("run-2", "C1", "2.0", {})
    assert store.get("run-2") is not None


def test_default_directory_is_under_prefect_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", "/tmp/prefect-home")
    assert default_store_dir() == Path("/tmp/prefect-home/runbook")
    monkeypatch.delenv("PREFECT_HOME")
    assert default_store_dir() == Path(".runbook")
