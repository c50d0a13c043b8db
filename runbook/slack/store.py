"""What the Slack reporter remembers between processes: each run's parent message, and each environment's history.

`ParentStore` maps a flow run id to the parent message's channel and ts (plus the last rendered progress), so a
retried flow or a crash hook in a fresh process updates the same message instead of posting a second one.
`RunHistory` keeps, per environment, the last few runs' check statuses and since when each check has been failing;
`compare` (a pure function) tells which failing checks are new, which are still failing and which recovered.

Both are small JSON files written atomically (temporary file + `os.replace`) under one directory:
`$PREFECT_HOME/runbook/` when PREFECT_HOME is set, else `.runbook/` in the working directory.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.results import CheckResult, RunReport, Status

PARENTS_FILE = "slack-parents.json"
MAX_PARENTS = 500  # oldest run ids are dropped beyond this
MAX_RUNS = 10  # run snapshots kept per environment


def default_store_dir() -> Path:
    """`$PREFECT_HOME/runbook/`, or `.runbook/` when PREFECT_HOME is not set."""
    home = os.environ.get("PREFECT_HOME")
    return Path(home).expanduser() / "runbook" if home else Path(".runbook")


def _read_json(path: Path) -> dict[str, Any]:
    """The file's object, or {} when it is missing or unreadable (a corrupt store must never break a run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1, sort_keys=True, default=str)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ParentRecord:
    """Where a run's parent message lives, and the progress it last showed."""

    channel: str
    ts: str
    progress: dict[str, Any]


class ParentStore:
    """run id -> parent message (channel id, ts, last progress) in `<directory>/slack-parents.json`."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.path = Path(directory if directory is not None else default_store_dir()) / PARENTS_FILE

    def get(self, run_id: str) -> ParentRecord | None:
        entry = _read_json(self.path).get(run_id)
        if not isinstance(entry, dict) or not entry.get("channel") or not entry.get("ts"):
            return None
        progress = entry.get("progress")
        return ParentRecord(str(entry["channel"]), str(entry["ts"]), progress if isinstance(progress, dict) else {})

    def put(self, run_id: str, channel: str, ts: str, progress: dict[str, Any]) -> None:
        data = _read_json(self.path)
        data.pop(run_id, None)  # re-inserted last: insertion order is age order
        data[run_id] = {"channel": channel, "ts": ts, "progress": progress, "saved_at": _now().isoformat()}
        for old in list(data)[: max(0, len(data) - MAX_PARENTS)]:
            del data[old]
        _write_json(self.path, data)


@dataclass(frozen=True)
class CheckHistory:
    """One check in one run: its status, and since when it has been failing (None when it is not)."""

    status: str
    failing_since: str | None = None
    failing_runs: int = 0


@dataclass(frozen=True)
class Changes:
    """A run compared with the previous run of the same environment."""

    new: tuple[str, ...]  # check ids failing now that were not failing before
    still_failing: dict[str, CheckHistory]  # check id -> the previous run's entry (failing_since, failing_runs)
    recovered: tuple[str, ...]  # check ids failing before that pass now

    def mark(self, check_id: str) -> str:
        """ "new", or "still failing since 2025-01-02 03:04 UTC (3 runs)"."""
        previous = self.still_failing.get(check_id)
        if previous is None:
            return "new"
        since = _short_time(previous.failing_since) if previous.failing_since else "the previous run"
        return f"still failing since {since} ({previous.failing_runs + 1} runs)"


def _now() -> datetime:
    return datetime.now(UTC)


def _short_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _failing(status: str) -> bool:
    return status in (Status.WARN.value, Status.FAIL.value, Status.ERROR.value)


def compare(previous: dict[str, CheckHistory] | None, current: list[CheckResult]) -> Changes:
    """Which of `current`'s problems are new or still failing, and which previous problems now pass.

    Skipped checks are neither: nothing was learnt about them. With no previous run, every problem is new.
    """
    previous = previous or {}
    new: list[str] = []
    still: dict[str, CheckHistory] = {}
    recovered: list[str] = []
    for check in current:
        before = previous.get(check.id)
        was_failing = before is not None and _failing(before.status)
        if check.problem:
            if was_failing and before is not None:
                still[check.id] = before
            else:
                new.append(check.id)
        elif check.status == Status.PASS and was_failing:
            recovered.append(check.id)
    return Changes(tuple(new), still, tuple(recovered))


def next_snapshot(
    previous: dict[str, CheckHistory] | None, current: list[CheckResult], at: datetime
) -> dict[str, CheckHistory]:
    """This run's entries: failing_since carried over while a check keeps failing; unseen/skipped checks kept."""
    snapshot = dict(previous or {})
    for check in current:
        before = snapshot.get(check.id)
        if check.status == Status.SKIPPED:
            continue
        if check.problem:
            if before is not None and _failing(before.status):
                snapshot[check.id] = CheckHistory(check.status.value, before.failing_since, before.failing_runs + 1)
            else:
                snapshot[check.id] = CheckHistory(check.status.value, at.isoformat(), 1)
        else:
            snapshot[check.id] = CheckHistory(check.status.value)
    return snapshot


class RunHistory:
    """Per environment, the last runs' check entries in `<directory>/history-<environment>.json`.

    Format: {"environment": "staging", "runs": [{"run_id", "finished_at", "verdict",
    "checks": {check id: {"status", "failing_since", "failing_runs"}}}, ...]} (oldest first, at most 10).
    """

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory if directory is not None else default_store_dir())

    def _path(self, environment: str) -> Path:
        return self.directory / f"history-{environment}.json"

    def _runs(self, environment: str) -> list[dict[str, Any]]:
        runs = _read_json(self._path(environment)).get("runs")
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []

    def previous(self, environment: str, run_id: str) -> dict[str, CheckHistory] | None:
        """The latest recorded run of `environment` other than `run_id` (a retried run compares with the same one)."""
        for run in reversed(self._runs(environment)):
            if run.get("run_id") != run_id and isinstance(run.get("checks"), dict):
                return _entries(run["checks"])
        return None

    def record(self, report: RunReport, run_id: str) -> None:
        checks = [c for p in report.phases for c in p.checks]
        snapshot = next_snapshot(self.previous(report.environment, run_id), checks, report.started_at)
        runs = [r for r in self._runs(report.environment) if r.get("run_id") != run_id]
        runs.append(
            {
                "run_id": run_id,
                "finished_at": _now().isoformat(),
                "verdict": report.verdict.value,
                "checks": {k: vars(v) for k, v in snapshot.items()},
            }
        )
        _write_json(self._path(report.environment), {"environment": report.environment, "runs": runs[-MAX_RUNS:]})


def _entries(raw: dict[str, Any]) -> dict[str, CheckHistory]:
    entries = {}
    for check_id, value in raw.items():
        if isinstance(value, dict) and isinstance(value.get("status"), str):
            since = value.get("failing_since")
            runs = value.get("failing_runs")
            entries[check_id] = CheckHistory(
                value["status"], since if isinstance(since, str) else None, runs if isinstance(runs, int) else 0
            )
    return entries
