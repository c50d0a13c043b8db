"""What the Slack bot trusts, and what it says, with Prefect faked in memory (milliseconds; the real thing is in
test_chatops_prefect_e2e.py): a click is checked against the run in Prefect, never against the button alone; an
approver's click shows "Resuming…" at once and always gets an answer, whether Prefect is slow, down or has no such
run; what people typed is escaped and redacted; private answers go to the thread's parent.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed, Paused, Running

import runbook.slack.chatops as slack_chatops
from runbook.config.files import load_config
from runbook.slack.approval import (
    ACTION_APPROVE,
    ACTION_REJECT,
    APPROVAL_BLOCK,
    STATUS_BLOCK,
    ApprovalRequest,
    ApproverCheck,
    ButtonValue,
    ServiceChange,
    approval_message,
    refusal_key,
)
from runbook.slack.chatops import ChatOpsBot, Environment
from runbook.slack.commands import Command, parse
from runbook.slack.prefect_gateway import PAUSE_KEY, PrefectGateway

RUN = "6f1c2f0e-1111-2222-3333-444455556666"
OTHER_RUN = "7a2d3e4f-1111-2222-3333-444455556666"
GROUP = "S0PLATFORM1"
LEAD, MEMBER, OUTSIDER = "U0LEAD00001", "U0MEMBER001", "U0OUTSIDE01"
CHANNEL, PARENT_TS, MESSAGE_TS = "C0RUNBOOK1", "1700000000.000100", "1700000000.000200"
TOKEN = "xoxb-fake-bot-token-123"


class FakeWeb:
    """The bot's Slack Web API client: every call recorded; usergroups from a dict."""

    token = TOKEN

    def __init__(self, members: dict[str, list[str]] | None = None) -> None:
        self.members = members or {GROUP: [MEMBER]}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def of(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.calls.append(("usergroups.users.list", {"usergroup": usergroup}))
        return {"ok": True, "users": self.members.get(usergroup, [])}

    async def chat_postEphemeral(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("chat.postEphemeral", kwargs))
        return {"ok": True}

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("chat.update", kwargs))
        return {"ok": True}

    async def views_open(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("views.open", kwargs))
        return {"ok": True}


class FakePrefect(PrefectGateway):
    """A paused run of `environment` that recorded its approval message at (CHANNEL, MESSAGE_TS)."""

    def __init__(self, environment: str = "local", trigger: str = "manual", delay_s: float = 0.0) -> None:
        super().__init__(answer_within_s=0.5)
        self.runs: dict[str, Any] = {
            RUN: SimpleNamespace(
                id=RUN,
                name="sim · manual",
                state=Paused(pause_key=PAUSE_KEY, timeout_seconds=600),
                parameters={"environment": environment, "trigger": trigger},
            )
        }
        self.messages: dict[str, dict[str, Any]] = {
            RUN: {"channel": CHANNEL, "ts": MESSAGE_TS, "deadline": int(_in(600).timestamp()), "environment": "sim"}
        }
        self.delay_s = delay_s
        self.fail: BaseException | None = None
        self.calls: list[str] = []
        self.recorded: list[dict[str, Any]] = []
        self.resumed: list[dict[str, Any]] = []
        self.answer: dict[str, Any] | None = None
        self.finished: dict[str, Any] | None = None
        self.decisions: list[dict[str, Any]] = []
        self.cancelled: list[tuple[str, str]] = []

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail

    def run_url(self, flow_run_id: str) -> str | None:
        return f"http://prefect.test/runs/flow-run/{flow_run_id}"

    async def flow_run(self, flow_run_id: str) -> Any:
        await self._call("flow_run")
        if flow_run_id not in self.runs:
            raise ObjectNotFound(LookupError(flow_run_id))
        return self.runs[flow_run_id]

    async def approval_message(self, flow_run_id: str) -> dict[str, Any] | None:
        await self._call("approval_message")
        return self.messages.get(flow_run_id)

    async def record_decision(self, flow_run_id: str, decision: dict[str, Any]) -> None:
        await self._call("record_decision")
        self.recorded.append(decision)

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> tuple[bool, str]:
        await self._call("resume")
        self.resumed.append(run_input)
        self.runs[flow_run_id].state = Running()
        return True, ""

    async def decided(self, flow_run_id: str) -> dict[str, Any] | None:
        return self.answer

    async def outcome(self, flow_run_id: str) -> dict[str, Any] | None:
        return self.finished

    async def slack_decisions(self, flow_run_id: str) -> list[dict[str, Any]]:
        return self.decisions

    async def active_run(self, environment: str) -> Any:
        return self.runs[RUN]

    async def cancel(self, flow_run_id: str, message: str) -> str:
        self.cancelled.append((flow_run_id, message))
        return "Cancelling"


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def make_bot(
    prefect: FakePrefect | None = None, web: FakeWeb | None = None, **chatops: Any
) -> tuple[ChatOpsBot, FakeWeb, FakePrefect]:
    settings = {"approvers": [GROUP, LEAD], **chatops}
    config = load_config("local", overrides={"slack": {"chatops": settings}})
    web = web or FakeWeb()
    prefect = prefect or FakePrefect()
    return ChatOpsBot({"sim": Environment(config, "local")}, web, prefect), web, prefect


