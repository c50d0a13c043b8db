"""The handoff flow end to end, for real under Prefect, against the simulator and a real PostgreSQL.

Each test starts a simulator with a scenario, writes an environment file pointed at it, runs the flow and reads the
final state and the report. Slow-ish (a few seconds per run): one Prefect harness for the whole session.
"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.states import State

from flows.handoff import staging_handoff
from runbook.approval import preapproved_by_cli
from runbook.parameters import HandoffParameters
from runbook.results import Phase, PhaseStatus, RunReport, Status
from simulator.server import Simulator
from tests.pg import PostgresServer
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

FAST = {
    "timeouts": {"golden_path_s": 15, "e2e_s": 10, "readiness_s": 10, "health_s": 5},
    "performance": {"health_probes": 3, "golden_path_probes": 1},
}


@pytest.fixture
def world(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Simulator, Path]]:
    """A simulator running the test's scenario (marker `scenario`, default healthy) and its environment file."""
    marker = request.node.get_closest_marker("scenario")
    scenario = marker.args[0] if marker else "healthy"
    overrides: dict[str, Any] = marker.kwargs.get("overrides", {}) if marker else {}
    monkeypatch.setenv("RUNBOOK_DB_PASSWORD", postgres.password)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sim-token-not-a-secret")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))  # the Slack stores: one per test
    with Simulator(scenario) as sim:
        database = {"host": postgres.host, "port": postgres.port, "name": postgres.dbname, "user": postgres.user}
        yield sim, env_file_for(sim, tmp_path, {**FAST, "database": database, **overrides})


async def handoff(env_file: Path, **parameters: Any) -> tuple[State, RunReport | None]:
    flat = HandoffParameters(environment=str(env_file), **parameters).flow_kwargs()
    state = await staging_handoff(**flat, return_state=True)  # type: ignore[call-overload]
    data = await state.aresult(raise_on_failure=False)
    return state, data if isinstance(data, RunReport) else None


def statuses(report: RunReport) -> dict[str, Status]:
    return {c.id: c.status for p in report.phases for c in p.checks}


