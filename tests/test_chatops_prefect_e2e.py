"""ChatOps against a real Prefect that is slow, down, or asked about a run it does not have; approvals resumed from
the Prefect UI, and approvals that expire. The bot (slack-sdk's Socket Mode client) reaches Prefect through a
loopback proxy that delays every request, or through a closed port; the paused handoff run and the test harness's
server are real.

  slow:     "Resuming…" on the message at once, "Prefect did not answer …; the state is unknown" with the run's link,
            then the decision once Prefect answers (the run credits Slack: the bot recorded its decision);
  down:     the click is answered at once (unreachable, nothing changed, the buttons back); a run that does not exist
            is answered too; a UI resume typed "<@U…>" is reported "in the Prefect UI", the name as typed; the run
            started from another channel asks in the runbook channel, with links both ways;
  expired:  the message says expired, a late click is told expired (not "rejected by someone in the Prefect UI");
  cancel:   `/runbook cancel` cancels the environment's active run.
"""

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flows.handoff import staging_handoff
from runbook.parameters import HandoffParameters
from runbook.results import RunReport, Status
from runbook.slack.approval import APPROVAL_BLOCK, STATUS_BLOCK, ApprovalRequest, ServiceChange, approval_message
from runbook.slack.prefect_gateway import PrefectGateway
from simulator.server import Simulator
from tests.support import env_file_for, serve
from tests.test_chatops_e2e import Bot, act, events

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(300)]

FAST = {"timeouts": {"e2e_s": 10, "readiness_s": 10, "health_s": 5}}
MEMBER, LEAD = "U0SIMPLAT01", "U0SIMLEAD01"
TOKEN = "xoxb-sim-token-not-a-secret"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, Path]]:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-sim-app-token-not-a-secret")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    with Simulator("healthy") as sim:
        yield sim, env_file_for(sim, tmp_path, FAST)


class SlowProxy:
    """Prefect's API behind a loopback proxy that waits `delay_s` before forwarding each request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/api")
        self.delay_s = 0.0
        self.requests = 0

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            self.requests += 1
            await asyncio.sleep(self.delay_s)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with httpx.AsyncClient(timeout=60) as client:
                answer = await client.request(
                    request.method,
                    f"{self.upstream}{request.url.path}",
                    params=request.query_params,
                    content=await request.body(),
                    headers=headers,
                )
            drop = ("content-length", "content-encoding", "transfer-encoding", "connection")
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in drop}
            return Response(answer.content, status_code=answer.status_code, headers=kept)

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@contextlib.contextmanager
def slow_prefect() -> Iterator[tuple[SlowProxy, str]]:
    from prefect.settings import PREFECT_API_URL

    proxy = SlowProxy(str(PREFECT_API_URL.value()))
    with serve(proxy.app()) as url:
        yield proxy, f"{url}/api"


def closed_port_url() -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    return f"http://127.0.0.1:{port}/api"


async def run_handoff(env_file: Path, **parameters: Any) -> tuple[Any, RunReport | None]:
    flat = HandoffParameters(
        environment=str(env_file), phases=["restoration"], redeploy=True, approval_timeout_s=120, **parameters
    ).flow_kwargs()
    state = await staging_handoff(**flat, return_state=True)  # type: ignore[call-overload]
    data = await state.aresult(raise_on_failure=False)
    return state, data if isinstance(data, RunReport) else None


def messages(sim: Simulator) -> list[dict[str, Any]]:
    """Every message (parents and replies) with its channel, final blocks and the thread it is in."""
    from simulator.slack import conversation

    found = []
    for channel in conversation(sim.log):
        for parent in channel["messages"]:
            found.append({**parent, "channel": channel["channel_id"], "name": channel["channel"], "thread": None})
            for reply in parent["replies"]:
                found.append({**reply, "channel": channel["channel_id"], "name": channel["channel"], "thread": parent})
    return found


def is_approval(message: dict[str, Any]) -> bool:
    return any("Redeploy approval" in str((b.get("text") or {}).get("text", "")) for b in message["blocks"])


async def approval_in(sim: Simulator, within_s: float = 90) -> dict[str, Any]:
    for _ in range(int(within_s * 4)):
        found = [m for m in messages(sim) if is_approval(m)]
        if found and any(b.get("block_id") == APPROVAL_BLOCK for b in found[0]["blocks"]):
            return found[0]
        await asyncio.sleep(0.25)
    raise AssertionError("no approval message")


def current(sim: Simulator, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in messages(sim) if m["channel"] == message["channel"] and m["ts"] == message["ts"])


def text_of(message: dict[str, Any]) -> str:
    parts = []
    for block in message["blocks"]:
        parts.append(str((block.get("text") or {}).get("text", "")))
        parts += [str(e.get("text", "")) for e in block.get("elements") or [] if isinstance(e, dict)]
    return " ".join(parts)


async def shows(sim: Simulator, message: dict[str, Any], words: str, within_s: float) -> float:
    """Seconds until the message shows `words` (fails after `within_s`)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < within_s:
        if words in text_of(current(sim, message)):
            return loop.time() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{words!r} not shown within {within_s} s: {text_of(current(sim, message))}")


