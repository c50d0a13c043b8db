"""Approval before anything mutates: the run the operator started pauses with a form, and waits (bounded).

The handoff flow asks here before phase 2 redeploys, so the flow run that shows Paused with the Resume form is
the one the operator started (not a subflow). The CLI's `--approve` approves up front (`preapproved_by_cli`).
Whatever the answer, the decision, who gave it and the note travel with the run: into the redeploy's evidence, the
report, the artifacts and the Slack thread.
"""

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from prefect.input import RunInput
from pydantic import BaseModel, Field

PAUSE_GRACE_S = 120  # Prefect's own pause outlives ours by this much
PAUSE_KEY = "redeploy-approval"

# Set by the CLI for `--redeploy --approve`: the person at the terminal approved before the run started.
_preapproved: ContextVar[str | None] = ContextVar("runbook_preapproved", default=None)


@contextlib.contextmanager
def preapproved_by_cli(who: str) -> Iterator[None]:
    """Within this block a redeploy is approved up front by `who` (the CLI's `--approve`)."""
    token = _preapproved.set(who)
    try:
        yield
    finally:
        _preapproved.reset(token)


class Announcement(Protocol):
    """An approval request posted elsewhere (Slack), updated with the outcome when it is known."""

    async def finish(self, approved: bool, decision: str, approved_by: str, note: str) -> None:
        """Show the outcome where the request was posted."""
        ...


# Posts the request where approvers are (flow run id, run parameters, services, timeout): None when not posted.
Announcer = Callable[[str, dict[str, Any], list[str], int], Awaitable[Announcement | None]]


class RedeployApproval(RunInput):
    """Roll a new revision of the Cloud Run services of this environment?"""

    approve: bool = Field(description="Yes: roll a new revision of every configured service now. No: fail the phase.")
    note: str = Field(default="", max_length=500, description="Why (kept in the report and the Slack thread).")
    approved_by: str = Field(
        default="", max_length=200, description="Who decides (your name or Slack handle; Slack fills in the user)."
    )


class ApprovalOutcome(BaseModel):
    """What came of asking: approved or not, by whom, through what, and the note, for the report."""

    approved: bool
    decision: str = Field(description="How it was decided, in words: 'approved in the Prefect UI', 'no answer ...'.")
    approved_by: str = ""
    note: str = ""

    @property
    def reason(self) -> str:
        """One line for summaries: the decision, who, and the note."""
        who = f" by {self.approved_by}" if self.approved_by else ""
        note = f": {self.note}" if self.note else ""
        return f"{self.decision}{who}{note}"

    def evidence(self) -> dict[str, str]:
        """The approval as evidence (only what is known)."""
        found = {"decision": self.decision, "approved_by": self.approved_by, "note": self.note}
        return {key: value for key, value in found.items() if value}


def _answered(answer: RedeployApproval, where: str) -> ApprovalOutcome:
    verb = "approved" if answer.approve else "rejected"
    if answer.approved_by.strip().startswith("<@"):  # only the Slack bot answers with a member mention
        where = "in Slack"
    return ApprovalOutcome(
        approved=answer.approve,
        decision=f"{verb} {where}",
        approved_by=answer.approved_by.strip(),
        note=" ".join(answer.note.split()),
    )


async def request_approval(
    environment: str, services: list[str], timeout_s: int, announce: Announcer | None = None
) -> ApprovalOutcome:
    """Pause the current flow run for a yes/no with a note; the CLI's `--approve` skips the pause.

    `announce` also asks the approvers where they are (the handoff passes Slack's); the core knows no Slack.

    Our own deadline is shorter than the pause's: when Prefect's pause expires it fails the whole run, losing the
    report. At our deadline the run answers its own form with "no" and goes on to report the phase as failed.
    """
    if (who := _preapproved.get()) is not None:
        return ApprovalOutcome(approved=True, decision="approved up front (--approve)", approved_by=who)
    import asyncio

    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import apause_flow_run, aresume_flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return ApprovalOutcome(
            approved=False, decision="no flow run to pause for approval (run it from Prefect, or pass --approve)"
        )

    description = (
        f"**Redeploy in {environment}**: roll a new revision of {', '.join(services)} through the Cloud Run API. "
        f"Approve within {timeout_s} s or the restoration phase fails."
    )
    unanswered = ApprovalOutcome(approved=False, decision=f"no approval within {timeout_s} s")
    slack = None
    if announce is not None:
        slack = await announce(str(context.flow_run.id), dict(context.parameters or {}), services, timeout_s)
    from prefect import get_run_logger

    where = " or from the approval message in Slack" if slack is not None else ""
    get_run_logger().warning(
        "Waiting for approval to redeploy %s in %s: press Resume on this run%s within %d s (approve yes/no, a note).",
        ", ".join(services),
        environment,
        where,
        timeout_s,
    )
    try:
        answer = await asyncio.wait_for(
            apause_flow_run(
                wait_for_input=RedeployApproval.with_initial_data(description=description, approve=False),
                timeout=timeout_s + PAUSE_GRACE_S,
                poll_interval=1,
                key=PAUSE_KEY,
            ),
            timeout=timeout_s,
        )
    except TimeoutError:
        with contextlib.suppress(Exception):  # answered at the last moment: still treated as unanswered, no mutation
            await aresume_flow_run(context.flow_run.id, run_input={"approve": False, "note": unanswered.decision})
        outcome = unanswered
    except FlowPauseTimeout:
        outcome = unanswered
    else:
        outcome = _answered(answer, "on the run's approval form")
    get_run_logger().log(20 if outcome.approved else 30, "Redeploy %s", outcome.reason)
    if slack is not None:  # the Slack message shows the outcome, its buttons gone
        await slack.finish(outcome.approved, outcome.decision, outcome.approved_by, outcome.note)
    return outcome
