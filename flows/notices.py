"""Crash notices: whenever a handoff run becomes Crashed, by any path, its Slack parent message says so in place.

A run whose process dies outright (SIGKILL, a lost worker or container) runs no hook of its own. Prefect's server
notices: the automation `runbook: crash silent runs` marks it Crashed when its heartbeats stop, and the automation
`runbook: crash notice` then runs this flow (deployment `crash-notice/slack`) on any worker, with the crashed run's
id. It finds the run's parent message on the server (`runbook.slack.store.ParentStore`), updates it ("Run crashed"
and why) and closes the run's phase subflows and check task runs that were left Running. A crash the engine saw
itself was told by the run's own `on_crashed` hook already: then this flow only closes the tree.

Missed nightlies: the automation `runbook: nightly missed` runs `nightly_missed` (deployment `nightly-missed/slack`)
for a nightly run that was Late or taken by a worker and did not finish in time. It reads the run, its deployment's
schedule, its work pool, queue and workers, and posts one message to the environment's runbook channel: when it was
due, what it is now, the likely cause and the commands. It runs on a worker like any deployment: when the cause is
that no worker polls the pool, it runs once one does (the automation's server-side webhook call does not wait).
"""

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.states import Crashed

from flows.handoff import _config_for, _parameters_of
from runbook.lost_runs import close_run_tree
from runbook.slack.missed_message import MissedNightly
from runbook.slack.reporter import SlackReporter
from runbook.slack.store import ParentStore

NOTICE_TIMEOUT_S = 120
READ_TIMEOUT_S = 10.0  # each diagnostic read of the missed-nightly notice: an unanswered one is said, not waited on


@flow(
    name="crash-notice",
    description="Tell the Slack parent of a crashed staging-handoff run that it crashed (run by an automation).",
    timeout_seconds=NOTICE_TIMEOUT_S,
)
async def crash_notice(flow_run_id: str = "") -> str:
    """Update the crashed run's Slack parent message in place and close its run tree.

    Args:
        flow_run_id: The crashed flow run: its id, or its event resource id `prefect.flow-run.<id>`.
    """
    from prefect import get_client

    logger = get_run_logger()
    run_id = flow_run_id.removeprefix("prefect.flow-run.")
    if not run_id:
        return "no flow run given: nothing to tell (the automation 'runbook: crash notice' passes one)"
    async with get_client() as client:
        run = await client.read_flow_run(UUID(run_id))
        state = run.state
        if state is None or not state.is_crashed():
            return f"flow run {run_id} is {state.name if state else 'unknown'}, not Crashed: nothing to tell"
        message = state.message or "crashed"
        await close_run_tree(client, run_id, lambda: Crashed(message=message), root=False)
    told = await _tell_slack(run, run_id, message)
    logger.info("crash of %s (%s): %s", run.name, run_id, told)
    return told


async def _tell_slack(run: Any, run_id: str, message: str) -> str:
    try:
        parameters = _parameters_of(run)
        config = _config_for(parameters)
    except Exception as error:  # its environment file is not here (a CLI run with a path elsewhere): nothing to update
        return f"Slack not told: the run's environment could not be loaded here ({type(error).__name__})"
    store = ParentStore()
    record = await store.get(run_id)  # unreadable: this run fails, rather than post a second parent message
    if record is not None and record.progress.get("outcome") in ("crashed", "cancelled"):
        return "Slack was told already (by the run itself)"
    reporter = SlackReporter(config, trigger=parameters.trigger, run_id=run_id, run_url=None, store=store)
    await reporter.run_crashed(message)
    failed = [n for n in reporter.notifications if not n.get("ok", True)]
    if failed:
        return "Slack not told: " + "; ".join(str(n.get("error")) for n in failed)[:300]
    return "Slack parent updated" if record is not None and record.ts else "Slack told"


