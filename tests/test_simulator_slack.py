"""The simulated Slack workspace, exercised with the real slack-sdk over a real 127.0.0.1 socket.

Covers the Web API methods the reporter uses, Slack's cheap validations, incoming webhooks, every Slack fault,
and the conversation rebuilt from the request log.
"""

import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient
from starlette.applications import Starlette

from simulator.requestlog import RequestLog
from simulator.slack import conversation, render_conversation, slack_routes
from simulator.slack_state import SlackState
from tests.support import serve

pytestmark = pytest.mark.timeout(30)

TOKEN = "xoxb-sim-token-not-a-secret"
HOOK = "T0SIMTEAM01/B0SIMHOOK01/sim-webhook-not-a-secret"
SCENARIOS = Path(__file__).resolve().parents[1] / "simulator" / "scenarios"
SLACK_SCENARIOS = ["slack-rate-limited", "slack-down", "slack-invalid-auth"]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Starlette, str]]:
    """One server per module; each test mounts fresh Slack routes on it (see `url`)."""
    app = Starlette()
    with serve(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as shared:
        yield shared


@pytest.fixture
def log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def state() -> SlackState:
    return SlackState()


@pytest.fixture
def url(server: tuple[Starlette, str], state: SlackState, log: RequestLog) -> str:
    """A fresh workspace per test: messages and fault counters live in the routes, so the routes are replaced."""
    app, base = server
    app.router.routes[:] = slack_routes(state, log)
    return base


def client(url: str, token: str | None = TOKEN, **kwargs: object) -> WebClient:
    return WebClient(token=token, base_url=f"{url}/slack/api/", timeout=5, **kwargs)  # type: ignore[arg-type]


def slack_error(call: object) -> SlackApiError:
    assert callable(call)
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


# The Web API


def test_auth_test_and_conversations_list_answer_like_slack(url: str) -> None:
    web = client(url)
    identity = web.auth_test()
    assert identity["ok"] and identity["user_id"] == "U0SIMBOT01" and identity["team_id"] == "T0SIMTEAM01"
    names = {channel["name"]: channel["id"] for channel in web.conversations_list()["channels"]}
    assert names["staging-deploys"] == "C0STGDEPLOY" and "alerts-critical" in names


def test_post_thread_and_update_build_the_conversation_a_person_sees(url: str, log: RequestLog) -> None:
    web = client(url)
    parent = web.chat_postMessage(channel="#staging-deploys", text="Staging handoff: running")
    assert parent["channel"] == "C0STGDEPLOY" and parent["ts"] == "1732900000.000100"
    assert parent["message"]["text"] == "Staging handoff: running"
    again = web.chat_postMessage(channel="staging-deploys", text="second")
    assert again["channel"] == parent["channel"], "channel names map to one stable id"
    reply = web.chat_postMessage(channel=parent["channel"], thread_ts=parent["ts"], text="Phase 1 passed")
    assert reply["message"]["thread_ts"] == parent["ts"]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Staging handoff: PASSED"}}]
    updated = web.chat_update(channel=parent["channel"], ts=parent["ts"], text="Staging handoff: passed", blocks=blocks)
    assert updated["ts"] == parent["ts"]

    channels = conversation(log)
    assert [c["channel"] for c in channels] == ["#staging-deploys"]
    first = channels[0]["messages"][0]
    assert first["text"] == "Staging handoff: passed" and first["edited"] and first["blocks"] == blocks
    assert [r["text"] for r in first["replies"]] == ["Phase 1 passed"]
    assert [m["text"] for m in channels[0]["messages"]] == ["Staging handoff: passed", "second"]
    rendered = render_conversation(log)
    assert "#staging-deploys (C0STGDEPLOY)" in rendered
    assert "== Staging handoff: PASSED ==  (edited)" in rendered
    assert "    > [1732900000.000300] Phase 1 passed" in rendered
    assert all("token" not in entry.body for entry in log.entries("slack")), "tokens must not be recorded"
    assert log.entries("slack")[1].body["channel"] == "staging-deploys"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "#no-such-channel", "text": "x"}, "channel_not_found"),
        ({"channel": "#staging-deploys"}, "no_text"),
        ({"channel": "#staging-deploys", "text": ""}, "no_text"),
        ({"channel": "#staging-deploys", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        ({"channel": "#staging-deploys", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        ({"channel": "#staging-deploys", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "#staging-deploys", "text": "x", "thread_ts": "1.000001"}, "thread_not_found"),
    ],
)
def test_post_message_validates_like_slack(url: str, kwargs: dict[str, object], error: str) -> None:
    failure = slack_error(lambda: client(url).chat_postMessage(**kwargs))  # type: ignore[arg-type]
    assert failure.response["error"] == error


def test_update_needs_an_existing_message(url: str) -> None:
    failure = slack_error(lambda: client(url).chat_update(channel="#staging-deploys", ts="1.000001", text="x"))
    assert failure.response["error"] == "message_not_found"


def test_missing_or_wrong_token_is_rejected(url: str) -> None:
    assert slack_error(lambda: client(url, token=None).auth_test()).response["error"] == "not_authed"
    assert slack_error(lambda: client(url, token="xoxb-other").auth_test()).response["error"] == "invalid_auth"
    assert slack_error(lambda: client(url).api_call("chat.fly")).response["error"] == "unknown_method"


def test_form_bodies_with_token_field_and_json_encoded_blocks_are_accepted(
    url: str, log: RequestLog, http: httpx.Client
) -> None:
    form = {"token": TOKEN, "channel": "#staging-alerts", "blocks": '[{"type": "divider"}]'}
    answer = http.post(f"{url}/slack/api/chat.postMessage", data=form).json()
    assert answer["ok"] and answer["channel"] == "C0STGALERTS"
    assert log.entries("slack")[-1].body["blocks"] == [{"type": "divider"}]


# Incoming webhooks


def test_webhook_posts_to_its_channel_and_rejects_unknown_hooks_and_bad_json(
    url: str, log: RequestLog, http: httpx.Client
) -> None:
    sent = WebhookClient(f"{url}/slack/webhook/{HOOK}", timeout=5).send(text="Nightly run started")
    assert (sent.status_code, sent.body) == (200, "ok")
    unknown = WebhookClient(f"{url}/slack/webhook/T0/B0/nope", timeout=5).send(text="x")
    assert (unknown.status_code, unknown.body) == (404, "no_service")
    bad = http.post(f"{url}/slack/webhook/{HOOK}", content=b"{not json")
    assert (bad.status_code, bad.text) == (400, "invalid_payload")
    rendered = render_conversation(conversation(log))
    assert "Nightly run started  (via webhook)" in rendered and "#staging-deploys" in rendered


# Faults


def test_rate_limited_answers_429_with_retry_after(state: SlackState, url: str) -> None:
    state.rate_limited_calls = 1
    failure = slack_error(lambda: client(url).chat_postMessage(channel="#staging-deploys", text="x"))
    assert failure.response.status_code == 429 and failure.response["error"] == "ratelimited"
    assert failure.response.headers["Retry-After"] == "1"
    assert client(url).chat_postMessage(channel="#staging-deploys", text="x")["ok"], "only the first call is limited"


def test_rate_limit_retry_handler_succeeds_after_retry_after(state: SlackState, url: str, log: RequestLog) -> None:
    state.rate_limited_calls = 1
    web = client(url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    assert web.chat_postMessage(channel="#staging-deploys", text="after the limit")["ok"]
    assert time.monotonic() - started >= 1, "the handler honoured Retry-After: 1"
    assert [entry.status for entry in log.entries("slack")] == [429, 200]
    assert [m["text"] for m in conversation(log)[0]["messages"]] == ["after the limit"]


def test_rate_limited_always_defeats_the_retry_handler(state: SlackState, url: str) -> None:
    state.rate_limited_always = True
    state.retry_after_seconds = 0
    web = client(url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert slack_error(lambda: web.auth_test()).response.status_code == 429
    hook = WebhookClient(f"{url}/slack/webhook/{HOOK}", timeout=5).send(text="x")
    assert hook.status_code == 429


def test_down_answers_503_to_api_and_webhook(state: SlackState, url: str, log: RequestLog) -> None:
    state.down = True
    assert slack_error(lambda: client(url).auth_test()).response.status_code == 503
    assert WebhookClient(f"{url}/slack/webhook/{HOOK}", timeout=5).send(text="x").status_code == 503
    assert conversation(log) == []
    assert render_conversation(log) == "(no Slack messages)"


def test_invalid_auth_fault_rejects_even_the_configured_token(state: SlackState, url: str) -> None:
    state.invalid_auth = True
    assert slack_error(lambda: client(url).auth_test()).response["error"] == "invalid_auth"
    hook = WebhookClient(f"{url}/slack/webhook/{HOOK}", timeout=5).send(text="x")
    assert (hook.status_code, hook.body) == (403, "invalid_token")


def test_latency_delays_every_call(state: SlackState, url: str) -> None:
    state.latency_ms = 50
    started = time.monotonic()
    client(url).auth_test()
    assert time.monotonic() - started >= 0.05


# Scenario overlays


@pytest.mark.parametrize("name", SLACK_SCENARIOS)
def test_slack_scenario_file_is_valid_and_differs_from_healthy(name: str) -> None:
    document = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    assert document["description"]
    assert set(document) <= {"description", "slack"}
    assert SlackState.model_validate(document["slack"]) != SlackState()


def test_the_simulator_reads_back_the_conversation_it_was_sent() -> None:
    """`make demo` prints what the run posted through this read-back (not a Slack API)."""
    import httpx

    from simulator.server import Simulator

    with Simulator("healthy") as sim:
        client = httpx.Client(base_url=f"{sim.url}/slack/api/", timeout=5)
        headers = {"Authorization": "Bearer xoxb-sim-token-not-a-secret"}
        posted = client.post(
            "chat.postMessage", json={"channel": "#staging-deploys", "text": "parent"}, headers=headers
        )
        ts = posted.json()["ts"]
        client.post(
            "chat.update", json={"channel": posted.json()["channel"], "ts": ts, "text": "edited"}, headers=headers
        )
        client.post(
            "chat.postMessage", json={"channel": "#staging-deploys", "text": "reply", "thread_ts": ts}, headers=headers
        )
        text = httpx.get(f"{sim.url}/_simulator/slack/conversation", timeout=5).text
        data = httpx.get(f"{sim.url}/_simulator/slack/conversation?format=json", timeout=5).json()
    assert "#staging-deploys" in text and "edited" in text and "reply" in text and "parent" not in text
    assert data[0]["messages"][0]["replies"][0]["text"] == "reply"


def test_read_back_shows_mentions_by_name_and_whom_each_message_pings(
    url: str, log: RequestLog, state: SlackState
) -> None:
    web = client(url)
    web.chat_postMessage(channel="#staging-deploys", text="<!subteam^S0SIMINFRA1|@infra-oncall> vpc-connector FAIL")
    web.chat_postMessage(channel="#staging-deploys", text="@infra-oncall literal handle")
    web.chat_postMessage(channel="#staging-deploys", text="<!subteam^S0REPLACEINF|@infra-oncall> placeholder id")
    web.chat_postMessage(channel="#staging-deploys", text="<@U0SIMBOT01> see <#C0STGALERTS> and <http://x/r|the run>")
    web.chat_postMessage(channel="#staging-deploys", text="1 &lt; 2 &amp;&amp; <!here>")
    lines = [line.strip() for line in render_conversation(log, state.names()).splitlines()[1:]]
    assert lines == [
        "[1732900000.000100] @infra-oncall vpc-connector FAIL",
        "(pings @infra-oncall)",
        "[1732900000.000200] @infra-oncall literal handle",  # plain text in Slack: nobody is pinged
        "[1732900000.000300] @infra-oncall placeholder id",
        "(pings nobody (S0REPLACEINF is no user group or member here))",
        "[1732900000.000400] @runbook-bot see #staging-alerts and the run (http://x/r)",
        "(pings @runbook-bot)",
        "[1732900000.000500] 1 < 2 && @here",
        "(pings @here)",
    ]
    unknown_workspace = render_conversation(log)  # without the workspace's names: labels, every mention pings
    assert "(pings @infra-oncall)" in unknown_workspace and "nobody" not in unknown_workspace


def test_read_back_knows_the_people_who_click(url: str, log: RequestLog, state: SlackState) -> None:
    """local.toml's approver by member id and the platform on-call who approves are people of this workspace."""
    web = client(url)
    web.chat_postMessage(channel="#staging-deploys", text="approvers: <@U0SIMLEAD01>, approved by <@U0SIMPLAT01>")
    lines = [line.strip() for line in render_conversation(log, state.names()).splitlines()[1:]]
    assert lines == ["[1732900000.000100] approvers: @lead, approved by @alice", "(pings @lead, @alice)"]
