"""ChatOps pieces without Prefect: the slash command grammar, the approval Block Kit, the modal's checks, approvers."""

import asyncio
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from runbook.results import Phase
from runbook.slack.approval import (
    ApprovalRequest,
    ApproverCheck,
    ButtonValue,
    ServiceChange,
    approval_message,
    note_modal,
    read_note_submission,
)
from runbook.slack.commands import Command, UsageError, parse
from simulator.server import Simulator

RUN = "6f1c2f0e-1111-2222-3333-444455556666"


def test_run_command_names_phases_in_plan_order_and_redeploy_needs_restoration() -> None:
    assert parse("run staging business infrastructure", ("staging",)) == Command(
        "run", "staging", (Phase.infrastructure, Phase.business)
    )
    assert parse("run staging", ("staging",)).phases == tuple(Phase)
    with pytest.raises(UsageError, match="redeploy` happens in the restoration phase"):
        parse("run staging infrastructure redeploy", ("staging",))
    with pytest.raises(UsageError, match=r"expected an environment this bot serves \(staging\), found `prod`"):
        parse("status prod", ("staging",))


def test_approval_message_validates_and_carries_the_run_in_its_buttons() -> None:
    request = ApprovalRequest(
        RUN, "staging", (ServiceChange("backend", "backend-00007-abc", 8),), ("S0123PLATF",), datetime.now(UTC)
    )
    text, blocks = approval_message(request)
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "runbook_approve",
        "runbook_approve_note",
        "runbook_reject",
    ]
    assert ButtonValue.parse(actions["elements"][0]["value"]).flow_run_id == RUN
    assert "`backend-00007-abc` → a new revision (generation 8)" in blocks[1]["text"]["text"]
    assert "<!subteam^S0123PLATF>" in text


def test_reject_modal_requires_a_note() -> None:
    value = ButtonValue(RUN, "staging", datetime.now(UTC))
    view = note_modal(value, approve=False, channel="C1", message_ts="1.2")
    view["state"] = {
        "values": {
            "decision": {"decision_input": {"selected_option": {"value": "reject"}}},
            "note": {"note_input": {"value": "  "}},
        }
    }
    assert read_note_submission(view) == {"note": "Say why it is rejected: the note goes into the run's report."}
    view["state"]["values"]["note"]["note_input"]["value"] = "not now"
    submitted = read_note_submission(view)
    assert not isinstance(submitted, dict) and submitted.note == "not now" and not submitted.approve


def test_approvers_by_member_id_or_user_group_membership() -> None:
    async def check(url: str) -> list[tuple[bool, str]]:
        web = AsyncWebClient(token="xoxb-sim-token-not-a-secret", base_url=f"{url}/slack/api/", timeout=5)
        approvers = ApproverCheck(web)
        return [
            await approvers.allowed(user, ("S0SIMPLATF1", "U0SIMLEAD01"))
            for user in ("U0SIMLEAD01", "U0SIMPLAT01", "U0SIMOTHER1")
        ]

    with Simulator() as sim:
        answers = asyncio.run(check(sim.url))
    assert answers == [
        (True, "listed as <@U0SIMLEAD01>"),
        (True, "member of <!subteam^S0SIMPLATF1>"),
        (False, "not an approver"),
    ]
