"""Approval before anything mutates: the Prefect UI shows a form, the run waits (bounded) for an answer."""

from dataclasses import dataclass

from prefect.input import RunInput
from pydantic import Field


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
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import apause_flow_run

    description = (
        f"**Redeploy in {environment}**: roll a new revision of {', '.join(services)} through the Cloud Run API. "
        f"Approve within {timeout_s} s or the restoration phase fails."
    )
    try:
        answer = await apause_flow_run(
            wait_for_input=RedeployApproval.with_initial_data(description=description, approve=False),
            timeout=timeout_s,
            poll_interval=2,
            key="redeploy-approval",
        )
    except FlowPauseTimeout:
        return ApprovalOutcome(False, f"no approval within {timeout_s} s")
    note = f" ({answer.note})" if answer.note else ""
    if answer.approve:
        return ApprovalOutcome(True, f"approved in the Prefect UI{note}")
    return ApprovalOutcome(False, f"rejected in the Prefect UI{note}")
