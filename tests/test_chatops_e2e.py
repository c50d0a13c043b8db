"""ChatOps end to end: the real handoff flow on a real (test) Prefect server pauses for a redeploy, posts the approval
message in its Slack thread, and `runbook slack-bot` (slack-sdk's Socket Mode client) resumes it from clicks that the
simulator's Slack delivers over its loopback WebSocket, acked within 3 s.

  approve:  an outsider's click is refused (ephemeral, recorded with the run), a platform on-call member (approver
            through the user group) approves, the run completes with new revisions, the message shows who and when
            without buttons, and a second (stale) click is told it was already decided;
  reject:   with Prefect made slow, Reject… opens the modal, an empty note is refused in the modal, the note given
            fails the redeploy with it; every ack still within 3 s;
  commands: /runbook plan, a usage error, and /runbook status answered from the last run.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.states import State

from flows.handoff import staging_handoff
from runbook.parameters import HandoffParameters
from runbook.results import RunReport, Status
from runbook.slack.approval import APPROVAL_BLOCK, refused_attempts
from runbook.slack.bot import load_environments, run_bot
from runbook.slack.prefect_gateway import PrefectGateway
from simulator.server import Simulator
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(240)]

FAST = {"timeouts": {"e2e_s": 10, "readiness_s": 10, "health_s": 5}}
OUTSIDER, MEMBER, LEAD = "U0SIMOTHER1", "U0SIMPLAT01", "U0SIMLEAD01"  # the simulator's people
CHANNEL = "#staging-deploys"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, Path]]:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sim-token-not-a-secret")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-sim-app-token-not-a-secret")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))  # the Slack stores: one per test
    with Simulator("healthy") as sim:
        yield sim, env_file_for(sim, tmp_path, FAST)


class SlowPrefect(PrefectGateway):
    """Prefect answering after 4 s: longer than Slack's 3 s ack deadline."""

    async def flow_run(self, flow_run_id: str) -> Any:
        await asyncio.sleep(4)
        return await super().flow_run(flow_run_id)