def approval_blocks(run: str = RUN, environment: str = "sim") -> list[dict[str, Any]]:
    request = ApprovalRequest(run, environment, (ServiceChange("backend", "backend-7", 8),), (GROUP, LEAD), _in(600))
    return approval_message(request)[1]


def click_payload(
    user: str, action: str = ACTION_APPROVE, *, run: str = RUN, environment: str = "sim", value: str | None = None
) -> dict[str, Any]:
    """A block_actions payload as Slack sends it: the approval message is a reply in the run's thread."""
    blocks = approval_blocks(run, environment)
    raw = value if value is not None else next(b for b in blocks if b["type"] == "actions")["elements"][0]["value"]
    return {
        "type": "block_actions",
        "user": {"id": user},
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": MESSAGE_TS, "thread_ts": PARENT_TS},
        "channel": {"id": CHANNEL, "name": "staging-deploys"},
        "message": {"ts": MESSAGE_TS, "thread_ts": PARENT_TS, "blocks": blocks},
        "trigger_id": "1.2.trigger",
        "actions": [{"action_id": action, "value": raw}],
    }


async def click(bot: ChatOpsBot, user: str, action: str = ACTION_APPROVE, **kwargs: Any) -> None:
    await bot.on_block_actions(click_payload(user, action, **kwargs))
    await bot.drain(10)


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, str]]:
    recorded: list[tuple[str, str, str, str]] = []

    async def record(flow_run_id: str, user_id: str, action: str, why: str) -> None:
        recorded.append((flow_run_id, user_id, action, why))

    monkeypatch.setattr(slack_chatops, "record_refusal", record)
    return recorded


def texts(web: FakeWeb) -> list[str]:
    return [call["text"] for call in web.of("chat.postEphemeral")]


def shown_blocks(update: dict[str, Any]) -> str:
    return json.dumps(update["blocks"], ensure_ascii=False)


# --- who may decide: member ids only ------------------------------------------------------------------------------


def test_a_user_id_equal_to_a_group_id_never_matches_the_group_directly() -> None:
    check = ApproverCheck(FakeWeb({GROUP: [MEMBER]}))
    assert asyncio.run(check.allowed(GROUP, (GROUP, LEAD)))[0] is False
    assert asyncio.run(check.allowed(MEMBER, (GROUP,))) == (True, f"member of <!subteam^{GROUP}>")
    assert asyncio.run(check.allowed("W0WORKSPACE1", ("W0WORKSPACE1",)))[0] is True


def test_the_runners_refusal_says_not_allowed_to_run() -> None:
    bot, _, _ = make_bot(runners=[LEAD])
    answer = asyncio.run(bot.start_run(OUTSIDER, Command("run", "sim"), CHANNEL))
    assert answer == "🚫 You cannot start runs of sim (not allowed to run)."


# --- the button and its container are checked against the run in Prefect --------------------------------------------


async def test_an_approver_click_resumes_the_run_after_recording_the_decision(refusals: list[Any]) -> None:
    bot, web, prefect = make_bot()
    await click(bot, MEMBER)
    answer = {"approve": True, "note": "", "approved_by": f"<@{MEMBER}>"}
    assert prefect.resumed == [answer]
    assert prefect.calls.index("record_decision") < prefect.calls.index("resume")
    assert {k: prefect.recorded[0][k] for k in answer} == answer
    updates = web.of("chat.update")
    assert "Resuming…" in shown_blocks(updates[0]) and APPROVAL_BLOCK not in shown_blocks(updates[0])
    assert f"*Approved* by <@{MEMBER}> in Slack" in shown_blocks(updates[-1])
    assert refusals == []


