"""The Slack messages of a run, built as Block Kit objects from results: pure functions, no network.

Every builder returns a `SlackMessage`: validated blocks (`slack_sdk.models.blocks`, within Slack's limits) and a
plain-text fallback. User-visible content that came from checks is escaped for mrkdwn; evidence values under secret
key names (`password`, `access_token`, `X-E2E-Bypass-Key`, ...; not `token_ms` or `password_env`) are redacted, and
long evidence is truncated with the entries about failing resources first. Only `runbook.slack.reporter` sends them.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from runbook.report import STATUS_ICON
from runbook.results import PHASE_TEAMS, PHASE_TITLES, CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Status
from runbook.slack.store import Changes

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
CONTEXT_CHARS = 2000
FALLBACK_CHARS = 3000
EVIDENCE_CHARS = 1200  # per check in a thread reply: enough to act on, the rest is in the run report
REDACTED = "[redacted]"
# A key names a secret when its last word is one of these ("db_password", "accessToken", "Authorization"), or its
# last two words one of the pairs ("api_key", "X-E2E-Bypass-Key"). Matching whole words, not substrings, keeps
# timings and counters ("token_ms", "tokens_used") and the names of where secrets live ("password_env") readable.
SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "passphrase", "token", "secret", "authorization", "cookie", "credential", "apikey"}
)
SECRET_PLURALS = {"passwords": "password", "tokens": "token", "cookies": "cookie", "credentials": "credential"}
SECRET_KEY_QUALIFIERS = frozenset(
    {"api", "bypass", "private", "secret", "access", "signing", "encryption", "fernet", "hmac", "jwt", "session"}
)
SECRET_PAIRS = frozenset({("secret", "value"), ("set", "cookie")})
# Evidence entries about something broken come first when evidence is truncated.
PROBLEM_KEYS = frozenset(
    {"error", "errors", "failure", "failures", "problems", "drift", "missing", "unhealthy", "failing", "violations"}
)
STATUS_KEYS = frozenset(
    {"status", "state", "ready", "healthy", "ok", "serving", "connected", "database_status", "condition", "reason"}
    | {"activation_policy"}  # Cloud SQL: a stopped instance is RUNNABLE with activationPolicy NEVER
)
FAILING_WORDS = (
    "fail", "error", "unhealthy", "critical", "degraded", "not found", "not_found", "not ready", "not_ready",
    "missing", "refused", "denied", "timeout", "timed out", "suspended", "stopped", "unavailable", "never",
)  # fmt: skip
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
    outcome_detail: str = ""  # a crash's message (plain text)
    glance: str = ""  # a failed run's "what broke, the fix, who is on it" (mrkdwn, already escaped)
    duration_s: float | None = None
    stakeholder_posted: bool = False
    rerun_phase: str = ""  # a failed run's first failed phase: a "Rerun" button (when the Slack bot runs)

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
        )


def plan_position(phase: str) -> int:
    """A phase's place in the handoff plan (infrastructure, restoration, business); unknown names last."""
    order = [p.value for p in Phase]
    return order.index(phase) if phase in order else len(order)


def escape(text: str) -> str:
    """mrkdwn control characters in content that came from checks (a `<` must not become a link or mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note


def key_words(key: object) -> list[str]:
    """ "X-E2E-Bypass-Key" -> ["x", "e2e", "bypass", "key"]; "accessToken" -> ["access", "token"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key))
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_secret_key(key: object) -> bool:
    """Whether a key names a secret value: by its last word or last two words, never by a substring."""
    words = [SECRET_PLURALS.get(word, word) for word in key_words(key)]
    if not words:
        return False
    if words[-1] in SECRET_WORDS:
        return True
    return len(words) >= 2 and (
        (words[-1] == "key" and words[-2] in SECRET_KEY_QUALIFIERS) or (words[-2], words[-1]) in SECRET_PAIRS
    )


def redact(value: Any, under_secret: bool = False) -> Any:
    """Evidence with the values under secret key names replaced (evidence should hold none; this is the backstop).

    Under a secret key, strings and numbers become "[redacted]" (in nested lists and dicts too); booleans and null
    stay, since "is it set" is not the secret. Values elsewhere are left to the reporter's scrub by value.
    """
    if isinstance(value, dict):
        return {k: redact(v, under_secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, under_secret) for v in value]
    if under_secret and value is not None and not isinstance(value, bool):
        return REDACTED
    return value