class Bot:
    """`runbook slack-bot` on this event loop, connected to the simulator over Socket Mode."""

    def __init__(self, env_file: Path, prefect: PrefectGateway | None = None) -> None:
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(run_bot(load_environments([str(env_file)]), self.stop, self.ready.set, prefect))

    async def __aenter__(self) -> "Bot":
        waiter = asyncio.create_task(self.ready.wait())
        await asyncio.wait([waiter, self.task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()  # raises the bot's setup error
        assert self.ready.is_set(), "the bot did not connect within 30 s"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        self.bot = await asyncio.wait_for(self.task, 30)


async def run_handoff(env_file: Path) -> tuple[State, RunReport | None]:
    flat = HandoffParameters(
        environment=str(env_file), phases=["restoration"], redeploy=True, approval_timeout_s=90
    ).flow_kwargs()
    state = await staging_handoff(**flat, return_state=True)  # type: ignore[call-overload]
    data = await state.aresult(raise_on_failure=False)
    return state, data if isinstance(data, RunReport) else None


async def approval_message(sim: Simulator, http: httpx.AsyncClient, within_s: float = 90) -> dict[str, Any]:
    """Wait for the approval message (with its buttons) in the run's thread."""
    for _ in range(int(within_s * 4)):
        channels = (await http.get(f"{sim.url}/_simulator/slack/conversation?format=json")).json()
        for channel in channels:
            for parent in channel["messages"]:
                for reply in parent["replies"]:
                    if any(b.get("block_id") == APPROVAL_BLOCK for b in reply["blocks"]):
                        return {"channel": channel["channel_id"], "ts": reply["ts"], "parent": parent["ts"]}
        await asyncio.sleep(0.25)
    raise AssertionError("no approval message in the run's thread")


async def act(sim: Simulator, http: httpx.AsyncClient, action: str, **body: Any) -> dict[str, Any]:
    answer = await http.post(f"{sim.url}/_simulator/slack/socket/{action}", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["acked"] and result["ack_ms"] < 3000, result
    return result


async def events(sim: Simulator, http: httpx.AsyncClient, kind: str, count: int, within_s: float = 30) -> list[Any]:
    """The simulator's ChatOps events of one kind (ephemeral, modal, response), once there are `count` of them."""
    found: list[Any] = []
    for _ in range(int(within_s * 4)):
        found = [
            e
            for e in (await http.get(f"{sim.url}/_simulator/slack/socket/envelopes")).json()["events"]
            if e["kind"] == kind
        ]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"expected {count} {kind} event(s), found {found}")


def final_message(sim: Simulator, channel: str, ts: str) -> dict[str, Any]:
    from simulator.slack import conversation

    for entry in conversation(sim.log):
        for parent in entry["messages"]:
            for reply in parent["replies"]:
                if entry["channel_id"] == channel and reply["ts"] == ts:
                    return dict(reply)
    raise AssertionError(f"message {ts} not found")


def block_text(message: dict[str, Any]) -> str:
    return " ".join(str((b.get("text") or {}).get("text", "")) for b in message["blocks"])


async def test_approver_click_resumes_the_paused_run_and_outsider_is_refused(world: tuple[Simulator, Path]) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        sim, env_file = world
        async with Bot(env_file):
            run = asyncio.create_task(run_handoff(env_file))
            message = await approval_message(sim, http)
            where = {"channel": message["channel"], "message_ts": message["ts"]}

            await act(sim, http, "click", user=OUTSIDER, action_id="runbook_approve", **where)
            refusal = (await events(sim, http, "ephemeral", 1))[0]
            assert refusal["user"] == OUTSIDER and "cannot approve" in refusal["text"], refusal
            assert any(b.get("block_id") == APPROVAL_BLOCK for b in final_message(sim, **_ids(message))["blocks"])

            await act(sim, http, "click", user=MEMBER, action_id="runbook_approve", **where)
            state, report = await asyncio.wait_for(run, 120)

            await act(sim, http, "click", user=LEAD, action_id="runbook_approve", stale=True, **where)
            second = (await events(sim, http, "ephemeral", 2))[1]

        assert report is not None and state.is_completed(), state.message
        redeploy = next(c for p in report.phases for c in p.checks if c.id == "redeploy")
        assert redeploy.status == Status.PASS, redeploy
        assert f"<@{MEMBER}>" in str(redeploy.evidence), redeploy.evidence
        shown = final_message(sim, **_ids(message))
        assert shown["edited"] and not any(b.get("type") == "actions" for b in shown["blocks"]), shown["blocks"]
        assert f"Approved* by <@{MEMBER}>" in block_text(shown), block_text(shown)
        assert second["user"] == LEAD and second["text"].startswith("Already decided: approved by <@U0SIMPLAT01>"), (
            second
        )
        flow_run_id = str(state.state_details.flow_run_id)
        refused = await refused_attempts(flow_run_id)
        assert [(r["user"], r["purpose"], r["why"]) for r in refused] == [
            (f"<@{OUTSIDER}>", "approval-refused", "not an approver")
        ]


async def test_reject_with_a_note_fails_the_redeploy_and_acks_stay_fast_when_prefect_is_slow(
    world: tuple[Simulator, Path],
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        sim, env_file = world
        async with Bot(env_file, SlowPrefect()):
            run = asyncio.create_task(run_handoff(env_file))
            message = await approval_message(sim, http)
            await act(
                sim,
                http,
                "click",
                user=LEAD,
                action_id="runbook_reject",
                channel=message["channel"],
                message_ts=message["ts"],
            )
            modal = (await events(sim, http, "modal", 1))[0]
            empty = await act(
                sim,
                http,
                "submit",
                user=LEAD,
                view_id=modal["view_id"],
                values={"decision": {"decision_input": "reject"}, "note": {"note_input": ""}},
            )
            assert empty["ack_payload"]["response_action"] == "errors" and "note" in empty["ack_payload"]["errors"]
            await act(
                sim,
                http,
                "submit",
                user=LEAD,
                view_id=modal["view_id"],
                values={"decision": {"decision_input": "reject"}, "note": {"note_input": "not during the demo"}},
            )
            state, report = await asyncio.wait_for(run, 120)
            envelopes = (await http.get(f"{sim.url}/_simulator/slack/socket/envelopes")).json()["envelopes"]

        assert report is not None and state.is_failed(), state
        redeploy = next(c for p in report.phases for c in p.checks if c.id == "redeploy")
        assert redeploy.status == Status.FAIL and "not during the demo" in redeploy.summary, redeploy
        assert f"<@{LEAD}>" in str(redeploy.evidence)
        shown = final_message(sim, **_ids(message))
        assert "Rejected* by <@U0SIMLEAD01>" in block_text(shown) and "not during the demo" in block_text(shown)
        assert not any(b.get("type") == "actions" for b in shown["blocks"])
        assert len(envelopes) == 3 and all(e["acked"] and not e["late"] and e["ack_ms"] < 3000 for e in envelopes)


async def test_slash_commands_plan_usage_and_status_answer_in_the_channel(world: tuple[Simulator, Path]) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        sim, env_file = world
        async with Bot(env_file):
            bad = await act(sim, http, "slash", user=OUTSIDER, channel=CHANNEL, command="/runbook", text="deploy sim")
            assert "expected one of run, status, plan, cancel, help, found `deploy`" in bad["ack_payload"]["text"]
            await act(sim, http, "slash", user=OUTSIDER, channel=CHANNEL, command="/runbook", text="plan sim")
            await act(sim, http, "slash", user=OUTSIDER, channel=CHANNEL, command="/runbook", text="status sim")
            responses = await events(sim, http, "response", 5)
        texts = [r["text"] for r in responses]
        assert any(t.startswith("Plan of *sim*") and "vpc-connector" in t for t in texts), texts
        assert any(t.startswith("Last run of *sim*") or t == "No run of sim yet." for t in texts), texts


def _ids(message: dict[str, Any]) -> dict[str, str]:
    return {"channel": message["channel"], "ts": message["ts"]}


async def test_slash_run_and_the_rerun_button_start_the_manual_deployment_with_the_user_as_trigger(
    world: tuple[Simulator, Path],
) -> None:
    """`/runbook run sim infrastructure` and a failed run's "Rerun restoration" start staging-handoff/manual runs
    (no worker here: the runs stay Scheduled, with the parameters Slack gave them)."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    sim, env_file = world
    deployment = await staging_handoff.ato_deployment(name="manual", enforce_parameter_schema=False)
    deployment_id = await deployment.aapply()
    async with httpx.AsyncClient(timeout=15) as http, Bot(env_file):
        await act(sim, http, "slash", user=MEMBER, channel=CHANNEL, command="/runbook", text="run sim infrastructure")
        started = (await events(sim, http, "response", 2))[-1]["text"]
        assert started.startswith("Started *sim · slack:<@U0SIMPLAT01> · "), started
        # A failed run's parent offers the rerun of its failed phase (as runbook.slack.parent_message builds it).
        parent = await http.post(
            f"{sim.url}/slack/api/chat.postMessage",
            headers={"Authorization": "Bearer xoxb-sim-token-not-a-secret"},
            json={
                "channel": CHANNEL,
                "text": "Staging handoff · sim: failed",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "failed"}}, _rerun("restoration")],
            },
        )
        ts = parent.json()["ts"]
        await act(sim, http, "click", user=MEMBER, channel=CHANNEL, message_ts=ts, action_id="runbook_rerun_phase")
        rerun = (await events(sim, http, "ephemeral", 1))[0]["text"]
        assert rerun.startswith("Started *sim · slack:<@U0SIMPLAT01> · ") and "(restoration)" in rerun, rerun
    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    asked = sorted(
        (run.parameters["phases"], run.parameters["trigger"], run.parameters["slack_channel"]) for run in runs
    )
    # Typed in the runbook channel: the runs' messages go to the environment's runbook channel (slack_channel empty).
    assert asked == [
        (["infrastructure"], "slack:<@U0SIMPLAT01>", ""),
        (["restoration"], "slack:<@U0SIMPLAT01>", ""),
    ]


def _rerun(phase: str) -> dict[str, Any]:
    from runbook.slack.parent_message import rerun_block

    return rerun_block("sim", phase).to_dict()


def final_channel_id(sim: Simulator) -> str:
    from simulator.slack import conversation

    return str(next(entry["channel_id"] for entry in conversation(sim.log) if entry["channel"] == CHANNEL))
