"""The Slack messages of a run, built as Block Kit objects from results: pure functions, no network.

Every builder returns a `SlackMessage`: validated blocks (`slack_sdk.models.blocks`, within Slack's limits) and a
plain-text fallback. User-visible content that came from checks is escaped for mrkdwn; evidence values under
secret-looking keys are redacted and long evidence is truncated with a note. Only `runbook.slack` sends them.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from runbook.report import STATUS_ICON
from runbook.results import PHASE_TITLES, CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Status
from runbook.slack_store import Changes

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
CONTEXT_CHARS = 2000
FALLBACK_CHARS = 3000
EVIDENCE_CHARS = 1200  # per check in a thread reply: enough to act on, the rest is in the run report
SECRET_KEY = re.compile(r"password|passwd|token|secret_value|bypass|api_key|authorization|cookie|credential|private")
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
}
VERDICT_ICONS = {"passed": "✅", "passed_with_warnings": "⚠️", "failed": "❌", "crashed": "💥", "cancelled": "🛑"}


@dataclass(frozen=True)
class SlackMessage:
    """Blocks plus the plain-text fallback Slack shows in notifications and to screen readers."""

    text: str
    blocks: tuple[Block, ...]

    def payload(self) -> dict[str, Any]:
        """{"text", "blocks"} as sent; `to_dict` validates every block against Slack's limits (raises if not)."""
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"expected at most {MAX_BLOCKS} blocks, found {len(self.blocks)}")
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}


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
    outcome: str | None = None  # passed / passed_with_warnings / failed / crashed / cancelled
    outcome_detail: str = ""
    duration_s: float | None = None
    stakeholder_posted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Progress":
        phases = {
            str(name): PhaseLine(PhaseState(line.get("state", "queued")), str(line.get("detail", "")))
            for name, line in (data.get("phases") or {}).items()
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
            duration_s=data.get("duration_s") if isinstance(data.get("duration_s"), int | float) else None,
            stakeholder_posted=data.get("stakeholder_posted") is True,
        )


def escape(text: str) -> str:
    """mrkdwn control characters in content that came from checks (a `<` must not become a link or mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note


def redact(value: Any) -> Any:
    """Evidence with values under secret-looking keys replaced (evidence should hold none; this is the backstop)."""
    if isinstance(value, dict):
        return {k: "[redacted]" if SECRET_KEY.search(str(k).lower()) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def duration_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, CONTEXT_CHARS))])


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, HEADER_CHARS))


def _fit(blocks: list[Block], overflow: str) -> tuple[Block, ...]:
    """At most MAX_BLOCKS blocks; when cut, the last one says what was left out."""
    if len(blocks) <= MAX_BLOCKS:
        return tuple(blocks)
    return (*blocks[: MAX_BLOCKS - 1], _context(overflow))


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
    if progress.outcome in ("crashed", "cancelled"):
        detail = f": {escape(clip(progress.outcome_detail, 500))}" if progress.outcome_detail else ""
        return f"{icon} *Run {progress.outcome}*{detail}"
    return f"{icon} *Verdict: {progress.outcome.replace('_', ' ')}*"


def _title(progress: Progress) -> str:
    return f"Staging handoff · {progress.environment}"


def _context_line(progress: Progress, now: datetime) -> str:
    trigger = TRIGGER_WORDS.get(progress.trigger, progress.trigger)
    word = "Duration" if progress.duration_s is not None or progress.outcome else "Running for"
    parts = [f"Trigger: {escape(trigger)}", f"{word} {duration_text(_elapsed(progress, now))}"]
    if progress.run_url:
        parts.append(f"<{progress.run_url}|Prefect flow run>")
    return " · ".join(parts)


def parent_message(progress: Progress, now: datetime | None = None) -> SlackMessage:
    """The run's one parent message: header, trigger/duration/link, one line per phase, then the outcome."""
    now = now or datetime.now(UTC)
    lines = _phase_lines(progress)
    blocks: list[Block] = [_header(_title(progress)), _context(_context_line(progress, now))]
    if lines:
        blocks.append(_section("\n".join(lines)))
    outcome = _outcome_text(progress)
    if outcome:
        blocks.append(_section(outcome))
    states = ", ".join(f"{name} {line.state.value}" for name, line in progress.phases.items())
    tail = f" - {progress.outcome.replace('_', ' ')}" if progress.outcome else ""
    text = f"{_title(progress)} ({escape(TRIGGER_WORDS.get(progress.trigger, progress.trigger))}): {states}{tail}"
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


def evidence_text(evidence: dict[str, Any], limit: int = EVIDENCE_CHARS) -> str:
    """Evidence as a code block, redacted, truncated with a note saying how much was left out."""
    if not evidence:
        return ""
    rendered = json.dumps(redact(evidence), indent=1, sort_keys=True, default=str)
    note = ""
    if len(rendered) > limit:
        note = f"\n_Evidence truncated: showing {limit} of {len(rendered)} characters; all of it is in the run report._"
        rendered = rendered[:limit] + "\n…"
    return f"*Evidence*\n```{escape(rendered)}```{note}"


