"""The run's parent message: one per run, updated in place as phases start and finish, then the verdict.

`Progress` is what it shows (JSON-able, so a retried flow or a crash hook in a new process resumes it); a failed run
adds the glance (what broke, the fix, who is on it) and a "Rerun" button the Slack bot answers. Pure, no network.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from runbook.report import STATUS_ICON
from runbook.results import PHASE_TITLES, Phase, PhaseResult, PhaseStatus, RunReport
from runbook.slack.block_kit import (
    FALLBACK_CHARS,
    SlackMessage,
    clip,
    context_block,
    duration_text,
    escape,
    header_block,
    section_block,
)

TRIGGER_WORDS = {"nightly": "nightly", "manual": "manual", "cli": "CLI"}


class PhaseState(StrEnum):
    """What the parent message shows for a phase."""

    queued = "queued"
    running = "running"
    passed = "passed"
    passed_with_warnings = "passed with warnings"
    failed = "failed"
    skipped = "skipped"
    interrupted = "interrupted"


PHASE_ICONS = {
    PhaseState.queued: "⚪",
    PhaseState.running: "🔄",
    PhaseState.passed: "✅",
    PhaseState.passed_with_warnings: "⚠️",
    PhaseState.failed: "❌",
    PhaseState.skipped: "⏭️",
    PhaseState.interrupted: "💥",
}
FROM_STATUS = {
    PhaseStatus.passed: PhaseState.passed,
    PhaseStatus.passed_with_warnings: PhaseState.passed_with_warnings,
    PhaseStatus.failed: PhaseState.failed,
    PhaseStatus.skipped: PhaseState.skipped,
    PhaseStatus.interrupted: PhaseState.interrupted,
}
VERDICT_ICONS = {
    "passed": "✅",
    "passed_with_warnings": "⚠️",
    "failed": "❌",
    "crashed": "💥",
    "cancelled": "🛑",
    "not_run": "⛔",
}
WAITING_ICON = "⏳"


@dataclass
class PhaseLine:
    state: PhaseState = PhaseState.queued
    detail: str = ""


@dataclass
class Progress:
    """What the parent message shows; JSON-able so a retried flow or a crash hook in a new process can resume it."""

    environment: str
    trigger: str
    started_at: str
    run_url: str | None = None
    phases: dict[str, PhaseLine] = field(default_factory=dict)
    outcome: str | None = None  # passed / passed_with_warnings / failed / crashed / cancelled / not_run
    outcome_detail: str = ""  # a crash's message, or why the run did not run (plain text)
    waiting: str = ""  # the environment is in use: by which run (plain text); empty once the run holds it
    glance: str = ""  # a failed run's "what broke, the fix, who is on it" (mrkdwn, already escaped)
    duration_s: float | None = None
    stakeholder_posted: bool = False
    rerun_phase: str = ""  # a failed run's first failed phase: a "Rerun" button (when the Slack bot runs)
    approval_url: str = ""  # the redeploy's approval request in Slack (its permalink): the parent links to it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Progress":
        """The stored progress, phases in plan order (the store writes JSON with sorted keys: alphabetical)."""
        stored = data.get("phases")
        raw: dict[str, Any] = stored if isinstance(stored, dict) else {}
        phases = {
            str(name): PhaseLine(PhaseState(line.get("state", "queued")), str(line.get("detail", "")))
            for name, line in sorted(raw.items(), key=lambda item: plan_position(str(item[0])))
            if isinstance(line, dict) and line.get("state", "queued") in PhaseState._value2member_map_
        }
        return cls(
            environment=str(data.get("environment", "?")),
            trigger=str(data.get("trigger", "cli")),
            started_at=str(data.get("started_at", datetime.now(UTC).isoformat())),
            run_url=data.get("run_url") if isinstance(data.get("run_url"), str) else None,
            phases=phases,
            outcome=data.get("outcome") if isinstance(data.get("outcome"), str) else None,
            outcome_detail=str(data.get("outcome_detail", "")),
            glance=str(data.get("glance", "")),
            duration_s=data.get("duration_s") if isinstance(data.get("duration_s"), int | float) else None,
            stakeholder_posted=data.get("stakeholder_posted") is True,
            rerun_phase=str(data.get("rerun_phase", "")),
            waiting=str(data.get("waiting", "")),
            approval_url=str(data.get("approval_url") or ""),
        )


def plan_position(phase: str) -> int:
    """A phase's place in the handoff plan (infrastructure, restoration, business); unknown names last."""
    order = [p.value for p in Phase]
    return order.index(phase) if phase in order else len(order)


def new_progress(environment: str, trigger: str, phases: list[Phase], run_url: str | None, at: datetime) -> Progress:
    return Progress(environment, trigger, at.isoformat(), run_url, {p.value: PhaseLine() for p in phases})


def phase_detail(result: PhaseResult, recovered: tuple[str, ...] = ()) -> str:
    """ "7 checks · 2.1 s · problems: vpc-connector · recovered: secrets", or the skip reason."""
    if result.status == PhaseStatus.skipped:
        return result.skip_reason or "not run"
    parts = [f"{len(result.checks)} checks", duration_text(result.duration_s)]
    problems = [c.id for c in result.checks if c.problem]
    if problems:
        parts.append("problems: " + ", ".join(problems))
    if recovered:
        parts.append("recovered: " + ", ".join(recovered))
    return " · ".join(parts)