def _failing_text(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in FAILING_WORDS)


def looks_failing(key: object, value: Any, depth: int = 0) -> bool:
    """Whether an evidence entry is about something broken: an error, a failing status, a 4xx/5xx, "not found"."""
    words = key_words(key)
    name = "_".join(words)
    if name in PROBLEM_KEYS or (words and words[-1] in PROBLEM_KEYS):  # "error", "revision_failure"
        return bool(value)
    if name == "http_status" and isinstance(value, int) and not isinstance(value, bool):
        return value >= 400
    if isinstance(value, bool):
        return name in STATUS_KEYS and value is False
    if isinstance(value, str):
        lowered = value.lower()
        return _failing_text(value) if name in STATUS_KEYS else lowered.startswith(("not found", "missing"))
    if depth >= 4:
        return False
    if isinstance(value, dict):
        return any(looks_failing(k, v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(looks_failing(key, item, depth + 1) for item in value if isinstance(item, dict))
    return False


def _named(item: Any) -> bool:
    return isinstance(item, dict) and any(k in item for k in ("name", "service", "id", "resource"))


def failing_first(value: Any, summary: str = "", depth: int = 0) -> Any:
    """Evidence reordered so entries about failing resources come first (the rest keep key order).

    Dict entries whose key the check's summary names (the service it complains about) come first, then entries
    that look failing (the shortest first, so more of them fit), then the rest in key order. A list is reordered
    only when it is a collection of named resources, never a timeline. Used before truncating, so what broke is
    what survives the cut.
    """
    if depth > 6:
        return value
    if isinstance(value, dict):

        def rank(item: tuple[Any, Any]) -> tuple[int, int, str]:
            key, inner = item
            if len(str(key)) >= 3 and str(key) in summary:  # what the check's verdict names comes first
                return (0, 0, str(key))
            if looks_failing(key, inner):
                return (1, len(json.dumps(inner, default=str)), str(key))  # the shortest first: more of them fit
            return (2, 0, str(key))

        return {k: failing_first(v, summary, depth + 1) for k, v in sorted(value.items(), key=rank)}
    if isinstance(value, list | tuple):
        items = [failing_first(v, summary, depth + 1) for v in value]
        if items and all(_named(item) for item in items):
            names = [str(item.get("name") or item.get("service") or item.get("id") or "") for item in items]
            order = sorted(
                range(len(items)),
                key=lambda i: 0 if looks_failing("item", items[i]) or (names[i] and names[i] in summary) else 1,
            )
            return [items[i] for i in order]
        return items
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
    blocks: list[Block] = [_header(_title(progress)), _context(_context_line(progress, now))]
    if lines:
        blocks.append(_section("\n".join(lines)))
    outcome = _outcome_text(progress)
    if outcome:
        blocks.append(_section(f"{outcome}\n{progress.glance}" if progress.glance else outcome))
    if progress.rerun_phase:
        blocks.append(rerun_block(progress.environment, progress.rerun_phase))
    states = ", ".join(f"{name} {line.state.value}" for name, line in progress.phases.items())
    tail = f" - {progress.outcome.replace('_', ' ')}" if progress.outcome else ""
    text = f"{_title(progress)} ({escape(TRIGGER_WORDS.get(progress.trigger, progress.trigger))}): {states}{tail}"
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


def evidence_text(evidence: dict[str, Any], limit: int = EVIDENCE_CHARS, summary: str = "") -> str:
    """Evidence as a code block, redacted, failing entries first, truncated with a note saying how much was cut."""
    if not evidence:
        return ""
    rendered = json.dumps(failing_first(redact(evidence), summary), indent=1, default=str)
    note = ""
    if len(rendered) > limit:
        note = (
            f"\n_Evidence truncated: showing {limit} of {len(rendered)} characters, failing entries first; "
            "all of it is in the run report._"
        )
        rendered = rendered[:limit] + "\n…"
    return f"*Evidence*\n```{escape(rendered)}```{note}"


def _check_blocks(check: CheckResult, mark: str) -> list[Block]:
    head = f"{STATUS_ICON[check.status]} *{check.id}* ({check.severity.value}, {check.status.value}) · _{mark}_"
    blocks: list[Block] = [_section(f"{head}\n{escape(check.summary)}")]
    evidence = evidence_text(check.evidence, summary=check.summary)
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


def approval_note(words: str, approved: bool) -> SlackMessage:
    """The thread reply that keeps a redeploy decision where the team reads: who decided, how, and the note."""
    icon = ":white_check_mark:" if approved else ":no_entry:"
    text = clip(f"Redeploy {words}", FALLBACK_CHARS)
    return SlackMessage(text, (_section(clip(f"{icon} *Redeploy* {escape(words)}", 2900)),))


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


def _team_words(phase: Phase, handle: str | None) -> str:
    team = f"the {PHASE_TEAMS[phase]} team"
    return f"{team} ({handle})" if handle else team


def stakeholder_stop_text(report: RunReport, handles: dict[Phase, str], next_update: str) -> str | None:
    """Plain words for stakeholders when a failed run never reached the stakeholder summary (mrkdwn).

    Staging is not usable, which phase stopped the run and on what, what was not checked, who is on it, and when
    the next update comes. None when the run did not fail.
    """
    if report.verdict.value != "failed":
        return None
    environment = escape(report.environment)
    stopped = next((p for p in report.phases if p.status == PhaseStatus.failed), None)
    if stopped is None:
        where = "The handoff runbook stopped before any phase finished."
        owner = "the runbook's owners"
    else:
        titles = [c.title for c in stopped.blocking_checks] or [c.title for c in stopped.checks if c.problem]
        what = f" ({escape(', '.join(titles))} failed)" if titles else ""
        where = f"The handoff runbook stopped at *{PHASE_TITLES[stopped.phase].lower()}*{what}."
        owner = _team_words(stopped.phase, handles.get(stopped.phase))
    not_run = [PHASE_TITLES[p.phase].lower() for p in report.phases if p.status == PhaseStatus.skipped]
    unchecked = f" Not checked yet: {', '.join(not_run)}." if not_run else ""
    if any(p.phase == Phase.business for p in report.phases if p.status == PhaseStatus.skipped):
        unchecked = unchecked.rstrip(".") + " (users logging in and getting AI responses)."
    return "\n".join(
        [
            f"*Staging ({environment}) is NOT usable right now.*",
            f"{where}{unchecked}",
            f"*Who is on it:* {escape(owner)}.",
            f"*Next update:* {escape(next_update.rstrip('.'))}.",
        ]
    )


def stakeholder_stop_message(
    report: RunReport, handles: dict[Phase, str], next_update: str, run_url: str | None
) -> SlackMessage | None:
    """The stakeholder channel's message when a failed run never got to the stakeholder summary of phase 3."""
    text = stakeholder_stop_text(report, handles, next_update)
    if text is None:
        return None
    link = f" · <{run_url}|Prefect flow run>" if run_url else ""
    blocks: list[Block] = [
        _header(f"Staging status · {report.environment}"),
        _section(text),
        _context(f"Verdict: failed{link}"),
    ]
    plain = text.replace("*", "")
    return SlackMessage(clip(f"Staging status ({escape(report.environment)}): {plain}", FALLBACK_CHARS), tuple(blocks))


def webhook_run_message(
    progress: Progress,
    for_stakeholders: str | None,
    problems: list[tuple[PhaseResult, Changes, str | None]] | None = None,
    now: datetime | None = None,
) -> SlackMessage:
    """The one message of a run in webhook mode (a webhook cannot update or thread): the final progress, the words
    for stakeholders (mrkdwn) if any, then the problems of every phase with its team mentioned.
    """
    parent = parent_message(progress, now)
    blocks = list(parent.blocks)
    texts = [parent.text]
    if for_stakeholders:  # before the details: short, and never the part cut to fit
        blocks.extend([DividerBlock(), _section(for_stakeholders)])
        texts.append(for_stakeholders.replace("*", ""))
    for result, changes, mention in problems or []:
        if any(c.problem for c in result.checks):
            blocks.append(DividerBlock())
            blocks.extend(problem_blocks(result, changes, mention))
            texts.append(problems_text(result, changes, mention))
    overflow = "More problems than one message holds: the run report lists every check."
    return SlackMessage(clip("\n".join(texts), FALLBACK_CHARS), _fit(blocks, overflow))


def stakeholder_summary(report: RunReport) -> str | None:
    """The `stakeholder-summary` check's `evidence["summary"]`, when the run got that far."""
    for phase in report.phases:
        for check in phase.checks:
            if check.id == "stakeholder-summary" and check.status != Status.SKIPPED:
                summary = check.evidence.get("summary")
                if isinstance(summary, str) and summary.strip():
                    return summary
    return None
