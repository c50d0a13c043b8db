"""Approval before anything mutates: the Prefect UI shows a form, the run waits (bounded) for an answer."""

import contextlib
from dataclasses import dataclass

from prefect.input import RunInput
from pydantic import Field

PAUSE_GRACE_S = 120  # Prefect's own pause outlives ours by this much


class RedeployApproval(RunInput):
    """Roll a new revision of the Cloud Run services of this environment?"""

    approve: bool = Field(description="Yes: roll a new revision of every configured service now. No: fail the phase.")
    note: str = Field(default="", max_length=500, description="Who decided and why (kept in the report).")


@dataclass(frozen=True)
class ApprovalOutcome:
    """What came of asking: approved or not, and why, in words for the report."""

    approved: bool
    reason: str


async def request_approval(environment: str, services: list[str], timeout_s: int, preapproved: bool) -> ApprovalOutcome:
    """Pause the flow run for a yes/no with a note; preapproved (the CLI's --approve) skips the pause."""
    if preapproved:
        return ApprovalOutcome(True, "approved up front (--approve)")
    import asyncio

    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import apause_flow_run, aresume_flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return ApprovalOutcome(False, "no flow run to pause for approval (run it from Prefect, or pass --approve)")

    description = (
        f"**Redeploy in {environment}**: roll a new revision of {', '.join(services)} through the Cloud Run API. "
        f"Approve within {timeout_s} s or the restoration phase fails."
    )
    # Our own deadline, shorter than the pause's: when Prefect's pause expires it fails the whole run, losing the
    # report. At our deadline the run answers its own form with "no" and goes on to report the phase as failed.
    unanswered = ApprovalOutcome(False, f"no approval within {timeout_s} s")
    try:
        answer = await asyncio.wait_for(
            apause_flow_run(
                wait_for_input=RedeployApproval.with_initial_data(description=description, approve=False),
                timeout=timeout_s + PAUSE_GRACE_S,
                poll_interval=1,
                key="redeploy-approval",
            ),
            timeout=timeout_s,
        )
    except TimeoutError:
        with contextlib.suppress(Exception):  # answered at the last moment: still treated as unanswered, no mutation
            await aresume_flow_run(context.flow_run.id, run_input={"approve": False, "note": unanswered.reason})
        return unanswered
    except FlowPauseTimeout:
        return unanswered
    note = f" ({answer.note})" if answer.note else ""
    if answer.approve:
        return ApprovalOutcome(True, f"approved in the Prefect UI{note}")
    return ApprovalOutcome(False, f"rejected in the Prefect UI{note}")