def redeploy_of(report: RunReport | None) -> Any:
    assert report is not None
    return next(c for p in report.phases for c in p.checks if c.id == "redeploy")


async def test_prefect_slow_resuming_at_once_then_unknown_then_the_decision(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    with slow_prefect() as (proxy, url):
        gateway = PrefectGateway(api_url=url, answer_within_s=3)
        async with httpx.AsyncClient(timeout=15) as http, Bot(env_file, gateway):
            run = asyncio.create_task(run_handoff(env_file))
            message = await approval_in(sim)
            proxy.delay_s = 2.0  # every request to Prefect now takes 2 s: the click's few calls take longer than 3 s
            where = {"channel": message["channel"], "message_ts": message["ts"]}
            await act(sim, http, "click", user=MEMBER, action_id="runbook_approve", **where)
            assert await shows(sim, message, "Resuming…", within_s=1.5) < 1.5
            assert not any(b.get("block_id") == APPROVAL_BLOCK for b in current(sim, message)["blocks"])
            unknown = (await events(sim, http, "ephemeral", 1, within_s=15))[0]
            await shows(sim, message, "the state is unknown", within_s=2)
            state, report = await asyncio.wait_for(run, 120)
            late = (await events(sim, http, "ephemeral", 2, within_s=30))[1]
        assert unknown["user"] == MEMBER and unknown["text"].startswith("⚠️ Prefect did not answer within 3 s")
        assert "the state is unknown" in unknown["text"] and "/runs/flow-run/" in unknown["text"], unknown["text"]
        assert unknown["thread_ts"] == message["thread"]["ts"]  # the thread's parent, not the approval's own ts
        assert late["text"] == "Prefect answered late: the run resumed with your decision."
        assert state.is_completed(), state.message
        redeploy = redeploy_of(report)
        assert redeploy.status == Status.PASS
        assert redeploy.evidence["approval"]["decision"] == "approved in Slack"
        final = current(sim, message)
        assert f"*Approved* by <@{MEMBER}> in Slack" in text_of(final)
        link = f"https://netra-sim.slack.com/archives/{message['channel']}/p{message['ts'].replace('.', '')}"
        assert f"<{link}|Redeploy approval request>" in text_of(
            current(sim, {**message["thread"], "channel": message["channel"]})
        )  # the parent links
        assert not any(b.get("block_id") in (APPROVAL_BLOCK, STATUS_BLOCK) for b in final["blocks"])


async def test_prefect_down_and_a_missing_run_get_answers_and_a_ui_resume_is_credited_to_the_ui(
    world: tuple[Simulator, Path],
) -> None:
    from prefect.flow_runs import aresume_flow_run

    sim, env_file = world
    gateway = PrefectGateway(api_url=closed_port_url(), answer_within_s=10)
    async with httpx.AsyncClient(timeout=15) as http, Bot(env_file, gateway):
        run = asyncio.create_task(run_handoff(env_file, slack_channel="#staging-alerts"))
        message = await approval_in(sim)
        where = {"channel": message["channel"], "message_ts": message["ts"]}
        started = asyncio.get_running_loop().time()
        await act(sim, http, "click", user=MEMBER, action_id="runbook_approve", **where)
        down = (await events(sim, http, "ephemeral", 1, within_s=10))[0]
        answered_s = asyncio.get_running_loop().time() - started
        await shows(sim, message, "Prefect is unreachable", within_s=2)
        assert any(b.get("block_id") == APPROVAL_BLOCK for b in current(sim, message)["blocks"])  # buttons back

        # A run Prefect does not have: an approval message for it, clicked with Prefect back.
        gateway.api_url = None
        request = ApprovalRequest(str(uuid.uuid4()), "sim", (ServiceChange("backend", None, None),), (LEAD,), _soon())
        text, blocks = approval_message(request)
        posted = await http.post(
            f"{sim.url}/slack/api/chat.postMessage",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"channel": "#staging-deploys", "text": text, "blocks": blocks},
        )
        ghost = {"channel": posted.json()["channel"], "message_ts": posted.json()["ts"]}
        await act(sim, http, "click", user=LEAD, action_id="runbook_approve", **ghost)
        missing = (await events(sim, http, "ephemeral", 2, within_s=15))[1]

        # Someone resumes the run from the Prefect UI form and types a Slack mention as the name.
        paused = await _paused_run_id(within_s=10)
        await aresume_flow_run(paused, run_input={"approve": True, "note": "from the UI", "approved_by": f"<@{LEAD}>"})
        state, report = await asyncio.wait_for(run, 120)
        await act(sim, http, "click", user=MEMBER, action_id="runbook_approve", stale=True, **where)
        after = (await events(sim, http, "ephemeral", 3, within_s=15))[2]

    assert down["text"].startswith("⚠️ Prefect is unreachable (ConnectError): nothing changed"), down["text"]
    assert answered_s < 8, answered_s
    assert missing["text"].startswith(f"🚫 Run `{request.flow_run_id}` does not exist in Prefect"), missing["text"]
    assert state.is_completed(), state.message
    approval = redeploy_of(report).evidence["approval"]
    assert approval == {"decision": "approved in the Prefect UI", "approved_by": f"<@{LEAD}>", "note": "from the UI"}
    final = text_of(current(sim, message))
    assert f"*Approved* by &lt;@{LEAD}&gt; in the Prefect UI" in final and "in Slack" not in final, final
    assert (
        after["text"]
        == f"Already decided: approved by &lt;@{LEAD}&gt; in the Prefect UI (from the UI). Nothing changed."
    )
    # Started with its message in another channel: the request is in the runbook channel, linked both ways.
    assert message["name"] == "#staging-deploys" and message["thread"] is None
    assert "Requested from <https://" in text_of(message)  # as posted, before the decision
    pointers = [m for m in messages(sim) if m["name"] == "#staging-alerts" and "waits for approval" in m["text"]]
    assert len(pointers) == 1 and pointers[0]["thread"] is not None, pointers


