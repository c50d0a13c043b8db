"""Approval before anything mutates: the run the operator started pauses with a form, and waits (bounded).

The handoff flow asks here before phase 2 redeploys, so the flow run that shows Paused with the Resume form is
the one the operator started (not a subflow). The CLI's `--approve` approves up front (`preapproved_by_cli`).
Whatever the answer, the decision, who gave it and the note travel with the run: into the redeploy's evidence, the
report, the artifacts and the Slack thread.
"""

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from prefect.input import RunInput
from pydantic import BaseModel, Field

PAUSE_GRACE_S = 120  # Prefect's own pause outlives ours by this much
PAUSE_KEY = "redeploy-approval"
# Flow run inputs kept with the run in Prefect. The Slack bot records each decision it sends, before it resumes the
# run (SLACK_DECISION_PREFIX + an id): only an answer that matches such a record is credited to Slack, so a person
# typing "<@U…>" into the Prefect UI form is not. The run records how the approval ended (OUTCOME_KEY), so the bot
# can tell a late click "expired" from "rejected".
SLACK_DECISION_PREFIX = "runbook-slack-decision-"
OUTCOME_KEY = "runbook-approval-outcome"
RECORD_TIMEOUT_S = 15.0

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

    async def finish(self, outcome: "ApprovalOutcome") -> None:
        """Show the outcome where the request was posted."""
        ...


# Posts the request where approvers are (flow run id, run parameters, services, timeout): None when not posted.
Announcer = Callable[[str, dict[str, Any], list[str], int], Awaitable[Announcement | None]]


class RedeployApproval(RunInput):
    """Roll a new revision of the Cloud Run services of this environment?"""

    approve: bool = Field(description="Yes: roll a new revision of every configured service now. No: fail the phase.")
    note: str = Field(default="", max_length=500, description="Why (kept in the report and the Slack thread).")
    approved_by: str = Field(
        default="", max_length=200, description="Who decides (your name; Slack's buttons fill in the Slack user)."
    )


Status = Literal["approved", "rejected", "expired", "not-asked", ""]
Via = Literal["slack", "prefect-ui", "cli", "unverified", ""]


class ApprovalOutcome(BaseModel):
    """What came of asking: approved or not, by whom, through what, and the note, for the report.

    `status` says it as it is: approved, rejected (someone said no), expired (nobody answered in time) or not-asked
    (no run to pause); `via` where the answer came from: slack (an answer the bot recorded), prefect-ui, cli.
    """

    approved: bool
    decision: str = Field(description="How it was decided, in words: 'approved in the Prefect UI', 'expired: ...'.")
    approved_by: str = ""
    note: str = ""
    status: Status = ""
    via: Via = ""

    @property
    def reason(self) -> str:
        """One line for summaries: the decision, who, and the note."""
        who = f" by {self.approved_by}" if self.approved_by else ""
        note = f": {self.note}" if self.note else ""
        return f"{self.decision}{who}{note}"

    @property
    def said(self) -> str:
        """approved / rejected / expired / not-asked: the status, or what `approved` says when none was given."""
        return self.status or ("approved" if self.approved else "rejected")

    def evidence(self) -> dict[str, str]:
        """The approval as evidence (only what is known); a redeploy that was not approved says why (`status`)."""
        found = {"decision": self.decision, "approved_by": self.approved_by, "note": self.note}
        if not self.approved:
            found["status"] = self.said
        return {key: value for key, value in found.items() if value}


def _squeezed(value: object) -> str:
    return " ".join(str(value or "").split())


def from_slack(answer: dict[str, Any], slack_decisions: Sequence[dict[str, Any]]) -> bool:
    """Whether the bot recorded exactly this answer (approve, approved_by, note) before it resumed the run."""
    approve = answer.get("approve") is True
    by, note = _squeezed(answer.get("approved_by")), _squeezed(answer.get("note"))
    return any(
        d.get("approve") is approve and _squeezed(d.get("approved_by")) == by and _squeezed(d.get("note")) == note
        for d in slack_decisions
    )