async def test_a_value_the_clicked_message_does_not_show_is_refused_before_prefect(refusals: list[Any]) -> None:
    bot, web, prefect = make_bot()
    forged = approval_blocks(OTHER_RUN)[-1]["elements"][0]["value"]
    await click(bot, MEMBER, value=forged)
    assert prefect.calls == [] and prefect.resumed == []
    assert texts(web) == ["🚫 This button is not on this message."]


async def test_a_button_naming_another_environment_does_not_resume_a_run_of_another(refusals: list[Any]) -> None:
    bot, web, prefect = make_bot(FakePrefect(environment="/etc/runbook/prod.toml"))
    await click(bot, MEMBER)
    assert prefect.resumed == []
    assert "validates /etc/runbook/prod.toml: nothing changed" in texts(web)[0]
    assert refusals == [(RUN, MEMBER, "approve", "button names another environment")]
    assert APPROVAL_BLOCK in shown_blocks(web.of("chat.update")[-1])  # the buttons are back


async def test_a_click_on_a_message_the_run_did_not_record_is_refused(refusals: list[Any]) -> None:
    prefect = FakePrefect()
    prefect.messages[RUN] = {**prefect.messages[RUN], "ts": "1700000000.999999"}  # the run posted another message
    bot, web, _ = make_bot(prefect)
    await click(bot, MEMBER)
    assert prefect.resumed == []
    assert texts(web) == [f"🚫 This is not the approval message of run `{RUN}`: nothing changed."]


async def test_four_eyes_the_requester_cannot_approve_but_another_approver_can(refusals: list[Any]) -> None:
    bot, web, prefect = make_bot(FakePrefect(trigger=f"slack:<@{LEAD}>"), require_second_person=True)
    await click(bot, LEAD)
    assert prefect.resumed == [] and "requires a second person" in texts(web)[0]
    assert refusals == [(RUN, LEAD, "approve", "started the run (require_second_person)")]
    await click(bot, MEMBER)
    assert prefect.resumed == [{"approve": True, "note": "", "approved_by": f"<@{MEMBER}>"}]


def test_require_second_person_is_off_by_default() -> None:
    assert load_config("local").slack.chatops is not None
    assert load_config("local").slack.chatops.require_second_person is False  # type: ignore[union-attr]


# --- Prefect slow, down, or without the run: an answer every time ---------------------------------------------------


async def test_prefect_slow_the_message_says_resuming_then_unknown_then_the_decision() -> None:
    bot, web, prefect = make_bot(FakePrefect(delay_s=0.4))  # 3 calls x 0.4 s, answer within 0.5 s
    await click(bot, MEMBER)
    updates = [shown_blocks(u) for u in web.of("chat.update")]
    assert "Resuming…" in updates[0]
    assert "Prefect did not answer within 0 s; the state is unknown" in updates[1]
    assert "http://prefect.test/runs/flow-run/" + RUN in updates[1]
    assert f"*Approved* by <@{MEMBER}> in Slack" in updates[-1]
    assert prefect.resumed and texts(web)[0].startswith("⚠️ Prefect did not answer within")
    assert texts(web)[-1] == "Prefect answered late: the run resumed with your decision."


async def test_a_second_click_while_prefect_is_asked_waits_for_the_first() -> None:
    bot, web, prefect = make_bot(FakePrefect(delay_s=0.4))
    first = asyncio.create_task(click(bot, MEMBER))
    await asyncio.sleep(0.1)
    await click(bot, LEAD)
    await first
    await bot.drain(10)
    assert len(prefect.resumed) == 1
    assert any(t.startswith(f"⏳ A decision by <@{MEMBER}> is on its way to Prefect") for t in texts(web))


async def test_prefect_unreachable_is_said_at_once_and_the_buttons_come_back() -> None:
    prefect = FakePrefect()
    prefect.fail = httpx.ConnectError("All connection attempts failed")
    bot, web, _ = make_bot(prefect)
    await click(bot, MEMBER)
    assert texts(web) == [
        "⚠️ Prefect is unreachable (ConnectError): nothing changed and the run still waits. Try again when Prefect "
        "is back."
    ]
    assert APPROVAL_BLOCK in shown_blocks(web.of("chat.update")[-1])


