"""The reporter's memory on the Prefect server: parent messages by run id, and each environment's history."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status
from runbook.server_values import MAX_VALUE_CHARS, PrefectValues, ValuesUnavailable, json_size
from runbook.slack import store
from runbook.slack.store import CheckHistory, ParentStore, RunHistory, compare, next_snapshot
from tests.memory_values import MemoryValues

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


async def test_history_compares_with_the_previous_run_and_a_retried_run_does_not_compare_with_itself() -> None:
    values = MemoryValues()
    history = RunHistory(values)
    assert await history.previous("staging", "run-1") is None
    await history.record(report(T0, check("vpc-connector", Status.FAIL)), "run-1")
    await history.record(report(T0 + timedelta(days=1), check("vpc-connector", Status.FAIL)), "run-2")
    await history.record(report(T0 + timedelta(days=1), check("vpc-connector", Status.FAIL)), "run-2")  # retried
    previous = await history.previous("staging", "run-2")
    assert previous is not None and previous["vpc-connector"] == CheckHistory("FAIL", T0.isoformat(), 1)
    latest = await history.previous("staging", "run-3")
    assert latest is not None and latest["vpc-connector"] == CheckHistory("FAIL", T0.isoformat(), 2)
    stored = values.data["runbook-history-staging"]
    assert (stored["last"]["run_id"], stored["before"]["run_id"]) == ("run-2", "run-1")
    assert stored["last"]["checks"] == {"vpc-connector": ["FAIL", T0.isoformat(), 2]}  # compact: one list per check
    assert await history.previous("other-env", "run-3") is None


async def test_history_stays_within_prefects_size_limit_for_many_checks() -> None:
    values = MemoryValues()
    history = RunHistory(values)
    many = [check(f"check-{n:03d}-with-a-long-name", Status.FAIL if n % 5 else Status.PASS) for n in range(120)]
    await history.record(report(T0, *many), "run-1")
    await history.record(report(T0 + timedelta(days=1), *many), "run-2")
    assert json_size(values.data["runbook-history-staging"]) <= MAX_VALUE_CHARS
    previous = await history.previous("staging", "run-3")
    assert previous is not None and previous["check-001-with-a-long-name"].failing_runs == 2


async def test_parent_store_round_trips_and_keeps_the_newest_parents_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_PARENTS", 3)
    values = MemoryValues()
    assert await ParentStore(values).get("run-1") is None
    await ParentStore(values).put("run-1", "C0STGDEPLOY", "1732900000.000100", {"environment": "staging"})
    record = await ParentStore(values).get("run-1")
    assert record is not None and (record.channel, record.ts) == ("C0STGDEPLOY", "1732900000.000100")
    assert record.progress == {"environment": "staging"}
    for n in range(2, 6):
        await ParentStore(values).put(f"run-{n}", "C1", f"{n}.0", {})
    assert sorted(values.data) == ["runbook-parent-run-3", "runbook-parent-run-4", "runbook-parent-run-5"]
    values.data["runbook-parent-run-5"] = "not a record"
    assert await ParentStore(values).get("run-5") is None


async def test_a_parent_with_a_huge_progress_is_stored_within_the_limit() -> None:
    values = MemoryValues()
    progress = {"environment": "staging", "glance": "x" * 6000, "phases": {"infrastructure": {"detail": "y" * 300}}}
    await ParentStore(values).put("run-1", "C1", "1.0", progress)
    record = await ParentStore(values).get("run-1")
    assert record is not None and record.ts == "1.0" and record.progress["glance"] == ""
    assert json_size(values.data["runbook-parent-run-1"]) <= MAX_VALUE_CHARS


async def test_a_server_that_does_not_answer_raises_values_unavailable_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """No server at PREFECT_API_URL: every call ends within its bound, as ValuesUnavailable (never a hang)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.support import refusing_port

    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{refusing_port()}/api"}):
        started = time.monotonic()
        with pytest.raises(ValuesUnavailable):
            await RunHistory(PrefectValues(timeout_s=2.0)).previous("staging", "run-1")
        with pytest.raises(ValuesUnavailable):
            await ParentStore(PrefectValues(timeout_s=2.0)).put("run-1", "C1", "1.0", {})
    assert time.monotonic() - started < 5.0


@pytest.mark.usefixtures("prefect_harness")
async def test_history_and_parents_live_on_the_prefect_server_not_under_prefect_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers with their own PREFECT_HOME (the second a fresh one) see the same history and parent message."""
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    environment = f"store-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "worker-a"))
    first = report(T0, check("vpc-connector", Status.FAIL))
    await RunHistory().record(first.model_copy(update={"environment": environment}), run_a)
    await ParentStore().put(run_a, "C0STGDEPLOY", "1.5", {"environment": environment})
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "worker-b"))  # another machine, nothing on its disk
    started = time.perf_counter()
    previous = await RunHistory().previous(environment, run_b)
    read_s = time.perf_counter() - started
    assert previous == {"vpc-connector": CheckHistory("FAIL", T0.isoformat(), 1)}
    record = await ParentStore().get(run_a)
    assert record is not None and (record.channel, record.ts) == ("C0STGDEPLOY", "1.5")
    assert not (tmp_path / "worker-a").exists() and not (tmp_path / "worker-b").exists()
    assert read_s < 0.2, f"reading the history took {read_s:.3f} s"
