"""Who approved, and what came of it, said as it is everywhere: Slack is credited only for answers the bot recorded;
a name typed in the Prefect UI stays as typed; expired, rejected and failed are three different things in the
approval message, the run's report, its artifacts and the stakeholder words. Pure pieces, no Prefect server.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.restoration import declined_redeploy
from runbook.approval import ApprovalOutcome, classify_answer, expired
from runbook.catalog import CATALOG
from runbook.report import checks_table, status_matrix_markdown
from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Status
from runbook.slack.approval import ApprovalRequest, ServiceChange
from runbook.slack.approval_post import PostedApproval, reminder_lead_s
from runbook.slack.stakeholder_messages import stakeholder_stop_text
from tasks.stakeholder import compose_summary

LEAD = "U0SIMLEAD01"
TYPED = {"approve": True, "note": "incident 1278 fixed", "approved_by": f"<@{LEAD}>"}


# --- who approved -------------------------------------------------------------------------------------------------


def test_a_mention_typed_into_the_prefect_ui_is_not_credited_to_slack() -> None:
    outcome = classify_answer(TYPED, slack_decisions=[])
    assert (outcome.via, outcome.decision, outcome.approved_by) == (
        "prefect-ui",
        "approved in the Prefect UI",
        TYPED["approved_by"],
    )
    assert outcome.reason == f"approved in the Prefect UI by <@{LEAD}>: incident 1278 fixed"


def test_only_an_answer_the_bot_recorded_is_credited_to_slack() -> None:
    recorded = [{**TYPED, "user": LEAD, "at": "2026-12-01T10:00:00+00:00"}]
    assert classify_answer(TYPED, recorded).via == "slack"
    assert classify_answer(TYPED, recorded).decision == "approved in Slack"
    assert classify_answer({**TYPED, "note": "something else"}, recorded).via == "prefect-ui"
    assert classify_answer({**TYPED, "approve": False}, recorded).via == "prefect-ui"


def test_an_answer_whose_source_cannot_be_read_is_credited_to_no_tool() -> None:
    outcome = classify_answer(TYPED, slack_decisions=None)
    assert outcome.via == "unverified" and "in Slack" not in outcome.decision


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("chat.update", kwargs))
        return {"ok": True}

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("chat.postMessage", kwargs))
        return {"ok": True}


def posted(slack: FakeSlack, deadline_s: float = 600) -> PostedApproval:
    request = ApprovalRequest(
        "6f1c2f0e-1111-2222-3333-444455556666",
        "sim",
        (ServiceChange("backend", "backend-7", 8),),
        ("S0SIMPLATF1", LEAD),
        datetime.now(UTC) + timedelta(seconds=deadline_s),
    )
    return PostedApproval(slack, request, "C0STGDEPLOY", "1.2", "1.1", "https://sim.slack.com/archives/C/p12")


def final_text(slack: FakeSlack) -> str:
    return json.dumps([c for name, c in slack.calls if name == "chat.update"][-1]["blocks"], ensure_ascii=False)


def test_a_ui_resume_says_in_the_prefect_ui_and_shows_the_typed_name_as_typed() -> None:
    slack = FakeSlack()
    asyncio.run(posted(slack).finish(classify_answer(TYPED, [])))
    shown = final_text(slack)
    assert f"*Approved* by &lt;@{LEAD}&gt; in the Prefect UI" in shown and f"<@{LEAD}>" not in shown


def test_a_slack_resume_names_the_slack_user() -> None:
    slack = FakeSlack()
    asyncio.run(posted(slack).finish(classify_answer(TYPED, [TYPED])))
    assert f"*Approved* by <@{LEAD}> in Slack" in final_text(slack)


def test_an_expired_approval_message_says_expired() -> None:
    slack = FakeSlack()
    asyncio.run(posted(slack).finish(expired(90)))
    shown = final_text(slack)
    assert "⌛ *Expired*: approval expired: no answer within 90 s; nothing was redeployed" in shown
    assert "Rejected" not in shown


# --- a reminder in the thread before the approval expires -----------------------------------------------------------


def test_the_reminder_comes_in_the_thread_before_the_deadline_and_not_after_a_decision() -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        slack = FakeSlack()
        approval = posted(slack, deadline_s=60)
        approval.remind_in(0.05)
        await asyncio.sleep(0.2)
        reminded = [c for name, c in slack.calls if name == "chat.postMessage"]
        quiet = FakeSlack()
        decided = posted(quiet)
        decided.remind_in(0.1)
        await decided.finish(classify_answer(TYPED, [TYPED]))
        await asyncio.sleep(0.2)
        return reminded, [c for name, c in quiet.calls if name == "chat.postMessage"]

    reminded, after_decision = asyncio.run(scenario())
    assert len(reminded) == 1 and reminded[0]["thread_ts"] == "1.1"
    assert "expires" in reminded[0]["text"] and "<!subteam^S0SIMPLATF1>" in reminded[0]["text"]
    assert "<https://sim.slack.com/archives/C/p12|the approval request>" in reminded[0]["text"]
    assert after_decision == []


def test_the_reminder_comes_ten_minutes_before_or_at_three_quarters_of_a_short_wait() -> None:
    assert reminder_lead_s(3600) == 600
    assert reminder_lead_s(120) == 30


# --- the run's parent message links to the approval request ----------------------------------------------------------


def test_the_parent_message_links_to_the_approval_request_and_remembers_it() -> None:
    from runbook.slack.parent_message import Progress, new_progress, parent_message

    progress = new_progress("sim", "manual", [Phase.restoration], None, datetime.now(UTC))
    progress.approval_url = "https://sim.slack.com/archives/C0STGDEPLOY/p1732900000000200"
    context = json.dumps(parent_message(progress).payload()["blocks"][1])
    assert "<https://sim.slack.com/archives/C0STGDEPLOY/p1732900000000200|Redeploy approval request>" in context
    assert Progress.from_dict(progress.to_dict()).approval_url == progress.approval_url
    progress.approval_url = "javascript:alert(1)"  # only a Slack permalink is linked
    assert "Redeploy approval request" not in json.dumps(parent_message(progress).payload()["blocks"][1])


# --- expired / rejected / failed in the report, the artifacts and the stakeholder words ------------------------------


def redeploy_failed_after_approval() -> CheckResult:
    spec = CATALOG["redeploy"]
    approval = {"decision": "approved in Slack", "approved_by": f"<@{LEAD}>"}
    return CheckResult(
        id="redeploy",
        title=spec.title,
        phase=Phase.restoration,
        severity=spec.severity,
        status=Status.FAIL,
        summary="backend: update failed",
        evidence={"approval": approval},
    )


def report_of(check: CheckResult) -> RunReport:
    phase = PhaseResult(phase=Phase.restoration, status=PhaseStatus.failed, checks=(check,))
    skipped = PhaseResult(phase=Phase.business, status=PhaseStatus.skipped, skip_reason="restoration failed")
    return RunReport(environment="sim", started_at=datetime.now(UTC), duration_s=1.0, phases=(phase, skipped))


def test_expired_rejected_and_failed_are_titled_and_summarised_as_they_are() -> None:
    rejected = declined_redeploy(classify_answer({"approve": False, "note": "not now"}, []))
    lapsed = declined_redeploy(expired(90))
    assert (rejected.title, rejected.summary) == (
        "Redeploy rejected",
        "redeploy not done: rejected in the Prefect UI: not now",
    )
    assert (lapsed.title, lapsed.summary) == (
        "Redeploy approval expired",
        "redeploy not done: approval expired: no answer within 90 s",
    )
    assert lapsed.evidence["approval"]["status"] == "expired"
    assert "Redeploy approval expired" in status_matrix_markdown(report_of(lapsed))
    assert checks_table([report_of(lapsed).phases[0]])[0]["summary"].endswith("no answer within 90 s")


def test_the_stakeholder_words_say_rejected_or_expired_and_failed_only_when_approved() -> None:
    words = {
        "rejected": declined_redeploy(ApprovalOutcome(approved=False, decision="rejected in Slack", status="rejected")),
        "expired": declined_redeploy(expired(90)),
        "failed": redeploy_failed_after_approval(),
    }
    stop = {name: stakeholder_stop_text(report_of(check), {}, "soon") or "" for name, check in words.items()}
    assert "(Redeploy rejected)" in stop["rejected"] and "Approved redeploy" not in stop["rejected"]
    assert "(Redeploy approval expired)" in stop["expired"] and "Approved redeploy" not in stop["expired"]
    assert "(Approved redeploy failed)" in stop["failed"]
    earlier = [PhaseResult(phase=Phase.restoration, status=PhaseStatus.failed, checks=(words["expired"],))]
    summary = compose_summary("sim", earlier, [])
    assert summary.startswith("**Staging (sim) is NOT ready: Redeploy approval expired.**")
    assert "Redeploy approval expired: redeploy not done" in summary and "FAIL" not in summary
    failed = [PhaseResult(phase=Phase.restoration, status=PhaseStatus.failed, checks=(words["failed"],))]
    assert compose_summary("sim", failed, []).startswith("**Staging (sim) is NOT ready: Approved redeploy failed.**")