def _elapsed(progress: Progress, now: datetime) -> float:
    if progress.duration_s is not None:
        return progress.duration_s
    try:
        return (now - datetime.fromisoformat(progress.started_at)).total_seconds()
    except (TypeError, ValueError):
        return 0.0


def _phase_lines(progress: Progress) -> list[str]:
    lines = []
    for name, line in progress.phases.items():
        title = PHASE_TITLES.get(Phase(name), name) if name in Phase._value2member_map_ else name
        text = f"{PHASE_ICONS[line.state]} *{title}*: {line.state.value}"
        if line.detail:
            text += f" ({escape(line.detail)})" if line.state == PhaseState.skipped else f" · {escape(line.detail)}"
        lines.append(text)
    return lines


def _outcome_text(progress: Progress) -> str | None:
    if progress.outcome is None:
        return None
    icon = VERDICT_ICONS.get(progress.outcome, "")
    if progress.outcome in ("crashed", "cancelled", "not_run"):
        detail = f": {escape(clip(progress.outcome_detail, 500))}" if progress.outcome_detail else ""
        words = "Not run" if progress.outcome == "not_run" else f"Run {progress.outcome}"
        return f"{icon} *{words}*{detail}"
    return f"{icon} *Verdict: {progress.outcome.replace('_', ' ')}*"


def _title(progress: Progress) -> str:
    return f"Staging handoff · {progress.environment}"


def _context_line(progress: Progress, now: datetime) -> str:
    trigger = TRIGGER_WORDS.get(progress.trigger, progress.trigger)
    word = "Duration" if progress.duration_s is not None or progress.outcome else "Running for"
    if progress.waiting and not progress.outcome:
        word = "Waiting for"
    parts = [f"Trigger: {escape(trigger)}", f"{word} {duration_text(_elapsed(progress, now))}"]
    if progress.run_url:
        parts.append(f"<{progress.run_url}|Prefect flow run>")
    if progress.approval_url.startswith("https://"):
        parts.append(f"<{progress.approval_url}|Redeploy approval request>")
    return " · ".join(parts)


RERUN_ACTION = "runbook_rerun_phase"


def rerun_block(environment: str, phase: str) -> Block:
    """The "Rerun <phase>" button of a failed run's parent message; the Slack bot starts the manual deployment."""
    value = json.dumps({"env": environment, "phase": phase})
    button = ButtonElement(text=f"Rerun {phase}", action_id=RERUN_ACTION, value=value)
    return ActionsBlock(block_id="runbook_rerun", elements=[button])


def parent_message(progress: Progress, now: datetime | None = None) -> SlackMessage:
    """The run's one parent message: header, trigger/duration/link, one line per phase, then the outcome."""
    now = now or datetime.now(UTC)
    lines = _phase_lines(progress)
    blocks: list[Block] = [header_block(_title(progress)), context_block(_context_line(progress, now))]
    if progress.waiting and not progress.outcome:
        waiting = escape(clip(progress.waiting, 500))
        blocks.append(section_block(f"{WAITING_ICON} *Waiting for the environment*: {waiting}"))
    if lines:
        blocks.append(section_block("\n".join(lines)))
    outcome = _outcome_text(progress)
    if outcome:
        blocks.append(section_block(f"{outcome}\n{progress.glance}" if progress.glance else outcome))
    if progress.rerun_phase:
        blocks.append(rerun_block(progress.environment, progress.rerun_phase))
    states = ", ".join(f"{name} {line.state.value}" for name, line in progress.phases.items())
    tail = f" - {progress.outcome.replace('_', ' ')}" if progress.outcome else ""
    if progress.waiting and not progress.outcome:
        tail = f" - waiting: {progress.waiting}"
    text = f"{_title(progress)} ({escape(TRIGGER_WORDS.get(progress.trigger, progress.trigger))}): {states}{tail}"
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


def _first_line(text: str, limit: int = 240) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    more = " …" if len(text.strip().splitlines()) > 1 else ""
    return clip(line, limit) + more


def glance(report: RunReport, handles: dict[Phase, str], details_where: str, limit: int = 3) -> str:
    """A failed run at a glance (mrkdwn): each blocking check with its one-line summary and fix, and who is on it.

    Empty when the run did not fail. `details_where` says where the full evidence is ("in the thread").
    """
    if report.verdict.value != "failed":
        return ""
    failed = [p for p in report.phases if p.status == PhaseStatus.failed]
    blocking = [c for p in failed for c in p.blocking_checks] or [c for p in failed for c in p.checks if c.problem]
    lines = []
    for check in blocking[:limit]:
        lines.append(
            f"{STATUS_ICON[check.status]} *{escape(check.id)}* ({check.severity.value} {check.status.value}): "
            f"{escape(clip(check.summary, 300))}"
        )
        if check.remediation:
            lines.append(f"      Fix: {escape(_first_line(check.remediation))}")
    if len(blocking) > limit:
        lines.append(f"… and {len(blocking) - limit} more")
    owners = [handles[p.phase] for p in failed if handles.get(p.phase)]
    tail = f"On it: {escape(', '.join(owners))}" if owners else ""
    if not failed:
        tail = "No phase finished"
    where = f"Evidence and every fix {details_where}."
    return "\n".join([*lines, " · ".join(part for part in (tail, where) if part)])
