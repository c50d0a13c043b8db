"""Who may decide a redeploy and who may start runs from Slack, at the edges: failed lookups, the cache, `runners`.

A fake Slack client stands in for `usergroups.users.list` (the wire format is the simulator's business, tested in
test_slack_bot.py): these run in milliseconds, so `make mutate` reruns them for every mutant of the authorization.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

import runbook.slack.approval as approval
import runbook.slack.chatops as slack_chatops
from runbook.config.files import load_config
from runbook.results import Phase
from runbook.slack.approval import (
    ACTION_APPROVE,
    DECISION_ACTION,
    DECISION_BLOCK,
    GROUP_CACHE_S,
    NOTE_ACTION,
    NOTE_BLOCK,
    NOTE_MAX,
    ApproverCheck,
    ButtonValue,
    mention,
    read_note_submission,
)
from runbook.slack.chatops import ChatOpsBot, Environment
from runbook.slack.commands import Command
from runbook.slack.prefect_gateway import PrefectGateway

RUN = "6f1c2f0e-1111-2222-3333-444455556666"
GROUP, OTHER_GROUP = "S0PLATFORM1", "S0INFRAOPS1"
LEAD, MEMBER, OUTSIDER = "U0LEAD00001", "U0MEMBER001", "U0OUTSIDE01"


class FakeSlack:
    """usergroups.users.list from a dict; groups in `failing` answer an error; every call is recorded."""

    def __init__(self, members: dict[str, list[str]], failing: dict[str, BaseException] | None = None) -> None:
        self.members = members
        self.failing = failing or {}
        self.lookups: list[str] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.hang = False

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.lookups.append(usergroup)
        if self.hang:
            await asyncio.sleep(10)
        if usergroup in self.failing:
            raise self.failing[usergroup]
        return {"ok": True, "users": self.members.get(usergroup, [])}

    async def chat_postEphemeral(self, **kwargs: Any) -> dict[str, Any]:
        self.ephemerals.append(kwargs)
        return {"ok": True}


def slack_error(code: str) -> SlackApiError:
    return SlackApiError(code, {"ok": False, "error": code})


def allowed(check: ApproverCheck, user: str, approvers: tuple[str, ...]) -> tuple[bool, str]:
    return asyncio.run(check.allowed(user, approvers))


# --- ApproverCheck ----------------------------------------------------------------------------------------------


def test_a_listed_member_is_allowed_without_any_lookup() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    assert allowed(ApproverCheck(slack), LEAD, (GROUP, LEAD)) == (True, f"listed as <@{LEAD}>")
    assert slack.lookups == []


def test_a_group_member_is_allowed_and_told_which_group_let_them_in() -> None:
    slack = FakeSlack({OTHER_GROUP: [LEAD], GROUP: [MEMBER]})
    assert allowed(ApproverCheck(slack), MEMBER, (OTHER_GROUP, GROUP)) == (True, f"member of <!subteam^{GROUP}>")
    assert slack.lookups == [OTHER_GROUP, GROUP]


def test_someone_in_no_group_and_not_listed_is_not_an_approver() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    assert allowed(ApproverCheck(slack), OUTSIDER, (GROUP, LEAD)) == (False, "not an approver")


def test_member_ids_are_never_looked_up_as_groups() -> None:
    slack = FakeSlack({})
    assert allowed(ApproverCheck(slack), OUTSIDER, (LEAD, "W0WORKSPACE1")) == (False, "not an approver")
    assert slack.lookups == []


def test_a_failed_group_lookup_refuses_and_says_which_group_and_why() -> None:
    slack = FakeSlack({GROUP: [MEMBER]}, failing={GROUP: slack_error("missing_scope")})
    assert allowed(ApproverCheck(slack), MEMBER, (GROUP,)) == (
        False,
        f"user-group lookup failed ({GROUP}: SlackApiError)",
    )


def test_every_failed_lookup_is_named_when_none_let_the_user_in() -> None:
    failing = {GROUP: slack_error("ratelimited"), OTHER_GROUP: ConnectionResetError()}
    slack = FakeSlack({}, failing=failing)
    assert allowed(ApproverCheck(slack), MEMBER, (GROUP, LEAD, OTHER_GROUP)) == (
        False,
        f"user-group lookup failed ({GROUP}: SlackApiError, {OTHER_GROUP}: ConnectionResetError)",
    )


def test_a_failed_lookup_of_one_group_does_not_refuse_a_member_of_another() -> None:
    slack = FakeSlack({OTHER_GROUP: [MEMBER]}, failing={GROUP: slack_error("internal_error")})
    assert allowed(ApproverCheck(slack), MEMBER, (GROUP, OTHER_GROUP)) == (True, f"member of <!subteam^{OTHER_GROUP}>")


def test_a_lookup_that_does_not_answer_in_time_refuses() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    slack.hang = True
    check = ApproverCheck(slack, timeout_s=0.05)
    assert allowed(check, MEMBER, (GROUP,)) == (False, f"user-group lookup failed ({GROUP}: TimeoutError)")


def test_a_failed_lookup_is_not_cached_the_next_click_asks_again() -> None:
    slack = FakeSlack({GROUP: [MEMBER]}, failing={GROUP: slack_error("internal_error")})
    check = ApproverCheck(slack)
    assert allowed(check, MEMBER, (GROUP,))[0] is False
    del slack.failing[GROUP]
    assert allowed(check, MEMBER, (GROUP,)) == (True, f"member of <!subteam^{GROUP}>")
    assert slack.lookups == [GROUP, GROUP]


def test_an_answer_without_users_is_an_empty_group() -> None:
    class NoUsers(FakeSlack):
        async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
            self.lookups.append(usergroup)
            return {"ok": True}

    assert allowed(ApproverCheck(NoUsers({})), MEMBER, (GROUP,)) == (False, "not an approver")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(approval.time, "monotonic", clock)
    return clock


def test_group_members_are_cached_for_a_minute_then_looked_up_again(clock: Clock) -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    check = ApproverCheck(slack)
    assert allowed(check, MEMBER, (GROUP,))[0] is True
    slack.members[GROUP] = []  # removed from the group in Slack
    clock.now += GROUP_CACHE_S - 0.01
    assert allowed(check, MEMBER, (GROUP,))[0] is True  # still cached: one lookup so far
    assert slack.lookups == [GROUP]
    clock.now += 0.01  # exactly a minute after the lookup: expired
    assert allowed(check, MEMBER, (GROUP,)) == (False, "not an approver")
    assert slack.lookups == [GROUP, GROUP]
    clock.now += GROUP_CACHE_S / 2
    assert allowed(check, MEMBER, (GROUP,)) == (False, "not an approver")  # the new answer is cached in turn
    assert slack.lookups == [GROUP, GROUP]


def test_the_cache_is_per_group(clock: Clock) -> None:
    slack = FakeSlack({GROUP: [], OTHER_GROUP: [MEMBER]})
    check = ApproverCheck(slack)
    assert allowed(check, MEMBER, (GROUP,))[0] is False
    assert allowed(check, MEMBER, (OTHER_GROUP,))[0] is True
    assert allowed(check, MEMBER, (GROUP, OTHER_GROUP))[0] is True
    assert slack.lookups == [GROUP, OTHER_GROUP]


def test_the_group_cache_lasts_one_minute() -> None:
    assert GROUP_CACHE_S == 60.0


def test_mentions_ping_groups_and_members() -> None:
    assert mention(GROUP) == f"<!subteam^{GROUP}>"
    assert mention(LEAD) == f"<@{LEAD}>"
    assert mention("W0WORKSPACE1") == "<@W0WORKSPACE1>"


# --- the button's value and the note form -----------------------------------------------------------------------


def test_a_button_value_reads_back_the_run_environment_and_deadline() -> None:
    deadline = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    value = ButtonValue.parse(json.dumps({"run": RUN.upper(), "env": "staging", "deadline": int(deadline.timestamp())}))
    assert value == ButtonValue(RUN, "staging", deadline)
    assert ButtonValue.parse(value.raw()) == value


@pytest.mark.parametrize(
    "raw",
    [
        '["run", "env", "deadline"]',
        json.dumps({"run": RUN, "env": "staging"}),
        json.dumps({"run": RUN, "deadline": 1}),
        json.dumps({"env": "staging", "deadline": 1}),
        json.dumps({"run": "not-a-uuid", "env": "staging", "deadline": 1}),
        "not json",
    ],
)
def test_a_value_that_is_not_ours_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        ButtonValue.parse(raw)


def test_a_foreign_value_names_what_was_found_in_its_first_80_characters() -> None:
    with pytest.raises(ValueError, match=r"^expected a runbook approval value, found '\[1, 2\]'$"):
        ButtonValue.parse("[1, 2]")
    long = json.dumps(list(range(100)))
    with pytest.raises(ValueError) as raised:
        ButtonValue.parse(long)
    assert str(raised.value) == f"expected a runbook approval value, found {long[:80]!r}"


def submitted_view(decision: str | None, note: str | None, metadata: Any = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if decision is not None:
        values[DECISION_BLOCK] = {DECISION_ACTION: {"selected_option": {"value": decision}}}
    if note is not None:
        values[NOTE_BLOCK] = {NOTE_ACTION: {"value": note}}
    if metadata is None:
        value = ButtonValue(RUN, "staging", datetime(2026, 12, 1, tzinfo=UTC)).raw()
        metadata = json.dumps({"value": value, "channel": "C0RUNBOOK1", "ts": "1700000000.000100"})
    return {"state": {"values": values}, "private_metadata": metadata}


def test_an_approval_with_a_note_reads_the_run_the_message_and_the_note_squeezed() -> None:
    submission = read_note_submission(submitted_view("approve", "  looks   good\n now "))
    assert not isinstance(submission, dict)
    assert (submission.approve, submission.note, submission.channel, submission.message_ts) == (
        True,
        "looks good now",
        "C0RUNBOOK1",
        "1700000000.000100",
    )
    assert submission.value.flow_run_id == RUN and submission.value.environment == "staging"


def test_an_approval_needs_no_note_but_a_rejection_does() -> None:
    approved = read_note_submission(submitted_view("approve", None))
    assert not isinstance(approved, dict) and approved.approve and approved.note == ""
    assert read_note_submission(submitted_view("reject", " \n ")) == {
        NOTE_BLOCK: "Say why it is rejected: the note goes into the run's report."
    }
    rejected = read_note_submission(submitted_view("reject", "not during the demo"))
    assert not isinstance(rejected, dict) and not rejected.approve and rejected.note == "not during the demo"


@pytest.mark.parametrize("decision", [None, "maybe", ""])
def test_a_submission_without_a_decision_asks_for_one(decision: str | None) -> None:
    assert read_note_submission(submitted_view(decision, "note")) == {DECISION_BLOCK: "Choose approve or reject."}


def test_a_selected_option_that_is_not_an_object_is_no_decision() -> None:
    view = submitted_view(None, "note")
    view["state"]["values"][DECISION_BLOCK] = {DECISION_ACTION: {"selected_option": "approve"}}
    assert read_note_submission(view) == {DECISION_BLOCK: "Choose approve or reject."}


def test_a_form_without_a_channel_still_decides_with_no_channel() -> None:
    value = ButtonValue(RUN, "staging", datetime(2026, 12, 1, tzinfo=UTC)).raw()
    submission = read_note_submission(submitted_view("approve", "", json.dumps({"value": value, "ts": "1.2"})))
    assert not isinstance(submission, dict) and (submission.channel, submission.message_ts) == ("", "1.2")


def test_the_note_may_be_exactly_the_limit_but_not_longer() -> None:
    at_limit = read_note_submission(submitted_view("approve", "x" * NOTE_MAX))
    assert not isinstance(at_limit, dict) and len(at_limit.note) == NOTE_MAX
    assert read_note_submission(submitted_view("approve", "x" * (NOTE_MAX + 1))) == {
        NOTE_BLOCK: f"At most {NOTE_MAX} characters (found {NOTE_MAX + 1})."
    }


@pytest.mark.parametrize("metadata", ["", "{}", '{"value": "[1]", "ts": "1.2"}', "not json", '{"ts": "1.2"}'])
def test_a_form_not_from_runbook_is_refused(metadata: str) -> None:
    assert read_note_submission(submitted_view("approve", "", metadata)) == {
        DECISION_BLOCK: "This form is not from runbook; open it again from the approval message."
    }


# --- the bot: who may decide a redeploy, who may start a run ------------------------------------------------------


class FakePrefect(PrefectGateway):
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    async def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
        self.started.append((deployment, parameters))

        class Run:
            name = "staging · slack"
            id = RUN

        return Run()


def chatops_bot(slack: FakeSlack, runners: tuple[str, ...] = (), approvers: tuple[str, ...] = (GROUP, LEAD)) -> Any:
    chatops = {"approvers": list(approvers), "runners": list(runners)}
    config = load_config("local", overrides={"slack": {"chatops": chatops}})
    return ChatOpsBot({"staging": Environment(config, "local")}, slack, FakePrefect())


RUN_ALL = Command("run", "staging", tuple(Phase))


def test_without_runners_anyone_may_start_a_run_and_no_lookup_is_made() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    chatops = chatops_bot(slack)
    answer = asyncio.run(chatops.start_run(OUTSIDER, RUN_ALL, "C0RUNBOOK1"))
    assert answer == (
        "Started *staging · slack* (infrastructure, restoration, business): its message will appear in this channel. "
        f"Run id `{RUN}`."
    )
    assert chatops.prefect.started == [
        (
            "staging-handoff/manual",
            {
                "environment": "local",
                "phases": ["infrastructure", "restoration", "business"],
                "redeploy": False,
                "trigger": f"slack:<@{OUTSIDER}>",
                "slack_channel": "C0RUNBOOK1",
            },
        )
    ]
    assert slack.lookups == []


def test_a_listed_runner_or_runner_group_member_may_start_a_run() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    chatops = chatops_bot(slack, runners=(GROUP, LEAD))
    assert asyncio.run(chatops.start_run(LEAD, RUN_ALL, "C1")).startswith("Started ")
    assert asyncio.run(chatops.start_run(MEMBER, RUN_ALL, "C1")).startswith("Started ")
    assert len(chatops.prefect.started) == 2


def test_someone_not_in_runners_is_refused_and_nothing_starts() -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    chatops = chatops_bot(slack, runners=(GROUP, LEAD))
    answer = asyncio.run(chatops.start_run(OUTSIDER, RUN_ALL, "C1"))
    assert answer == "🚫 You cannot start runs of staging (not allowed to run)."
    assert chatops.prefect.started == []


def test_a_failed_runner_group_lookup_refuses_the_run() -> None:
    slack = FakeSlack({}, failing={GROUP: slack_error("missing_scope")})
    chatops = chatops_bot(slack, runners=(GROUP,))
    answer = asyncio.run(chatops.start_run(MEMBER, RUN_ALL, "C1"))
    assert answer == f"🚫 You cannot start runs of staging (user-group lookup failed ({GROUP}: SlackApiError))."
    assert chatops.prefect.started == []


def test_an_environment_the_bot_does_not_serve_starts_nothing() -> None:
    chatops = chatops_bot(FakeSlack({}))
    answer = asyncio.run(chatops.start_run(LEAD, Command("run", "prod", tuple(Phase)), "C1"))
    assert answer == "This bot does not serve prod."
    assert chatops.prefect.started == []


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, str]]:
    recorded: list[tuple[str, str, str, str]] = []

    async def record(flow_run_id: str, user_id: str, action: str, why: str) -> None:
        recorded.append((flow_run_id, user_id, action, why))

    monkeypatch.setattr(slack_chatops, "record_refusal", record)
    return recorded


def button(environment: str = "staging") -> ButtonValue:
    return ButtonValue(RUN, environment, datetime.now(UTC) + timedelta(minutes=10))


def test_a_failed_approver_group_lookup_refuses_the_click_and_records_it(refusals: list[Any]) -> None:
    slack = FakeSlack({GROUP: [MEMBER]}, failing={GROUP: slack_error("missing_scope")})
    chatops = chatops_bot(slack)
    assert asyncio.run(chatops.authorize(MEMBER, button(), "C1", "1.2", ACTION_APPROVE)) is None
    why = f"user-group lookup failed ({GROUP}: SlackApiError)"
    assert refusals == [(RUN, MEMBER, ACTION_APPROVE, why)]
    (told,) = slack.ephemerals
    assert (told["channel"], told["user"], told["thread_ts"]) == ("C1", MEMBER, "1.2")
    assert told["text"] == (
        f"🚫 You cannot approve or reject redeploys of staging ({why}). Approvers: <!subteam^{GROUP}>, <@{LEAD}>. "
        "Your attempt is recorded in the run's report."
    )


def test_an_approver_click_is_authorized_for_its_environment(refusals: list[Any]) -> None:
    slack = FakeSlack({GROUP: [MEMBER]})
    chatops = chatops_bot(slack)
    environment = asyncio.run(chatops.authorize(MEMBER, button(), "C1", "1.2", ACTION_APPROVE))
    assert environment is chatops.environments["staging"]
    assert refusals == [] and slack.ephemerals == []


def test_a_runner_is_not_an_approver(refusals: list[Any]) -> None:
    slack = FakeSlack({})
    chatops = chatops_bot(slack, runners=(OUTSIDER,), approvers=(LEAD,))
    assert asyncio.run(chatops.authorize(OUTSIDER, button(), "C1", "1.2", ACTION_APPROVE)) is None
    assert refusals == [(RUN, OUTSIDER, ACTION_APPROVE, "not an approver")]


def test_a_click_for_an_environment_the_bot_does_not_serve_is_refused_unrecorded(refusals: list[Any]) -> None:
    slack = FakeSlack({})
    chatops = chatops_bot(slack)
    assert asyncio.run(chatops.authorize(LEAD, button("prod"), "C1", "1.2", ACTION_APPROVE)) is None
    assert slack.ephemerals == [
        {
            "channel": "C1",
            "user": LEAD,
            "text": "This bot does not serve prod (no [slack.chatops] for it here).",
            "thread_ts": "1.2",
        }
    ]
    assert refusals == []


def test_a_redeploy_run_says_it_will_ask_the_approvers() -> None:
    chatops = chatops_bot(FakeSlack({}))
    command = Command("run", "staging", (Phase.restoration,), redeploy=True)
    assert asyncio.run(chatops.start_run(LEAD, command, "C1")) == (
        "Started *staging · slack* (restoration) with a redeploy (its approval request goes to the approvers in "
        f"#staging-deploys, linked from it): its message will appear in this channel. Run id `{RUN}`."
    )
    assert chatops.prefect.started[0][1]["redeploy"] is True


def test_a_run_prefect_refuses_to_start_says_why_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(FakePrefect):
        async def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
            raise LookupError("deployment staging-handoff/manual not found " + "x" * 300)

    chatops = chatops_bot(FakeSlack({}))
    chatops.prefect = Refusing()
    with caplog.at_level("WARNING", logger=slack_chatops.logger.name):
        answer = asyncio.run(chatops.start_run(LEAD, RUN_ALL, "C1"))
    detail = "deployment staging-handoff/manual not found " + "x" * 300
    assert answer == f"Could not start staging-handoff/manual: LookupError: {detail[:200]}"
    assert [r.getMessage() for r in caplog.records] == [f"run of staging-handoff/manual not started: {detail}"]


def test_a_refused_click_is_logged_with_the_action_user_run_and_why(
    refusals: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    chatops = chatops_bot(FakeSlack({}))
    with caplog.at_level("WARNING", logger=slack_chatops.logger.name):
        asyncio.run(chatops.authorize(OUTSIDER, button(), "C1", "1.2", ACTION_APPROVE))
    assert [r.getMessage() for r in caplog.records] == [
        f"refused {ACTION_APPROVE} by {OUTSIDER} on run {RUN}: not an approver"
    ]


def test_a_run_started_from_the_runbook_channel_keeps_its_message_there() -> None:
    chatops = chatops_bot(FakeSlack({}))
    command = Command("run", "staging", (Phase.restoration,), redeploy=True)
    answer = asyncio.run(chatops.start_run(LEAD, command, "C0RUNBOOK1", channel_name="staging-deploys"))
    assert answer == (
        "Started *staging · slack* (restoration) with a redeploy (its approval request goes to the approvers in the "
        f"thread): its message will appear in this channel. Run id `{RUN}`."
    )
    assert chatops.prefect.started[0][1]["slack_channel"] == ""
    asyncio.run(chatops.start_run(LEAD, command, "C0OTHER001", channel_name="elsewhere"))
    assert chatops.prefect.started[1][1]["slack_channel"] == "C0OTHER001"


def test_with_four_eyes_a_redeploy_says_someone_else_approves() -> None:
    chatops_config = {"approvers": [GROUP], "require_second_person": True}
    config = load_config("local", overrides={"slack": {"chatops": chatops_config}})
    chatops = ChatOpsBot({"staging": Environment(config, "local")}, FakeSlack({}), FakePrefect())
    command = Command("run", "staging", (Phase.restoration,), redeploy=True)
    assert " with a redeploy (its approval request goes to the approvers (someone other than you) in " in (
        asyncio.run(chatops.start_run(LEAD, command, "C1"))
    )


def test_a_refused_person_clicking_on_is_recorded_once_per_run_and_action(refusals: list[Any]) -> None:
    chatops = chatops_bot(FakeSlack({}))
    for action in (ACTION_APPROVE, ACTION_APPROVE, "runbook_reject"):
        assert asyncio.run(chatops.authorize(OUTSIDER, button(), "C1", "1.2", action)) is None
    assert refusals == [
        (RUN, OUTSIDER, ACTION_APPROVE, "not an approver"),
        (RUN, OUTSIDER, "runbook_reject", "not an approver"),
    ]


def test_a_note_form_answers_in_its_thread_or_else_under_the_message() -> None:
    value = ButtonValue(RUN, "staging", datetime(2026, 12, 1, tzinfo=UTC)).raw()
    threaded = json.dumps({"value": value, "channel": "C1", "ts": "1.2", "thread": "1.0"})
    submission = read_note_submission(submitted_view("approve", "", threaded))
    assert not isinstance(submission, dict) and (submission.message_ts, submission.thread_ts) == ("1.2", "1.0")
    unthreaded = read_note_submission(submitted_view("approve", "", json.dumps({"value": value, "ts": "1.2"})))
    assert not isinstance(unthreaded, dict) and unthreaded.thread_ts == "1.2"


def test_remembered_refusals_are_forgotten_once_they_reach_the_limit(refusals: list[Any]) -> None:
    chatops = chatops_bot(FakeSlack({}))
    chatops._refused = {(f"run-{n}", OUTSIDER, ACTION_APPROVE) for n in range(slack_chatops.MAX_REMEMBERED - 1)}
    asyncio.run(chatops.record_refused("run-a", OUTSIDER, ACTION_APPROVE, "not an approver"))
    assert len(chatops._refused) == slack_chatops.MAX_REMEMBERED  # at the limit: kept
    asyncio.run(chatops.record_refused("run-b", OUTSIDER, ACTION_APPROVE, "not an approver"))
    assert chatops._refused == {("run-b", OUTSIDER, ACTION_APPROVE)}  # reached it: forgotten, then this one
    assert [r[0] for r in refusals] == ["run-a", "run-b"]