async def test_a_run_that_does_not_exist_gets_an_answer() -> None:
    bot, web, prefect = make_bot()
    del prefect.runs[RUN]
    await click(bot, MEMBER)
    assert texts(web) == [
        f"🚫 Run `{RUN}` does not exist in Prefect (deleted, or on another server): nothing to approve."
    ]


# --- what the clicker is told: said as it is, escaped, redacted, in the thread -------------------------------------


async def test_already_decided_in_the_ui_escapes_the_note_and_redacts_tokens() -> None:
    prefect = FakePrefect()
    prefect.runs[RUN].state = Completed()
    prefect.answer = {
        "approve": False,
        "note": "<!channel> see <https://evil.example|the docs> with xoxb-123-secret",
        "approved_by": f"<@{LEAD}>",  # typed into the Prefect UI: not a Slack identity
    }
    bot, web, _ = make_bot(prefect)
    await click(bot, MEMBER)
    (told,) = texts(web)
    assert told == (
        f"Already decided: rejected by &lt;@{LEAD}&gt; in the Prefect UI (&lt;!channel&gt; see "
        "&lt;https://evil.example|the docs&gt; with [redacted]). Nothing changed."
    )


async def test_already_decided_from_slack_names_the_slack_user() -> None:
    prefect = FakePrefect()
    prefect.runs[RUN].state = Completed()
    prefect.answer = {"approve": True, "note": "", "approved_by": f"<@{LEAD}>"}
    prefect.decisions = [{"approve": True, "note": "", "approved_by": f"<@{LEAD}>", "user": LEAD}]
    bot, web, _ = make_bot(prefect)
    await click(bot, MEMBER)
    assert texts(web) == [f"Already decided: approved by <@{LEAD}> in Slack. Nothing changed."]


async def test_an_expired_approval_is_said_expired_not_rejected() -> None:
    prefect = FakePrefect()
    prefect.runs[RUN].state = Completed()
    prefect.answer = {"approve": False, "note": "approval expired: no answer within 90 s", "approved_by": ""}
    prefect.finished = {"approved": False, "decision": "approval expired: no answer within 90 s", "status": "expired"}
    bot, web, _ = make_bot(prefect)
    await click(bot, MEMBER)
    assert texts(web) == ["⌛ This approval expired (approval expired: no answer within 90 s): nothing changed."]


async def test_the_decision_block_redacts_tokens_in_the_note(monkeypatch: pytest.MonkeyPatch) -> None:
    bot, web, _ = make_bot()
    payload = click_payload(MEMBER, ACTION_REJECT)
    await bot.on_block_actions(payload)  # opens the modal; the note comes with the submission
    view = web.of("views.open")[0]["view"]
    view["state"] = {
        "values": {
            "decision": {"decision_input": {"selected_option": {"value": "reject"}}},
            "note": {"note_input": {"value": f"token {TOKEN} and xapp-1-A0-secret <!here>"}},
        }
    }
    await bot.note_submitted(MEMBER, slack_chatops.read_note_submission(view))  # type: ignore[arg-type]
    final = shown_blocks(web.of("chat.update")[-1])
    assert TOKEN not in final and "xapp-1" not in final and "&lt;!here&gt;" in final and "[redacted]" in final


async def test_private_answers_go_to_the_threads_parent_not_the_reply(refusals: list[Any]) -> None:
    bot, web, _ = make_bot()
    await click(bot, OUTSIDER)
    (refusal,) = web.of("chat.postEphemeral")
    assert refusal["thread_ts"] == PARENT_TS


async def test_the_note_modal_keeps_the_thread_for_its_answer(refusals: list[Any]) -> None:
    bot, web, _ = make_bot()
    await bot.on_block_actions(click_payload(MEMBER, ACTION_REJECT))
    metadata = json.loads(web.of("views.open")[0]["view"]["private_metadata"])
    assert (metadata["ts"], metadata["thread"]) == (MESSAGE_TS, PARENT_TS)


# --- smaller: refusals bounded, envelopes acked, null text --------------------------------------------------------


