"""Crash notices: whenever a handoff run becomes Crashed, by any path, its Slack parent message says so in place.

A run whose process dies outright (SIGKILL, a lost worker or container) runs no hook of its own. Prefect's server
notices: the automation `runbook: crash silent runs` marks it Crashed when its heartbeats stop, and the automation
`runbook: crash notice` then runs this flow (deployment `crash-notice/slack`) on any worker, with the crashed run's
id. It finds the run's parent message on the server (`runbook.slack.store.ParentStore`), updates it ("Run crashed"
and why) and closes the run's phase subflows and check task runs that were left Running. A crash the engine saw
itself was told by the run's own `on_crashed` hook already: then this flow only closes the tree.
"""

from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.states import Crashed

from flows.handoff import _config_for, _parameters_of
from runbook.lost_runs import close_run_tree
from runbook.slack.reporter import SlackReporter
from runbook.slack.store import ParentStore

NOTICE_TIMEOUT_S = 120


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
