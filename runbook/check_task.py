"""A check as a Prefect task whose final state says its outcome, as operators read it in the UI.

PASS is Completed, WARN Completed named "Warning", SKIPPED Completed named "Skipped", FAIL Failed, ERROR Failed named
"Error"; the state's message is the check's summary and its data the `CheckResult`, so the phase flow still reads
every result (`settle` asks with `raise_on_failure=False`). Check tasks have no Prefect retries: a Failed state never
re-runs a check (transient API errors are retried inside the check, within its deadline). Each check also writes one
line to its task run's log as it ends (status, summary, the first line of the fix).

Called as a plain function (`task.fn(...)`, the unit tests) the body's `CheckResult` comes back unchanged. A check
stopped by an interrupted run (`runbook.interruption`) has no outcome: its task run ends Cancelled.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.states import Cancelled, Completed, Failed, State

from runbook.interruption import ChecksStopped
from runbook.results import CheckResult, Status

P = ParamSpec("P")

_LOG_LEVELS = {Status.PASS: 20, Status.SKIPPED: 20, Status.WARN: 30, Status.FAIL: 40, Status.ERROR: 40}


def outcome_state(result: CheckResult) -> State:
    """The final task run state that shows `result`'s status in the Prefect UI."""
    summary = result.summary
    if result.status == Status.PASS:
        return Completed(message=summary, data=result)
    if result.status == Status.WARN:
        return Completed(name="Warning", message=summary, data=result)
    if result.status == Status.SKIPPED:
        return Completed(name="Skipped", message=summary, data=result)
    if result.status == Status.FAIL:
        return Failed(message=summary, data=result)
    return Failed(name="Error", message=summary, data=result)


def outcome_line(result: CheckResult) -> str:
    """The check's one log line: `FAIL vpc-connector (P0): summary | fix: first line of the remediation`."""
    line = f"{result.status.value} {result.id} ({result.severity.value}): {result.summary}"
    fix = result.remediation.strip().splitlines()[0] if result.remediation.strip() else ""
    if fix and result.status != Status.PASS:
        line += f" | fix: {fix}"
    return line


def log_outcome(result: CheckResult) -> None:
    """Write the outcome line to the current task run's logger (the Logs tab of the run and of its phase)."""
    from prefect import get_run_logger

    get_run_logger().log(_LOG_LEVELS.get(result.status, 20), "%s", outcome_line(result), extra=RUN_STORY)


class _CheckOutcomeIsNotAnError(logging.Filter):
    """Drop Prefect's "Task run failed with state: ..." record for a check's Failed outcome.

    Prefect logs it at ERROR with an empty traceback ("NoneType: None") right after our own outcome line, which
    already says what failed and how to fix it; its "Finished in state Failed('summary')" line stays.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("Task run failed with state: ") and "result=CheckResult(" in message)


logging.getLogger("prefect.task_runs").addFilter(_CheckOutcomeIsNotAnError())

# Log records of the run's story (a check's outcome, a phase's): for the Prefect UI's Logs tab. The CLI prints the
# same story itself, so its console leaves them out (`story_off_the_console`).
RUN_STORY = {"runbook_story": True}


class _NotTheRunsStory(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "runbook_story", False):
            return False
        # A check task run's own Prefect lines ("Finished in state Failed(...)") repeat the check's line.
        return not (record.name.startswith("prefect.task_runs") and record.levelno < logging.CRITICAL)


def story_off_the_console() -> None:
    """Keep the run's story and the check task runs' lines off Prefect's console handler (they still reach the API).

    For `runbook run`, which prints each check as it ends and the status matrix; `--verbose` keeps everything.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    for logger in (logging.getLogger(), logging.getLogger("prefect")):  # Prefect's console handler is the root's
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(_NotTheRunsStory())


def check_task(check_id: str) -> Callable[[Callable[P, Awaitable[CheckResult]]], Task[P, Any]]:
    """Decorate an async check body as the Prefect task `check_id`, its task runs named after the check."""

    def decorate(body: Callable[P, Awaitable[CheckResult]]) -> Task[P, Any]:
        @functools.wraps(body)
        async def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                result = await body(*args, **kwargs)
            except ChecksStopped as stopped:  # the run was interrupted: no outcome, the task run ends Cancelled
                if TaskRunContext.get() is None:
                    raise
                return Cancelled(message=f"{stopped}: stopped before it decided")
            if TaskRunContext.get() is None:  # called as a plain function
                return result
            log_outcome(result)
            return outcome_state(result)

        return task(name=check_id, task_run_name=check_id, cache_policy=NO_CACHE, retries=0)(run)

    return decorate


@check_task("recorded-check")
async def _record(result: CheckResult) -> CheckResult:
    return result


def record_check(result: CheckResult) -> Any:
    """A task run for a check the flow decided itself (skipped after its prerequisite, a declined redeploy).

    Returns the submitted future; its task run is named after the check and ends in the check's outcome state.
    """
    return _record.with_options(name=result.id, task_run_name=result.id).submit(result)
