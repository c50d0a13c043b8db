"""Thread replies under the parent message, and the pointer to them in the owning team's channel.

A phase that finished with failures or warnings gets a reply: who is told, then each problem check's summary,
evidence and fix; a redeploy decision gets a reply saying who decided, how, and the note. Pure, no network.
"""

from slack_sdk.models.blocks import Block, DividerBlock

from runbook.report import STATUS_ICON
from runbook.results import PHASE_TITLES, CheckResult, PhaseResult
from runbook.slack.block_kit import (
    FALLBACK_CHARS,
    SECTION_CHARS,
    SlackMessage,
    clip,
    context_block,
    escape,
    fit_blocks,
    section_block,
)
from runbook.slack.evidence import evidence_text
from runbook.slack.parent_message import FROM_STATUS
from runbook.slack.store import Changes


def _check_blocks(check: CheckResult, mark: str) -> list[Block]:
    head = f"{STATUS_ICON[check.status]} *{check.id}* ({check.severity.value}, {check.status.value}) · _{mark}_"
    blocks: list[Block] = [section_block(f"{head}\n{escape(check.summary)}")]
    evidence = evidence_text(check.evidence, summary=check.summary)
    if evidence:
        blocks.append(section_block(evidence))
    if check.remediation:
        blocks.append(section_block(f"*Fix:* {escape(clip(check.remediation, SECTION_CHARS - 100))}"))
    return blocks


def problem_blocks(result: PhaseResult, changes: Changes, mention: str | None) -> list[Block]:
    """The details of a phase's problems: who is told, then summary, evidence and fix of each problem check."""
    problems = [c for c in result.checks if c.problem]
    title = PHASE_TITLES[result.phase]
    word = FROM_STATUS[result.status].value
    lead = f"*{title} {word}*: {len(problems)} check{'s' if len(problems) != 1 else ''} to look at"
    blocks: list[Block] = [section_block(f"{mention} {lead}" if mention else lead)]
    for check in problems:
        blocks.append(DividerBlock())
        blocks.extend(_check_blocks(check, changes.mark(check.id)))
    if changes.recovered:
        blocks.append(context_block("Recovered since the previous run: " + ", ".join(changes.recovered)))
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
    return SlackMessage(text, fit_blocks(problem_blocks(result, changes, mention), overflow))


def approval_note(words: str, approved: bool) -> SlackMessage:
    """The thread reply that keeps a redeploy decision where the team reads: who decided, how, and the note."""
    icon = ":white_check_mark:" if approved else ":no_entry:"
    text = clip(f"Redeploy {words}", FALLBACK_CHARS)
    return SlackMessage(text, (section_block(clip(f"{icon} *Redeploy* {escape(words)}", 2900)),))


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
    return SlackMessage(clip(text, FALLBACK_CHARS), (section_block(line),))
