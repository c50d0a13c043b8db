"""The one message of a run in webhook mode: a webhook cannot update or thread, so it carries it all. Pure."""

from datetime import datetime

from slack_sdk.models.blocks import DividerBlock

from runbook.results import PhaseResult
from runbook.slack.block_kit import FALLBACK_CHARS, SlackMessage, clip, fit_blocks, section_block
from runbook.slack.parent_message import Progress, parent_message
from runbook.slack.store import Changes
from runbook.slack.thread_replies import problem_blocks, problems_text


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
        blocks.extend([DividerBlock(), section_block(for_stakeholders)])
        texts.append(for_stakeholders.replace("*", ""))
    for result, changes, mention in problems or []:
        if any(c.problem for c in result.checks):
            blocks.append(DividerBlock())
            blocks.extend(problem_blocks(result, changes, mention))
            texts.append(problems_text(result, changes, mention))
    overflow = "More problems than one message holds: the run report lists every check."
    return SlackMessage(clip("\n".join(texts), FALLBACK_CHARS), fit_blocks(blocks, overflow))