@flow(
    name="nightly-missed",
    description="Tell the runbook channel that a nightly run did not finish in time (run by an automation).",
    timeout_seconds=NOTICE_TIMEOUT_S,
)
async def nightly_missed(flow_run_id: str = "", within_s: float = 0.0) -> str:
    """Post, to the missed run's environment's runbook channel, that it did not finish in time, why and what to do.

    Args:
        flow_run_id: The nightly flow run: its id, or its event resource id `prefect.flow-run.<id>`.
        within_s: The automation's window in seconds (said in the message); 0: "in the configured time".
    """
    from prefect import get_client

    logger = get_run_logger()
    run_id = flow_run_id.removeprefix("prefect.flow-run.")
    if not run_id:
        return "no flow run given: nothing to tell (the automation 'runbook: nightly missed' passes one)"
    async with get_client() as client:
        run = await client.read_flow_run(UUID(run_id))
        try:
            parameters = _parameters_of(run)
            config = _config_for(parameters)
        except Exception as error:  # its environment file is not here: nobody to tell through the runbook's Slack
            told = f"Slack not told: the run's environment could not be loaded here ({type(error).__name__})"
            logger.warning("nightly %s (%s) missed: %s", run.name, run_id, told)
            return told
        missed = await _what_was_missed(client, run, config.name, within_s)
    reporter = SlackReporter(config, trigger=parameters.trigger, run_id=run_id, run_url=None, store=ParentStore())
    await reporter.nightly_missed(missed)
    failed = [n for n in reporter.notifications if not n.get("ok", True)]
    told = "Slack not told: " + "; ".join(str(n.get("error")) for n in failed)[:300] if failed else "Slack told"
    logger.info("nightly %s (%s) did not finish in time (%s now): %s", run.name, run_id, missed.state, told)
    return told


async def _what_was_missed(client: Any, run: Any, environment: str, within_s: float) -> MissedNightly:
    """The run, its deployment's schedule, its pool, queue and workers as the server has them now; each read bounded,
    one that fails is named in `unknown`."""
    from prefect.utilities.urls import url_for

    unknown: list[str] = []

    async def read(what: str, call: Any) -> Any:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                return await call
        except Exception:
            unknown.append(what)
            return None

    deployment = await read("deployment", client.read_deployment(run.deployment_id)) if run.deployment_id else None
    pool_name = run.work_pool_name or (deployment.work_pool_name if deployment else None)
    queue_name = run.work_queue_name or (deployment.work_queue_name if deployment else None)
    pool = await read("work pool", client.read_work_pool(pool_name)) if pool_name else None
    queue = (
        await read("work queue", client.read_work_queue_by_name(queue_name, work_pool_name=pool_name))
        if pool_name and queue_name
        else None
    )
    workers = await read("workers", client.read_workers_for_work_pool(pool_name)) if pool_name else None
    seen = [w.last_heartbeat_time for w in workers or [] if w.last_heartbeat_time]
    online = (
        None if workers is None else sum(1 for w in workers if str(getattr(w.status, "value", w.status)) == "ONLINE")
    )
    schedules = [s.schedule for s in (deployment.schedules if deployment else None) or []]
    zone = next((getattr(s, "timezone", None) for s in schedules if getattr(s, "timezone", None)), None)
    url = url_for("flow-run", obj_id=run.id)
    state = run.state
    return MissedNightly(
        environment=environment,
        run_name=run.name,
        run_id=str(run.id),
        deployment=f"staging-handoff/{deployment.name}" if deployment else "staging-handoff/nightly",
        within_s=within_s,
        state=(state.name if state else None) or "unknown",
        state_since=_aware(state.timestamp) if state else None,
        scheduled=_aware(run.expected_start_time),
        timezone=zone,
        pool=pool_name,
        pool_paused=pool.is_paused if pool else None,
        queue=queue_name,
        queue_paused=queue.is_paused if queue else None,
        workers_online=online,
        last_worker_seen=_aware(max(seen)) if seen else None,
        run_url=url if isinstance(url, str) and url.startswith("http") else None,
        unknown=tuple(unknown),
    )


def _aware(moment: Any) -> datetime | None:
    return moment if isinstance(moment, datetime) else None
