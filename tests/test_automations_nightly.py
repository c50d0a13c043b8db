"""`runbook: nightly missed`: a nightly run that did not finish in time is told to Slack, by Prefect's server.

What the automation watches (a nightly run marked Late or taken by a worker, then a final state of that run within
the window), what it does (the server's own webhook call and the notice deployment), the notice's message as an
on-call engineer reads it, idempotent apply, and end to end on a real `prefect server start` (scheduler and late-runs
service on, as in production): a nightly-like deployment whose scheduled run nobody picks up (no worker on its pool)
is told in the simulator's Slack by the server itself and by the notice on another pool's worker, once the window
has passed and not before; a run of the same deployment that finishes inside the window is told nothing.
"""

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomli_w

from runbook.app.automations import (
    CRASH_NOTICE,
    CRASH_SILENT_RUNS,
    MISSED_DEPLOYMENT,
    MISSED_WEBHOOK_BLOCK,
    NIGHTLY_MISSED,
    apply_automations,
    missed_webhook_payload,
    nightly_missed,
    words_for,
)
from runbook.config.files import PROJECT_ROOT
from runbook.slack.missed_message import MissedNightly, missed_nightly_message
from simulator.server import Simulator
from tests.support import local_data_for

SIM_WEBHOOK = "/slack/webhook/T0SIMTEAM01/B0SIMHOOK01/sim-webhook-not-a-secret"  # posts to #staging-deploys


def server_trigger(automation: Any) -> Any:
    """The trigger as Prefect's server evaluates it (its own schema, `covers` included)."""
    from prefect.server.events.schemas.automations import EventTrigger

    return EventTrigger.model_validate(automation.trigger.model_dump(mode="json"))


def flow_run_event(state: str, flow: str = "staging-handoff", deployment: str = "nightly") -> Any:
    """A flow-run state event as the server emits it (its related flow, deployment, pool)."""
    from prefect.server.events.schemas.events import ReceivedEvent

    def related(role: str, name: str) -> dict[str, str]:
        return {
            "prefect.resource.id": f"prefect.{role}.{uuid.uuid4()}",
            "prefect.resource.role": role,
            "prefect.resource.name": name,
        }

    return ReceivedEvent(
        occurred=datetime.now(UTC),
        event=f"prefect.flow-run.{state}",
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}", "prefect.resource.name": "a-run"},
        related=[related("flow", flow), related("deployment", deployment), related("work-pool", "staging-runbook")],
        id=uuid.uuid4(),
    )


