"""Runs that ended without their process telling Prefect: the run tree closed, whoever finds it.

A flow run whose process is gone (SIGKILL, a lost machine or container) is marked Crashed by Prefect's automation
when its heartbeats stop (`runbook automations apply`), or, for `runbook run` on its private server, by the next run
of the environment. The run's phase subflow and its check task runs are left Running by the process that died:
`close_run_tree` puts every one of them that is not final into the same final state.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

STALE_MESSAGE = "interrupted, no result"


async def close_run_tree(
    client: Any, flow_run_id: str, make_state: Callable[[], Any], root: bool = True, crashed_too: bool = False
) -> None:
    """Force the run (unless `root` is False), its phase subflows and their task runs that are not final into
    `make_state()`; with `crashed_too`, those Prefect's engine marked Crashed as well.

    A run stopped from outside (a signal, SIGKILL) leaves the phase it was in, and that phase's check task runs,
    Running: the engine that would have finished them is gone or blocked. A run the CLI cancelled on a signal has
    its running subflow and that subflow's task in the parent marked Crashed by the engine ("Execution was cancelled
    by the runtime environment"): they were cancelled, and say so (`crashed_too`).
    """
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    if root:
        await client.set_flow_run_state(flow_run_id, make_state(), force=True)
    parent = UUID(flow_run_id)
    children = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]))
    )

    def open_or_crashed(state: Any) -> bool:
        return state is None or not state.is_final() or (crashed_too and state.is_crashed())

    for child in children:
        if open_or_crashed(child.state):
            await client.set_flow_run_state(child.id, make_state(), force=True)
    tasks = await client.read_task_runs(
        task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[parent, *(c.id for c in children)]))
    )
    for task in tasks:
        if open_or_crashed(task.state):
            await client.set_task_run_state(task.id, make_state(), force=True)