async def test_refused_clicks_record_one_input_per_user_action_and_run(refusals: list[Any]) -> None:
    bot, _, _ = make_bot()
    for _ in range(5):
        await click(bot, OUTSIDER)
    await click(bot, OUTSIDER, ACTION_REJECT)
    assert refusals == [
        (RUN, OUTSIDER, ACTION_APPROVE, "not an approver"),
        (RUN, OUTSIDER, ACTION_REJECT, "not an approver"),
    ]


def test_a_refusal_key_is_one_per_user_and_action_and_a_valid_prefect_key() -> None:
    assert refusal_key(OUTSIDER, ACTION_APPROVE) == "runbook-chatops-refusal-u0outside01-runbook-approve"
    assert refusal_key(OUTSIDER, ACTION_APPROVE) == refusal_key(OUTSIDER, ACTION_APPROVE)


class SocketClient:
    def __init__(self) -> None:
        self.responses: list[Any] = []

    async def send_socket_mode_response(self, response: Any) -> None:
        self.responses.append(response)


async def test_an_envelope_without_a_payload_is_acked() -> None:
    bot, _, _ = make_bot()
    client = SocketClient()
    await bot.on_message(client, {"envelope_id": "env-1", "type": "interactive"}, "{}")
    await bot.on_message(client, {"type": "hello"}, "{}")  # not an envelope: nothing to ack
    assert [r.envelope_id for r in client.responses] == ["env-1"]


def test_a_null_slash_text_is_not_echoed_as_none() -> None:
    bot, _, _ = make_bot()
    ack, work = bot.on_slash_command({"text": None, "user_id": LEAD, "channel_id": CHANNEL})
    assert work is None and ack is not None and "None" not in ack["text"] and "/runbook run ENV" in ack["text"]


# --- /runbook cancel -------------------------------------------------------------------------------------------


def test_cancel_is_a_command_of_one_environment() -> None:
    assert parse("cancel sim", ("sim",)) == Command("cancel", "sim")


async def test_cancel_cancels_the_active_run_and_is_authorized_like_runners() -> None:
    bot, _, prefect = make_bot(runners=[LEAD])
    refused = await bot.cancel(OUTSIDER, "sim")
    assert refused == "🚫 You cannot cancel runs of sim (not allowed to run)." and prefect.cancelled == []
    answer = await bot.cancel(LEAD, "sim")
    assert prefect.cancelled == [(RUN, f"cancelled from Slack by <@{LEAD}>")]
    assert answer.startswith("🛑 *sim · manual* was Paused, now Cancelling")


def test_a_run_started_from_the_runbook_channel_posts_its_message_there() -> None:
    class Starter(FakePrefect):
        async def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
            self.started = parameters
            return SimpleNamespace(name="sim · slack", id=RUN)

    bot, _, prefect = make_bot(Starter())
    redeploy = Command("run", "sim", parse("run sim restoration redeploy", ("sim",)).phases, True)
    from_runbook = asyncio.run(bot.start_run(LEAD, redeploy, "C0STGDEPLOY", "staging-deploys"))
    assert prefect.started["slack_channel"] == ""  # type: ignore[attr-defined]
    assert "approval request goes to the approvers in the thread" in from_runbook
    elsewhere = asyncio.run(bot.start_run(LEAD, redeploy, "C0RANDOM01", "random"))
    assert prefect.started["slack_channel"] == "C0RANDOM01"  # type: ignore[attr-defined]
    assert "in #staging-deploys, linked from it" in elsewhere


def test_a_status_line_replaces_only_the_bots_own_line() -> None:
    bot, web, _ = make_bot()
    bot._remember((CHANNEL, MESSAGE_TS), approval_blocks())
    asyncio.run(bot.show_status(CHANNEL, MESSAGE_TS, "first", buttons=False))
    asyncio.run(bot.show_status(CHANNEL, MESSAGE_TS, "second", buttons=True))
    last = web.of("chat.update")[-1]["blocks"]
    assert [b.get("block_id") for b in last].count(STATUS_BLOCK) == 1 and "second" in json.dumps(last)
    assert last[-1]["block_id"] == APPROVAL_BLOCK


def test_button_values_still_read_back() -> None:
    value = ButtonValue(RUN, "sim", datetime(2026, 12, 1, tzinfo=UTC))
    assert ButtonValue.parse(value.raw()) == value