def classify_answer(answer: dict[str, Any], slack_decisions: Sequence[dict[str, Any]] | None) -> ApprovalOutcome:
    """The outcome of an answer to the approval form: Slack's only when the bot recorded it (`from_slack`).

    `slack_decisions` None: the records could not be read, so the answer is not credited to anyone's tool.
    A name typed in the Prefect UI is kept as typed (a "<@U…>" typed there is text, not a Slack identity).
    """
    approve = answer.get("approve") is True
    verb = "approved" if approve else "rejected"
    if slack_decisions is None:
        via: Via = "unverified"
        where = "on the run's form (not verified as Slack: Prefect did not answer)"
    elif from_slack(answer, slack_decisions):
        via, where = "slack", "in Slack"
    else:
        via, where = "prefect-ui", "in the Prefect UI"
    return ApprovalOutcome(
        approved=approve,
        decision=f"{verb} {where}",
        approved_by=_squeezed(answer.get("approved_by")),
        note=_squeezed(answer.get("note")),
        status=verb,
        via=via,
    )


def expired(timeout_s: int) -> ApprovalOutcome:
    return ApprovalOutcome(
        approved=False, decision=f"approval expired: no answer within {timeout_s} s", status="expired"
    )


async def slack_decisions(flow_run_id: Any) -> list[dict[str, Any]] | None:
    """The decisions the Slack bot recorded on this run; None when Prefect did not answer."""
    import asyncio

    from prefect.client.orchestration import get_client

    try:
        async with asyncio.timeout(RECORD_TIMEOUT_S), get_client() as client:
            found = await client.filter_flow_run_input(flow_run_id, SLACK_DECISION_PREFIX, 100, set())
    except Exception:
        return None
    return [entry.decoded_value for entry in found if isinstance(entry.decoded_value, dict)]


async def record_outcome(flow_run_id: Any, outcome: ApprovalOutcome) -> None:
    """Keep how the approval ended with the run (the bot answers late clicks from it); never raises."""
    import asyncio

    from prefect.client.orchestration import get_client

    value = {**outcome.model_dump(), "at": datetime.now(UTC).isoformat()}
    try:
        async with asyncio.timeout(RECORD_TIMEOUT_S), get_client() as client:
            await client.create_flow_run_input(flow_run_id, OUTCOME_KEY, json.dumps(value), sender="runbook")
    except Exception as error:
        from prefect import get_run_logger

        get_run_logger().warning("approval outcome not recorded in Prefect: %s", type(error).__name__)


async def request_approval(
    environment: str, services: list[str], timeout_s: int, announce: Announcer | None = None
) -> ApprovalOutcome:
    """Pause the current flow run for a yes/no with a note; the CLI's `--approve` skips the pause.

    `announce` also asks the approvers where they are (the handoff passes Slack's); the core knows no Slack.

    Our own deadline is shorter than the pause's: when Prefect's pause expires it fails the whole run, losing the
    report. At our deadline the run answers its own form with "no" and goes on to report the phase as failed.
    """
    if (who := _preapproved.get()) is not None:
        return ApprovalOutcome(
            approved=True, decision="approved up front (--approve)", approved_by=who, status="approved", via="cli"
        )
    import asyncio

    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import apause_flow_run, aresume_flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return ApprovalOutcome(
            approved=False,
            decision="not asked: no flow run to pause for approval (run it from Prefect, or pass --approve)",
            status="not-asked",
        )

    description = (
        f"**Redeploy in {environment}**: roll a new revision of {', '.join(services)} through the Cloud Run API. "
        f"Approve within {timeout_s} s or the restoration phase fails."
    )
    unanswered = expired(timeout_s)
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
        # Recorded before the run answers its own form, so nobody reads that "no" as someone's rejection.
        await record_outcome(context.flow_run.id, unanswered)
        with contextlib.suppress(Exception):  # answered at the last moment: still treated as unanswered, no mutation
            await aresume_flow_run(context.flow_run.id, run_input={"approve": False, "note": unanswered.decision})
        outcome = unanswered
    except FlowPauseTimeout:
        outcome = unanswered
        await record_outcome(context.flow_run.id, outcome)
    else:
        outcome = classify_answer(answer.model_dump(), await slack_decisions(context.flow_run.id))
        await record_outcome(context.flow_run.id, outcome)
    get_run_logger().log(20 if outcome.approved else 30, "Redeploy %s", outcome.reason)
    if slack is not None:  # the Slack message shows the outcome, its buttons gone
        await slack.finish(outcome)
    return outcome