def _check_blocks(check: CheckResult, mark: str) -> list[Block]:
    head = f"{STATUS_ICON[check.status]} *{check.id}* ({check.severity.value}, {check.status.value}) · _{mark}_"
    blocks: list[Block] = [_section(f"{head}\n{escape(check.summary)}")]
    evidence = evidence_text(check.evidence)
    if evidence:
        blocks.append(_section(evidence))
    if check.remediation:
        blocks.append(_section(f"*Fix:* {escape(clip(check.remediation, SECTION_CHARS - 100))}"))
    return blocks


def problem_blocks(result: PhaseResult, changes: Changes, mention: str | None) -> list[Block]:
    """The details of a phase's problems: who is told, then summary, evidence and fix of each problem check."""
    problems = [c for c in result.checks if c.problem]
    title = PHASE_TITLES[result.phase]
    word = FROM_STATUS[result.status].value
    lead = f"*{title} {word}*: {len(problems)} check{'s' if len(problems) != 1 else ''} to look at"
    blocks: list[Block] = [_section(f"{mention} {lead}" if mention else lead)]
    for check in problems:
        blocks.append(DividerBlock())
        blocks.extend(_check_blocks(check, changes.mark(check.id)))
    if changes.recovered:
        blocks.append(_context("Recovered since the previous run: " + ", ".join(changes.recovered)))
    return blocks


def problems_text(result: PhaseResult, changes: Changes, mention: str | None) -> str:
    problems = [c for c in result.checks if c.problem]
    listed = "; ".join(f"{c.id} {c.status.value} ({changes.mark(c.id)}): {escape(c.summary)}" for c in problems)
    who = f"{mention} " if mention else ""
    return f"{who}{PHASE_TITLES[result.phase]} {FROM_STATUS[result.status].value}: {listed}"


def thread_reply(result: PhaseResult, changes: Changes, mention: str | None) -> SlackMessage:
    """The reply under the parent when a phase finished with failures or warnings."""
    overflow = "More problems than one message holds: the run report lists every check."
    text = clip(problems_text(result, changes, mention), FALLBACK_CHARS)
    return SlackMessage(text, _fit(problem_blocks(result, changes, mention), overflow))


def team_pointer(
    environment: str, result: PhaseResult, mention: str, parent_channel: str, run_url: str | None
) -> SlackMessage:
    """The short note in the owning team's channel: what broke, and where the details are."""
    ids = ", ".join(c.id for c in result.checks if c.problem)
    word = FROM_STATUS[result.status].value
    where = f"Details in the thread of the run's message in <#{parent_channel}>"
    link = f" · <{run_url}|Prefect flow run>" if run_url else ""
    line = f"{mention} {PHASE_TITLES[result.phase]} {word} in {escape(environment)}: {escape(ids)}. {where}{link}"
    text = f"{mention} {PHASE_TITLES[result.phase]} {word} in {escape(environment)}: {escape(ids)}. {where}."
    return SlackMessage(clip(text, FALLBACK_CHARS), (_section(line),))


def markdown_to_mrkdwn(text: str) -> str:
    """The stakeholder summary is Markdown; Slack bolds with single asterisks."""
    return re.sub(r"\*\*(.+?)\*\*", r"*\1*", escape(text))


def stakeholder_message(environment: str, summary: str, verdict: str, run_url: str | None) -> SlackMessage:
    link = f" · <{run_url}|Prefect flow run>" if run_url else ""
    blocks: list[Block] = [
        _header(f"Staging status · {environment}"),
        _section(markdown_to_mrkdwn(summary)),
        _context(f"Verdict: {verdict.replace('_', ' ')}{link}"),
    ]
    text = f"Staging status ({environment}): {verdict.replace('_', ' ')}. " + escape(summary.replace("**", ""))
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


def webhook_phase_message(
    progress: Progress, result: PhaseResult, changes: Changes, mention: str | None, now: datetime | None = None
) -> SlackMessage:
    """Webhooks cannot update: one message per phase end with the progress so far and the phase's problems."""
    parent = parent_message(progress, now)
    blocks = list(parent.blocks)
    if any(c.problem for c in result.checks):
        blocks.append(DividerBlock())
        blocks.extend(problem_blocks(result, changes, mention))
        text = f"{parent.text}\n{problems_text(result, changes, mention)}"
    else:
        text = parent.text
    overflow = "More problems than one message holds: the run report lists every check."
    return SlackMessage(clip(text, FALLBACK_CHARS), _fit(blocks, overflow))


def webhook_run_message(progress: Progress, summary: str | None, now: datetime | None = None) -> SlackMessage:
    """The run-end (or crash) message in webhook mode: final progress, then the stakeholder summary if any."""
    parent = parent_message(progress, now)
    if not summary:
        return parent
    blocks = [*parent.blocks, DividerBlock(), _section(markdown_to_mrkdwn(summary))]
    return SlackMessage(clip(f"{parent.text}\n{escape(summary.replace('**', ''))}", FALLBACK_CHARS), tuple(blocks))


def stakeholder_summary(report: RunReport) -> str | None:
    """The `stakeholder-summary` check's `evidence["summary"]`, when the run got that far."""
    for phase in report.phases:
        for check in phase.checks:
            if check.id == "stakeholder-summary" and check.status != Status.SKIPPED:
                summary = check.evidence.get("summary")
                if isinstance(summary, str) and summary.strip():
                    return summary
    return None