def test_after_a_nightly_run_is_late_or_taken_a_final_state_of_that_run_is_expected_in_the_window() -> None:
    automation = nightly_missed(7200, uuid.uuid4(), uuid.uuid4())
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 7200 and trigger.threshold == 1
    # Not after Scheduled: the scheduler inserts a deployment's runs (days ahead) without any state-change event.
    assert trigger.after == {"prefect.flow-run.Late", "prefect.flow-run.Pending"}
    assert trigger.expect == {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Crashed", "Cancelled")}
    assert trigger.for_each == {"prefect.resource.id"}  # each run on its own: one late night is one message
    watched = server_trigger(automation)
    assert watched.covers(flow_run_event("Late")) and watched.covers(flow_run_event("Completed"))
    assert watched.covers(flow_run_event("Late", deployment="nightly-eu"))  # another environment's nightly
    assert not watched.covers(flow_run_event("Late", deployment="manual"))
    assert not watched.covers(flow_run_event("Late", flow="infrastructure-validation", deployment="nightly"))
    assert not watched.covers(flow_run_event("Running"))  # neither starts nor ends the window


def test_the_server_calls_the_webhook_first_then_the_notice_deployment_runs_with_the_runs_id() -> None:
    deployment, block = uuid.uuid4(), uuid.uuid4()
    webhook, notice = nightly_missed(600, deployment, block).actions
    assert webhook.type == "call-webhook" and webhook.block_document_id == block
    assert notice.type == "run-deployment" and notice.deployment_id == deployment
    assert notice.parameters == {"flow_run_id": "{{ event.resource.id }}", "within_s": 600}
    (only_notice,) = nightly_missed(600, deployment, None).actions
    assert only_notice.type == "run-deployment"
    (only_webhook,) = nightly_missed(600, None, block).actions
    assert only_webhook.type == "call-webhook" and "follows when a worker" not in only_webhook.payload
    with pytest.raises(ValueError, match="needs nightly-missed/slack or the Webhook block runbook-nightly-missed"):
        nightly_missed(600, None, None)


async def test_the_servers_message_is_slack_json_saying_what_was_due_and_what_to_do() -> None:
    from prefect.server.utilities.user_templates import render_user_template

    context = {
        "flow_run": SimpleNamespace(
            name='odd "quoted" otter',
            id="0f0e",
            parameters={"environment": "staging"},
            work_pool_name="staging-runbook",
            expected_start_time=datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
        ),
        "deployment": SimpleNamespace(name="nightly"),
        "work_pool": SimpleNamespace(name="staging-runbook"),
        "event": SimpleNamespace(resource={"prefect.state-name": "Late"}),
    }
    text = json.loads(await render_user_template(missed_webhook_payload(7200), context))["text"]
    assert text.startswith(":warning: *Nightly run of staging did not finish* within 2 h of its schedule.")
    assert '`odd "quoted" otter` of staging-handoff/nightly (id 0f0e), scheduled for 2026-01-15 10:00 UTC' in text
    assert "was Late and has not finished" in text
    for command in ("prefect work-pool inspect staging-runbook", "prefect work-pool resume staging-runbook",
                    "prefect worker start --pool staging-runbook", "prefect flow-run inspect 0f0e"):  # fmt: skip
        assert f"`{command}`" in text, command
    assert "no worker needed" in text


@pytest.mark.parametrize(("seconds", "words"), [(20, "20 s"), (90, "90 s"), (5400, "1 h 30 min"), (7200, "2 h")])
def test_windows_in_words(seconds: float, words: str) -> None:
    assert words_for(seconds) == words


def missed(**changes: Any) -> MissedNightly:
    values: dict[str, Any] = {
        "environment": "staging",
        "run_name": "staging-nightly-2026-01-15",
        "run_id": "7d1c",
        "deployment": "staging-handoff/nightly",
        "within_s": 7200,
        "state": "Late",
        "state_since": datetime(2026, 1, 15, 10, 0, 15, tzinfo=UTC),
        "scheduled": datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
        "timezone": "America/Los_Angeles",
        "pool": "staging-runbook",
        "pool_paused": False,
        "queue": "default",
        "queue_paused": False,
        "workers_online": 0,
        "last_worker_seen": datetime(2026, 1, 15, 7, 12, tzinfo=UTC),
    }
    return MissedNightly(**{**values, **changes})


def said(message: Any) -> str:
    return json.dumps(message.payload(), ensure_ascii=False)


def test_a_late_run_with_no_worker_says_when_it_was_due_in_the_schedules_time_and_how_to_start_the_worker() -> None:
    message = missed_nightly_message(missed())
    text = said(message)
    assert message.text == (
        "Nightly run of staging did not finish in time: due at 02:00 America/Los_Angeles (2026-01-15 10:00 UTC), "
        "Late now"
    )
    assert "was due at *02:00 America/Los_Angeles (2026-01-15 10:00 UTC)* and did not finish within 2 h" in text
    assert "*No worker polls* `staging-runbook` (last seen 2026-01-15 07:12 UTC)" in text
    assert "`prefect worker start --pool staging-runbook`" in text
    assert "starts by itself once a worker polls the pool again" in text
    assert "paused" not in text.replace("pool or queue paused", "")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pool_paused": True, "workers_online": 1}, "`prefect work-pool resume staging-runbook`"),
        ({"queue_paused": True, "workers_online": 1}, "`prefect work-queue resume default --pool staging-runbook`"),
        ({"workers_online": 1}, "Nobody took the run although `staging-runbook` looks ready"),
        ({"state": "Pending", "workers_online": 1}, "A worker took the run but it *never started*"),
        ({"state": "Running", "workers_online": 1}, "`prefect flow-run cancel 7d1c` ends it"),
        ({"state": "Completed", "workers_online": 1}, "It has finished since: *Completed*"),
        ({"workers_online": None, "unknown": ("workers",)}, "Could not read: workers."),
    ],
)
def test_each_cause_comes_with_its_command(changes: dict[str, Any], expected: str) -> None:
    assert expected in said(missed_nightly_message(missed(**changes)))


