"""The stakeholder channel's messages: the run's summary in plain words, or, when a failed run never got to the
summary of phase 3, what is not usable, who is on it and when the next update comes. Pure, no network.
"""

import re

from slack_sdk.models.blocks import Block

from runbook.declined import what_failed
from runbook.results import PHASE_TEAMS, PHASE_TITLES, Phase, PhaseStatus, RunReport, Status
from runbook.slack.block_kit import (
    FALLBACK_CHARS,
    SlackMessage,
    clip,
    context_block,
    escape,
    header_block,
    section_block,
)


def markdown_to_mrkdwn(text: str) -> str:
    """The stakeholder summary is Markdown; Slack bolds with single asterisks."""
    return re.sub(r"\*\*(.+?)\*\*", r"*\1*", escape(text))


def stakeholder_message(environment: str, summary: str, verdict: str, run_url: str | None) -> SlackMessage:
    link = f" · <{run_url}|Prefect flow run>" if run_url else ""
    blocks: list[Block] = [
        header_block(f"Staging status · {environment}"),
        section_block(markdown_to_mrkdwn(summary)),
        context_block(f"Verdict: {verdict.replace('_', ' ')}{link}"),
    ]
    text = f"Staging status ({environment}): {verdict.replace('_', ' ')}. " + escape(summary.replace("**", ""))
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


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
        checks = list(stopped.blocking_checks) or [c for c in stopped.checks if c.problem]
        what = f" ({escape(what_failed(checks))})" if checks else ""
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
        header_block(f"Staging status · {report.environment}"),
        section_block(text),
        context_block(f"Verdict: failed{link}"),
    ]
    plain = text.replace("*", "")
    return SlackMessage(clip(f"Staging status ({escape(report.environment)}): {plain}", FALLBACK_CHARS), tuple(blocks))


def stakeholder_summary(report: RunReport) -> str | None:
    """The `stakeholder-summary` check's `evidence["summary"]`, when the run got that far."""
    for phase in report.phases:
        for check in phase.checks:
            if check.id == "stakeholder-summary" and check.status != Status.SKIPPED:
                summary = check.evidence.get("summary")
                if isinstance(summary, str) and summary.strip():
                    return summary
    return None
