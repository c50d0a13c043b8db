"""The project's automations as code: what they watch, what they do, and that applying them twice leaves one of each."""

from typing import Any

import pytest

from runbook.app.automations import (
    CRASH_NOTICE,
    CRASH_SILENT_RUNS,
    HEARTBEAT_S,
    NIGHTLY_MISSED,
    apply_automations,
    crash_notice,
    crash_silent_runs,
    heartbeat_defaults,
)


def test_a_silent_run_is_crashed_only_after_missed_heartbeats_and_never_for_being_paused() -> None:
    trigger = crash_silent_runs(90).trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 90 > 2 * HEARTBEAT_S
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Paused", "prefect.flow-run.Completed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}
    related = str(trigger.match_related)
    assert "staging-handoff" in related and "crash-notice" in related  # only the runbook's flows are watched
    (action,) = crash_silent_runs(90).actions
    assert action.state.value == "CRASHED" and "no heartbeat for 90 s" in (action.message or "")


def test_the_crash_notice_runs_the_notice_deployment_with_the_crashed_runs_id() -> None:
    import uuid

    deployment = uuid.uuid4()
    automation = crash_notice(deployment)
    assert automation.trigger.expect == {"prefect.flow-run.Crashed"} and automation.trigger.posture == "Reactive"
    (action,) = automation.actions
    assert action.deployment_id == deployment and action.parameters == {"flow_run_id": "{{ event.resource.id }}"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}),
        ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}, {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}),
        ({"PREFECT_RUNNER_HEARTBEAT_FREQUENCY": "60"}, {"PREFECT_RUNNER_HEARTBEAT_FREQUENCY": "60"}),
    ],
)
def test_runs_started_here_heartbeat_every_30_s_unless_the_operator_chose(
    environ: dict[str, str], expected: dict[str, str]
) -> None:
    heartbeat_defaults(environ)
    assert environ == expected


async def register_notice_deployment(missed: bool = False) -> None:
    """crash-notice/slack (or nightly-missed/slack) on the session's server, as `prefect deploy` or `runbook serve`
    registers it."""
    from flows.notices import crash_notice, nightly_missed

    notice_flow = nightly_missed if missed else crash_notice
    deployment = await notice_flow.ato_deployment(name="slack")  # type: ignore[attr-defined]
    await deployment.apply()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
async def test_applying_twice_leaves_one_of_each_and_the_notice_waits_for_its_deployment() -> None:
    from prefect import get_client

    async def names() -> list[Any]:
        async with get_client() as client:
            return sorted(a.name for a in await client.read_automations() if a.name.startswith("runbook: "))

    async with get_client() as client:  # a clean slate: an earlier test of the session may have applied them
        for automation in await client.read_automations():
            if automation.name.startswith("runbook: "):
                await client.delete_automation(automation.id)
    first = await apply_automations()
    if [a.outcome for a in first][1].startswith("skipped"):  # the session has no crash-notice/slack yet
        assert "deploy deployments/prefect.yaml first" in first[1].outcome
        await register_notice_deployment()
    await register_notice_deployment(missed=True)  # runbook: nightly missed (tests/test_automations_nightly.py)
    await apply_automations(within_s=60)
    again = await apply_automations(within_s=60)
    assert [(a.name, a.outcome.split(" (")[0]) for a in again] == [
        (CRASH_SILENT_RUNS, "updated"),
        (CRASH_NOTICE, "updated"),
        (NIGHTLY_MISSED, "updated"),
    ]
    assert await names() == [CRASH_NOTICE, CRASH_SILENT_RUNS, NIGHTLY_MISSED]
    async with get_client() as client:
        (silent,) = await client.read_automations_by_name(CRASH_SILENT_RUNS)
    assert silent.trigger.within.total_seconds() == 60  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="at least 45 s"):
        await apply_automations(within_s=30)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
async def test_runbook_serve_applies_them_in_the_background_once_its_deployments_are_registered() -> None:
    import asyncio

    from prefect import get_client

    from runbook.app.serve import apply_automations_in_background

    await register_notice_deployment()
    await register_notice_deployment(missed=True)
    thread = apply_automations_in_background(notices=["crash-notice/slack", "nightly-missed/slack"], timeout_s=20)
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 30)
    assert not thread.is_alive()
    async with get_client() as client:
        assert len(await client.read_automations_by_name(CRASH_SILENT_RUNS)) == 1
        assert len(await client.read_automations_by_name(CRASH_NOTICE)) == 1
        assert len(await client.read_automations_by_name(NIGHTLY_MISSED)) == 1