def test_values_from_the_server_cannot_forge_markup() -> None:
    text = said(missed_nightly_message(missed(run_name="<!channel> x", pool="<https://evil|pool>")))
    assert "<!channel>" not in text and "<https://evil" not in text


# ---- on the session's Prefect test harness ----------------------------------------------------------------------


async def register(flow: Any, name: str = "slack") -> None:
    deployment = await flow.ato_deployment(name=name)
    await deployment.apply()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
async def test_applying_twice_leaves_one_nightly_missed_with_the_notice_and_the_servers_webhook() -> None:
    from prefect import get_client
    from prefect.blocks.webhook import Webhook
    from prefect.exceptions import ObjectNotFound

    from flows import notices

    async with get_client() as client:  # a clean slate: an earlier test of the session may have applied them
        for automation in await client.read_automations():
            if automation.name.startswith("runbook: "):
                await client.delete_automation(automation.id)
        with contextlib.suppress(ObjectNotFound):  # registered by an earlier test of the session
            await client.delete_deployment((await client.read_deployment_by_name(MISSED_DEPLOYMENT)).id)
    await register(notices.crash_notice)
    first = await apply_automations(nightly_within_s=600)
    assert first[2] == (first[2].__class__)(  # neither the notice nor the webhook: nothing could tell Slack
        NIGHTLY_MISSED,
        "skipped: deployment nightly-missed/slack not found (deploy deployments/prefect.yaml first) and no Webhook "
        "block runbook-nightly-missed",
    )
    await register(notices.nightly_missed)
    await Webhook(url="http://127.0.0.1:9/hook", headers={"Content-Type": "application/json"}).save(
        MISSED_WEBHOOK_BLOCK, overwrite=True
    )
    await apply_automations(nightly_within_s=600)
    again = await apply_automations(nightly_within_s=900)
    assert [(a.name, a.outcome.split(" (")[0]) for a in again] == [
        (CRASH_SILENT_RUNS, "updated"),
        (CRASH_NOTICE, "updated"),
        (NIGHTLY_MISSED, "updated"),
    ]
    assert again[2].outcome == (
        "updated (after 15 min; Slack told by nightly-missed/slack on a worker and the server itself through "
        "Webhook block runbook-nightly-missed)"
    )
    async with get_client() as client:
        (found,) = await client.read_automations_by_name(NIGHTLY_MISSED)
        block = await client.read_block_document_by_name(MISSED_WEBHOOK_BLOCK, block_type_slug="webhook")
        await client.delete_block_document(block.id)  # later tests of the session: no server-side webhook
    assert found.trigger.within.total_seconds() == 900  # type: ignore[union-attr]
    assert [action.type for action in found.actions] == ["call-webhook", "run-deployment"]


# ---- end to end on a real server ---------------------------------------------------------------------------------