def _soon() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(minutes=10)


async def _paused_run_id(within_s: float) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

    async with get_client() as client:
        for _ in range(int(within_s * 4)):
            paused = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
            )
            if paused:
                return paused[0].id
            await asyncio.sleep(0.25)
    raise AssertionError("no paused run")


async def test_an_expired_approval_is_said_expired_on_the_message_and_to_a_late_click(
    world: tuple[Simulator, Path],
) -> None:
    from prefect import flow

    from runbook.approval import request_approval
    from runbook.slack.approval_post import announce

    @flow(name="approval-that-expires")
    async def ask(environment: str) -> Any:
        return await request_approval("sim", ["netra-backend-staging"], 4, announce)

    sim, env_file = world
    async with httpx.AsyncClient(timeout=15) as http, Bot(env_file):
        outcome = await ask(str(env_file))
        message = next(m for m in messages(sim) if is_approval(m))
        await act(
            sim, http, "click", user=MEMBER, action_id="runbook_approve", stale=True,
            channel=message["channel"], message_ts=message["ts"],
        )  # fmt: skip
        late = (await events(sim, http, "ephemeral", 1, within_s=15))[0]
    assert (outcome.status, outcome.decision) == ("expired", "approval expired: no answer within 4 s")
    assert "⌛ *Expired*: approval expired: no answer within 4 s" in text_of(current(sim, message))
    assert late["text"] == "⌛ This approval expired (approval expired: no answer within 4 s): nothing changed."


async def test_runbook_cancel_cancels_the_environments_active_run(world: tuple[Simulator, Path]) -> None:
    from prefect import get_client

    sim, env_file = world
    deployment = await staging_handoff.ato_deployment(name="manual", enforce_parameter_schema=False)
    await deployment.aapply()
    async with httpx.AsyncClient(timeout=15) as http, Bot(env_file):
        where = {"user": MEMBER, "channel": "#staging-deploys", "command": "/runbook"}
        await act(sim, http, "slash", text="run sim infrastructure", **where)
        started = (await events(sim, http, "response", 2))[-1]["text"]
        await act(sim, http, "slash", text="cancel sim", **where)
        cancelled = (await events(sim, http, "response", 4))[-1]["text"]
    run_id = started.rsplit("`", 2)[-2]
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(run_id))
    assert cancelled.startswith("🛑 *sim · slack:<@U0SIMPLAT01> · ") and f"`{run_id}`" in cancelled, cancelled
    assert run.state is not None and run.state.is_cancelled(), run.state
