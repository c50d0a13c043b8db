"""One handoff per environment at a time, for real under Prefect: two runs of one environment never overlap.

Two handoff runs of the same environment start together in the session's Prefect harness: the second waits for the
first (its log, its Slack parent and the CLI's listeners name the run holding the environment) and then runs; with
no time to wait, it is refused, saying which run holds it. Every run carries the tag `env:<name>`.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.states import State

from flows.handoff import staging_handoff
from runbook.parameters import HandoffParameters
from runbook.results import Phase, PhaseResult, RunReport
from simulator.server import Simulator
from simulator.slack import conversation, render_conversation
from tests.support import env_file_for, world

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# No PostgreSQL needed: the database check is off; the rest of phase 1 reads the simulator (a few seconds).
OFFLINE = {"checks": {"database-connectivity": {"enabled": False}}}


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, str]]:
    """A simulator, and an environment file of a name no other test uses (the lock and history are per name)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sim-token-not-a-secret")
    name = f"lock-{uuid.uuid4().hex[:8]}"
    # Every Google answer takes 0.5 s: a run lasts long enough (a few seconds) to be overlapped.
    with Simulator(world("healthy", faults=({"api": "*", "latency_ms": 500},))) as sim:
        yield sim, str(env_file_for(sim, tmp_path, OFFLINE, name=name))


async def run(env_file: str, trigger: str) -> tuple[State, RunReport | None]:
    flat = HandoffParameters(environment=env_file, phases=[Phase.infrastructure], trigger=trigger).flow_kwargs()
    state = await staging_handoff(**flat, return_state=True)  # type: ignore[call-overload]
    data = await state.aresult(raise_on_failure=False)
    return state, data if isinstance(data, RunReport) else None


async def flow_run(state: State) -> Any:
    from prefect import get_client

    async with get_client() as client:
        return await client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]


def window(phase: PhaseResult) -> tuple[float, float]:
    start = phase.started_at.timestamp() if phase.started_at else 0.0
    return start, start + phase.duration_s


async def test_a_second_run_of_the_environment_waits_for_the_first_and_says_which_run_holds_it(
    environment: tuple[Simulator, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sim, env_file = environment
    monkeypatch.setenv("RUNBOOK_LOCK_WAIT_S", "120")
    with caplog.at_level(logging.WARNING, logger="runbook.env_lock"):
        (first, first_report), (second, second_report) = await asyncio.gather(
            run(env_file, "manual"), run(env_file, "nightly")
        )
    assert first.is_completed() and second.is_completed(), (first.message, second.message)
    assert first_report is not None and second_report is not None
    (a,), (b,) = first_report.phases, second_report.phases
    earlier, later = sorted([window(a), window(b)])
    assert earlier[1] <= later[0], f"the two runs of one environment overlapped: {earlier} and {later}"
    runs = {r.id: r for r in [await flow_run(first), await flow_run(second)]}
    heard = [r.getMessage() for r in caplog.records if "is in use by" in r.getMessage()]
    (words,) = heard  # one run waited, once, and said for whom (the CLI prints the same words)
    holder = next(r for r in runs.values() if f"run '{r.name}' (flow run {r.id}" in words)
    waiter = next(r for r in runs.values() if r.id != holder.id)
    assert f"is in use by run '{holder.name}'" in words and "waiting up to 120 s" in words
    name = Path(env_file).stem
    assert all(f"env:{name}" in r.tags for r in runs.values()), [r.tags for r in runs.values()]
    sent = [json.dumps(e.body, ensure_ascii=False) for e in sim.log.entries("slack")]
    assert any(f"⏳ *Waiting for the environment*: {name} is in use by run '{holder.name}'" in b for b in sent)
    (channel,) = conversation(sim.log)
    assert len(channel["messages"]) == 2  # one parent per run: the waiting run's message became its progress
    assert "Waiting for the environment" not in render_conversation(sim.log)
    assert waiter.state is not None and waiter.state.is_completed()


async def test_with_no_time_to_wait_the_second_run_is_refused_naming_the_holder(
    environment: tuple[Simulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, env_file = environment
    monkeypatch.setenv("RUNBOOK_LOCK_WAIT_S", "1")
    results = await asyncio.gather(run(env_file, "manual"), run(env_file, "cli"))
    refused = [(s, r) for s, r in results if s.is_failed()]
    completed = [(s, r) for s, r in results if s.is_completed()]
    assert len(refused) == 1 and len(completed) == 1, [(s.name, s.message) for s, _ in results]
    (state, report), ((winner, _),) = refused[0], completed
    holder = await flow_run(winner)
    name = Path(env_file).stem
    assert (state.message or "").startswith(f"not run: {name} is in use by run '{holder.name}' (flow run {holder.id}")
    assert report is not None and report.verdict.value == "failed"
    (phase,) = report.phases
    (check,) = phase.checks
    assert check.id == "environment-in-use" and check.status.value == "ERROR" and check.summary == state.message
    assert f"⛔ *Not run*: not run: {name} is in use by run '{holder.name}'" in render_conversation(sim.log)


async def test_the_slot_of_a_run_known_to_be_gone_is_freed_and_only_that_one() -> None:
    """A holder whose lease cannot expire (its private server died with it): the next run frees its slot."""
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from runbook.env_lock import HOLDER_SUFFIX, Holder, free_slot_of, lock_name
    from runbook.server_values import PrefectValues

    environment, gone, other = f"lock-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())
    name = lock_name(environment)
    async with get_client() as client:
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        await client.increment_concurrency_slots(names=[name], slots=1, mode="concurrency")  # held, no lease
        holder = Holder(gone, "lock · cli · 2026-12-01 10:00 UTC", "2026-12-01T10:00:00+00:00", "cli")
        await PrefectValues().write(name + HOLDER_SUFFIX, holder.to_value())
        assert not await free_slot_of(environment, other, "not the holder: nothing freed")
        assert (await client.read_global_concurrency_limit_by_name(name)).active_slots == 1
        assert await free_slot_of(environment, gone, "its process was killed")
        assert (await client.read_global_concurrency_limit_by_name(name)).active_slots == 0
        assert await PrefectValues().read(name + HOLDER_SUFFIX) is None