async def test_healthy_staging_passes_all_three_phases_and_completes(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    state, report = await handoff(env_file)
    assert report is not None, state
    assert state.is_completed(), state.message
    assert report.verdict.value == "passed", statuses(report)
    assert [p.phase for p in report.phases] == list(Phase)
    assert all(s == Status.PASS for s in statuses(report).values()), statuses(report)
    # Payloads read: only the E2E key, once per phase that logs in (handshake in 2; golden path + performance in 3).
    accessed = [e.path for e in sim.log.entries("secretmanager") if e.path.endswith(":access")]
    assert len(accessed) == 2 and all("/secrets/e2e-oauth-simulation-key-staging/" in p for p in accessed)
    # Slack: one parent message updated in place, no thread reply, nobody mentioned.
    posts = [e.body for e in sim.log.entries("slack") if e.path.endswith("chat.postMessage")]
    updates = [e.body for e in sim.log.entries("slack") if e.path.endswith("chat.update")]
    parents = [p for p in posts if p["channel"] == "#staging-deploys"]
    assert len(parents) == 1 and not any(p.get("thread_ts") for p in posts) and len(updates) >= 4
    assert all(n["ok"] for n in report.notifications), report.notifications


@pytest.mark.scenario("connector-error")
async def test_connector_in_error_state_fails_phase_and_skips_restoration(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    state, report = await handoff(env_file)
    assert state.is_failed() and report is not None
    infrastructure, restoration, business = report.phases
    assert infrastructure.status == PhaseStatus.failed
    assert statuses(report)["vpc-connector"] == Status.FAIL
    assert restoration.status == business.status == PhaseStatus.skipped
    assert restoration.skip_reason == "infrastructure validation failed: vpc-connector"
    assert sim.log.count(api="netra") == 0  # nothing of phases 2 and 3 ran
    # Slack: the infrastructure team is told in the thread, with the fix.
    replies = [
        e.body for e in sim.log.entries("slack") if e.path.endswith("chat.postMessage") and e.body.get("thread_ts")
    ]
    assert len(replies) == 1 and "@infra-oncall" in replies[0]["text"] and "vpc-connector" in replies[0]["text"]


@pytest.mark.scenario("revision-not-ready")
async def test_revision_not_ready_fails_restoration_and_skips_business(world: tuple[Simulator, Path]) -> None:
    _, env_file = world
    state, report = await handoff(env_file)
    assert state.is_failed() and report is not None
    assert [p.status for p in report.phases] == [PhaseStatus.passed, PhaseStatus.failed, PhaseStatus.skipped]
    assert report.phases[2].skip_reason == "service restoration failed: cloud-run-ready"


@pytest.mark.scenario("agent-error")
async def test_agent_error_fails_business_validation(world: tuple[Simulator, Path]) -> None:
    _, env_file = world
    state, report = await handoff(env_file)
    assert state.is_failed() and report is not None
    assert report.phases[2].status == PhaseStatus.failed
    assert statuses(report)["golden-path"] == Status.FAIL
    assert statuses(report)["performance"] == Status.SKIPPED


async def test_selected_phase_runs_alone(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    state, report = await handoff(env_file, phases=["infrastructure"])
    assert state.is_completed() and report is not None
    assert [p.phase for p in report.phases] == [Phase.infrastructure]
    assert sim.log.count(api="netra") == 0


@pytest.mark.scenario("slack-down")
async def test_slack_down_leaves_the_verdict_unchanged_and_is_reported(world: tuple[Simulator, Path]) -> None:
    _, env_file = world
    state, report = await handoff(env_file, phases=["infrastructure"])
    assert state.is_completed() and report is not None and report.verdict.value == "passed"
    assert report.notifications and not any(n["ok"] for n in report.notifications)


async def test_dry_run_makes_no_request(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    state, report = await handoff(env_file, dry_run=True)
    assert state.is_completed() and state.name == "Dry run" and report is None
    assert sim.log.entries() == []


async def test_preapproved_redeploy_rolls_a_revision_before_readiness(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    with preapproved_by_cli("ops-alice"):
        state, report = await handoff(env_file, phases=["restoration"], redeploy=True)
    assert report is not None and state.is_completed(), report and statuses(report)
    assert statuses(report)["redeploy"] == Status.PASS
    redeploy = next(c for c in report.phases[0].checks if c.id == "redeploy")
    assert redeploy.evidence["approval"] == {"decision": "approved up front (--approve)", "approved_by": "ops-alice"}
    assert sim.log.count(api="run", method="PATCH") == 3  # one new revision per configured service


async def _resume_when_paused(run_input: dict[str, Any], within_s: float = 60) -> Any:
    """Act as the person at the Prefect UI: wait for a paused run, answer its approval form; the paused run."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
    from prefect.flow_runs import aresume_flow_run

    async with get_client() as client:
        for _ in range(int(within_s / 0.25)):
            paused = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
            )
            if paused:
                await asyncio.sleep(0.5)  # the form's schema is saved right after the pause
                await aresume_flow_run(paused[0].id, run_input=run_input)
                return paused[0]
            await asyncio.sleep(0.25)
    raise AssertionError("no flow run paused for approval")


async def test_redeploy_rejected_in_the_ui_fails_restoration_without_mutating(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    answer = asyncio.create_task(_resume_when_paused({"approve": False, "note": "not during the demo"}))
    state, report = await handoff(env_file, phases=["restoration"], redeploy=True, approval_timeout_s=60)
    paused = await answer
    assert state.is_failed() and report is not None
    assert paused.id == state.state_details.flow_run_id and paused.parent_task_run_id is None  # the run itself
    redeploy = next(c for c in report.phases[0].checks if c.id == "redeploy")
    assert redeploy.status == Status.FAIL
    assert redeploy.summary == "redeploy not done: rejected in the Prefect UI: not during the demo"
    assert "`" not in redeploy.remediation.replace("runbook run --redeploy --approve", "")
    assert sim.log.count(api="run", method="PATCH") == 0


async def test_redeploy_approved_in_the_ui_rolls_new_revisions(world: tuple[Simulator, Path]) -> None:
    sim, env_file = world
    answer = asyncio.create_task(
        _resume_when_paused({"approve": True, "note": "incident 1278 fixed", "approved_by": "ops-bob"})
    )
    state, report = await handoff(env_file, phases=["restoration"], redeploy=True, approval_timeout_s=60)
    paused = await answer
    assert state.is_completed() and report is not None, report and statuses(report)
    assert paused.id == state.state_details.flow_run_id and paused.parent_task_run_id is None
    redeploy = next(c for c in report.phases[0].checks if c.id == "redeploy")
    assert redeploy.status == Status.PASS
    assert redeploy.evidence["approval"] == {
        "decision": "approved in the Prefect UI",
        "approved_by": "ops-bob",
        "note": "incident 1278 fixed",
    }
    assert redeploy.summary.endswith("(approved in the Prefect UI by ops-bob: incident 1278 fixed)")
    # Slack: the decision, who and the note in the run's thread (the approval message, updated in place).
    said = [
        json.dumps(e.body) for e in sim.log.entries("slack") if e.path.endswith(("chat.postMessage", "chat.update"))
    ]
    assert any("incident 1278 fixed" in text and "ops-bob" in text for text in said), said
    assert sim.log.count(api="run", method="PATCH") == 3


async def test_redeploy_without_an_answer_times_out_and_fails_restoration(world: tuple[Simulator, Path]) -> None:
    from prefect import flow

    from flows.restoration import service_restoration
    from runbook.approval import request_approval

    @flow(name="approval-then-restoration")
    async def ask_then_restore(environment: str) -> Any:  # the handoff's own bound is 30 s at least
        approval = await request_approval("sim", ["netra-backend-staging"], 2)
        state = await service_restoration(environment, redeploy_services=True, approval=approval, return_state=True)
        assert state.is_failed()
        return await state.aresult(raise_on_failure=False)

    sim, env_file = world
    phase = await ask_then_restore(str(env_file))
    redeploy = next(c for c in phase.checks if c.id == "redeploy")
    assert redeploy.status == Status.FAIL
    assert redeploy.summary == "redeploy not done: approval expired: no answer within 2 s"
    assert sim.log.count(api="run", method="PATCH") == 0