PACIFIC = "America/Los_Angeles"
WITHIN_S = 10  # the automation's window here; production's default is 2 h
SERVER_SETTINGS = {
    # As in production, only faster: the scheduler and the late-runs service on (the session's servers have them
    # off or run none: an ephemeral test harness runs neither).
    "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY": "PT1S",
    "PREFECT_SERVER_UI_ENABLED": "false",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`prefect server start` (SQLite in its own PREFECT_HOME, a free port) with its scheduler and services on."""
    from tests.pg import free_port
    from tests.prefect_pg import server_env, start_server, stop_server, wait_healthy

    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    with (tmp_path / "server.log").open("wb") as log:
        process = start_server(
            {**server_env(tmp_path / "server-home", None), **SERVER_SETTINGS}, "127.0.0.1", port, log
        )
        try:
            try:
                wait_healthy(api_url, process)
            except RuntimeError as error:
                pytest.fail(f"{error}:\n{(tmp_path / 'server.log').read_text(errors='replace')[-3000:]}")
            yield api_url
        finally:
            stop_server(process)


def slack_posts(sim: Simulator) -> list[tuple[str, str]]:
    """(how, what) of every message the simulator's Slack accepted: "webhook" or the Web API method."""
    posts = []
    for entry in sim.log.entries("slack"):
        how = "webhook" if entry.path.startswith("/slack/webhook/") else entry.path.rsplit("/", 1)[-1]
        if how in ("webhook", "chat.postMessage") and entry.status == 200:
            posts.append((how, json.dumps([entry.body.get("text"), entry.body.get("blocks")], ensure_ascii=False)))
    return posts


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_scheduled_nightly_nobody_picks_up_is_told_in_slack_after_the_window(
    server: str, tmp_path: Path
) -> None:
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Completed, Pending, Running, Scheduled

    from flows import notices
    from tests.pg import PostgresServer
    from tests.test_deployment_e2e import Processes, subprocess_env

    bin_dir = Path(sys.executable).parent
    environments, logs = tmp_path / "environments", tmp_path / "logs"
    environments.mkdir()
    logs.mkdir()
    with Simulator("healthy") as sim:
        data = local_data_for(sim)
        data["name"] = "nightlyenv"
        (environments / "nightlyenv.toml").write_bytes(tomli_w.dumps(data).encode())
        no_db = PostgresServer(host="127.0.0.1", port=1, data_dir=tmp_path, socket_dir=tmp_path)  # no database here
        env = subprocess_env(tmp_path / "cli-home", server, no_db, environments)
        env["PREFECT_WORKER_QUERY_SECONDS"] = "1"
        procs = Processes(env, logs)
        try:
            async with PrefectClient(api=server) as client:
                for pool in ("staging-runbook", "notices"):  # nobody polls staging-runbook; notices has a worker
                    await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            # The notice on a pool of its own with a worker (the nightly's pool has none), as the guide suggests.
            deploy = ("deploy", PREFECT_DEPLOY := str(bin_dir / "prefect"), "--no-prompt", "deploy", "--prefect-file",
                      str(PROJECT_ROOT / "deployments" / "prefect.yaml"), "--name", MISSED_DEPLOYMENT, "--pool",
                      "notices")  # fmt: skip
            assert procs.run(*deploy, timeout=120) == 0, procs.tail("deploy")
            procs.start("worker", PREFECT_DEPLOY, "worker", "start", "--pool", "notices")
            with temporary_settings({PREFECT_API_URL: server}):
                await register(notices.crash_notice)  # for `apply` to succeed; its automation plays no part here
                # The server's own Slack: an incoming webhook.
                await Webhook(url=f"{sim.url}{SIM_WEBHOOK}", headers={"Content-Type": "application/json"}).save(
                    MISSED_WEBHOOK_BLOCK
                )
            apply = ("apply", str(bin_dir / "runbook"), "automations", "apply", "--nightly-within", str(WITHIN_S))
            assert procs.run(*apply, timeout=120) == 0, procs.tail("apply")
            applied = " ".join(procs.tail("apply").split())
            told = "Slack told by nightly-missed/slack on a worker and the server itself through Webhook block"
            assert f"{NIGHTLY_MISSED}: created (after {WITHIN_S} s; {told} runbook-nightly-missed)" in applied, applied

            # A nightly-like deployment on the pool nobody polls, its schedule daily from tomorrow (Pacific time).
            async with PrefectClient(api=server) as client:
                flow_id = await client.create_flow_from_name("staging-handoff")
                tomorrow = datetime.now(UTC) + timedelta(days=1)
                schedule = IntervalSchedule(interval=timedelta(days=1), anchor_date=tomorrow, timezone=PACIFIC)
                deployment_id = await client.create_deployment(
                    flow_id=flow_id,
                    name="nightly",
                    work_pool_name="staging-runbook",
                    entrypoint="flows/handoff.py:staging_handoff",
                    parameters={"environment": "nightlyenv", "trigger": "nightly", "slack_quiet": True},
                    schedules=[DeploymentScheduleCreate(schedule=schedule, active=True)],
                )
                # The scheduler inserts its runs days ahead without any state-change event: no Scheduled event to
                # start a window from (why the automation starts after Late or Pending).
                ahead = await wait_for(lambda: scheduled_runs(client, deployment_id), "the scheduler's runs", 30)
                assert not await state_events(client, ahead, "prefect.flow-run.Scheduled")
                # Tonight's run, as the scheduler made it days ago, due in 2 s. (Made here through the API, which
                # also emits a Scheduled event: a run the scheduler inserts minutes before its time has its Late
                # event held by the server for 15 min, waiting for that Scheduled event, which never comes.)
                late = await client.create_flow_run_from_deployment(
                    deployment_id, state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(seconds=2))
                )
                # Another run of it, taken and finished inside the window: nothing to tell about that one.
                on_time = await client.create_flow_run_from_deployment(deployment_id)
                states: list[Any] = [Pending(), Running(), Completed()]
                for state in states:
                    await client.set_flow_run_state(on_time.id, state, force=True)
                # Nobody takes tonight's run: the server marks it Late.
                (marked,) = await wait_for(lambda: state_events(client, [late.id], "prefect.flow-run.Late"), "Late", 60)
                # The server's own message, then the notice's, in #staging-deploys.
                hook = await wait_for(lambda: posted(sim, "webhook"), "the server's webhook message", WITHIN_S + 30)
                hook_after = (datetime.now(UTC) - marked.occurred).total_seconds()  # one machine, one clock
                notice = await wait_for(
                    lambda: posted(sim, "chat.postMessage"), "the notice's message", 90, lambda: actions_said(client)
                )
                notice_after = (datetime.now(UTC) - marked.occurred).total_seconds()
                still = await client.read_flow_run(late.id)
                scheduled = still.expected_start_time
        finally:
            procs.stop_all()
    print(f"\nLate -> server's webhook message {hook_after:.1f} s, -> notice's message {notice_after:.1f} s "
          f"(window {WITHIN_S} s)")  # fmt: skip
    assert still.state is not None and still.state.name == "Late"  # never picked up: no worker on its pool
    assert WITHIN_S <= hook_after <= WITHIN_S + 15, hook_after  # once the window has passed, not before
    assert f"*Nightly run of nightlyenv did not finish* within {WITHIN_S} s" in hook
    assert f"`{late.name}` of staging-handoff/nightly (id {late.id})" in hook and "was Late" in hook
    assert "`prefect worker start --pool staging-runbook`" in hook
    assert scheduled is not None
    local = scheduled.astimezone(ZoneInfo(PACIFIC)).strftime("%H:%M")
    assert f"was due at *{local} {PACIFIC} (" in notice, notice
    assert "*No worker polls* `staging-runbook` (none ever)" in notice
    assert f"/runs/flow-run/{late.id}|{late.name}> is *Late*" in notice, notice  # linked to the run in the UI
    posts = slack_posts(sim)
    assert len(posts) == 2, posts  # one of each, for the late run only
    assert on_time.name not in json.dumps(posts)


async def scheduled_runs(client: Any, deployment_id: Any) -> list[Any] | None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    return [run.id for run in runs] or None


async def state_events(client: Any, run_ids: list[Any], name: str) -> list[Any] | None:
    """The events `name` of these flow runs the server recorded (None when there is none)."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    found = await client.read_events(
        filter=EventFilter(
            event=EventNameFilter(name=[name]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}" for run_id in run_ids]),
        ),
        limit=50,  # the server's maximum (the client's default, 100, is refused)
    )
    return list(found.events) or None


async def posted(sim: Simulator, how: str) -> str | None:
    return next((text for kind, text in slack_posts(sim) if kind == how), None)


async def wait_for(probe: Any, what: str, timeout_s: float, why: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while (found := await probe()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s" + (f"\n{await why()}" if why else ""))
        await asyncio.sleep(0.25)
    return found


async def actions_said(client: Any) -> str:
    """What the automations' actions reported (triggered, action executed or failed, and why), for a failure."""
    from prefect.events.filters import EventFilter, EventNameFilter

    page = await client.read_events(filter=EventFilter(event=EventNameFilter(prefix=["prefect.automation"])), limit=50)
    return "\n".join(f"{e.event} {json.dumps(e.payload)[:400]}" for e in page.events)
