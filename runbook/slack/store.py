"""What the Slack reporter remembers between runs and processes: each run's parent message, each environment's history.

Both live on the Prefect server (Prefect Variables, `runbook.server_values`), never on the disk of the worker that ran
the flow: a retry, a crash notice or another process (any worker, `runbook serve`, the CLI against that server, the
Slack bot) finds the same parent message and the same history; deleting PREFECT_HOME changes nothing a user sees.

- `ParentStore`: `runbook-parent-<flow run id>` -> the parent message's channel and ts and the progress it last showed,
  so a retried flow or a crash notice updates that message instead of posting a second one. The newest `MAX_PARENTS`
  are kept (tag `runbook-parent`); older ones are pruned when a run posts its parent.
- `RunHistory`: `runbook-history-<environment>` -> per check of the last run its status, since when it has been
  failing and for how many runs (compact JSON, with the run before it so that a retried run does not compare with
  itself). Read once at run start, written at run end.
- `compare` and `next_snapshot` are pure: which failing checks are new, still failing or recovered.

Every read and write is bounded; a failure raises `ValuesUnavailable` and the reporter logs it, lists it in the
report's notifications and goes on: the run's verdict never depends on this memory.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.results import CheckResult, RunReport, Status
from runbook.server_values import MAX_VALUE_CHARS, PrefectValues, ValueStore, json_size

PARENT_PREFIX = "runbook-parent-"
PARENT_TAG = "runbook-parent"
HISTORY_PREFIX = "runbook-history-"
MAX_PARENTS = 200  # parent messages remembered (newest first): retries and crash notices come within days
HISTORY_FORMAT = 1


@dataclass(frozen=True)
class ParentRecord:
    """Where a run's parent message lives (empty channel and ts: a webhook run, which has none), and its progress."""

    channel: str
    ts: str
    progress: dict[str, Any]


def _parent_value(channel: str, ts: str, progress: dict[str, Any]) -> dict[str, Any]:
    """The stored value, within Prefect's size limit: the glance and then the phase details go first when too long."""
    kept: dict[str, Any] = dict(progress)
    if json_size({"progress": kept}) > MAX_VALUE_CHARS:
        kept["glance"] = ""  # rebuilt from the report at the run's end anyway
    if json_size({"progress": kept}) > MAX_VALUE_CHARS:
        phases = kept.get("phases")
        lines = phases.items() if isinstance(phases, dict) else []
        kept["phases"] = {name: {**line, "detail": ""} for name, line in lines if isinstance(line, dict)}
        kept["outcome_detail"] = ""
    if json_size({"progress": kept}) > MAX_VALUE_CHARS:
        kept = {}
    return {"channel": channel, "ts": ts, "progress": kept}


class ParentStore:
    """run id -> parent message (channel, ts, last progress), as Prefect Variables `runbook-parent-<run id>`."""

    def __init__(self, values: ValueStore | None = None) -> None:
        self.values: ValueStore = values if values is not None else PrefectValues()
        self._pruned = False

    async def get(self, run_id: str) -> ParentRecord | None:
        entry = await self.values.read(PARENT_PREFIX + run_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("channel"), str):
            return None
        progress = entry.get("progress")
        ts = str(entry.get("ts") or "")
        return ParentRecord(entry["channel"], ts, progress if isinstance(progress, dict) else {})

    async def put(self, run_id: str, channel: str, ts: str, progress: dict[str, Any]) -> None:
        await self.values.write(PARENT_PREFIX + run_id, _parent_value(channel, ts, progress), tags=[PARENT_TAG])
        if not self._pruned:  # once per run: the oldest beyond MAX_PARENTS go
            self._pruned = True
            for name in await self.values.names_beyond(PARENT_TAG, MAX_PARENTS):
                await self.values.delete(name)


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
    """Per environment, the last run's check entries (and the run's before it): `runbook-history-<environment>`.

    Value: {"format": 1, "environment": "staging", "last": RUN, "before": RUN | null}, RUN = {"run_id",
    "finished_at", "verdict", "checks": {check id: [status] | [status, failing since, failing runs]}}.
    """

    def __init__(self, values: ValueStore | None = None) -> None:
        self.values: ValueStore = values if values is not None else PrefectValues()

    async def _read(self, environment: str) -> dict[str, Any]:
        data = await self.values.read(HISTORY_PREFIX + environment)
        return data if isinstance(data, dict) and data.get("format") == HISTORY_FORMAT else {}

    async def previous(self, environment: str, run_id: str) -> dict[str, CheckHistory] | None:
        """The latest recorded run of `environment` other than `run_id` (a retried run compares with the same one)."""
        return _previous(await self._read(environment), run_id)

    async def record(self, report: RunReport, run_id: str) -> None:
        data = await self._read(report.environment)
        checks = [c for p in report.phases for c in p.checks]
        snapshot = next_snapshot(_previous(data, run_id), checks, report.started_at)
        entries = {check_id: _compact(entry) for check_id, entry in sorted(snapshot.items())}
        run: dict[str, Any] = {
            "run_id": run_id,
            "finished_at": _now().isoformat(),
            "verdict": report.verdict.value,
            "checks": entries,
        }
        last = data.get("last") if isinstance(data.get("last"), dict) else None
        before = data.get("before") if last is not None and last.get("run_id") == run_id else last
        value: dict[str, Any] = {
            "format": HISTORY_FORMAT,
            "environment": report.environment,
            "last": run,
            "before": before,
        }
        if json_size(value) > MAX_VALUE_CHARS:  # a retried run then compares with nothing older: acceptable
            value["before"] = None
        if json_size(value) > MAX_VALUE_CHARS:  # passing checks carry nothing compare needs
            run["checks"] = {k: v for k, v in entries.items() if v[0] != Status.PASS.value}
        while json_size(value) > MAX_VALUE_CHARS and run["checks"]:  # far more checks than the plan has
            run["checks"].pop(next(reversed(run["checks"])))
        await self.values.write(HISTORY_PREFIX + report.environment, value)


def _previous(data: dict[str, Any], run_id: str) -> dict[str, CheckHistory] | None:
    for key in ("last", "before"):
        run = data.get(key)
        if isinstance(run, dict) and run.get("run_id") != run_id and isinstance(run.get("checks"), dict):
            return _entries(run["checks"])
    return None


def _compact(entry: CheckHistory) -> list[Any]:
    if entry.failing_since is None and not entry.failing_runs:
        return [entry.status]
    return [entry.status, entry.failing_since, entry.failing_runs]


def _entries(raw: dict[str, Any]) -> dict[str, CheckHistory]:
    entries = {}
    for check_id, value in raw.items():
        if not isinstance(value, list) or not value or not isinstance(value[0], str):
            continue
        since = value[1] if len(value) > 1 and isinstance(value[1], str) else None
        runs = value[2] if len(value) > 2 and isinstance(value[2], int) else 0
        entries[str(check_id)] = CheckHistory(value[0], since, runs)
    return entries
