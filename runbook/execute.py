"""Running the plan from the command line: the handoff flow with live progress, then the report."""

import asyncio
from typing import Any

from rich.console import Console

from runbook.parameters import HandoffParameters
from runbook.phases import add_check_listener
from runbook.report import check_line, print_report
from runbook.results import RunReport


def report_of(state: object) -> RunReport:
    """The RunReport the handoff flow left in its final state (Completed or Failed)."""
    data = state.result(raise_on_failure=False)  # type: ignore[attr-defined]
    if isinstance(data, RunReport):
        return data
    if isinstance(data, BaseException):
        raise data
    raise RuntimeError(f"the handoff flow ended {getattr(state, 'name', '?')} without a report: {data!r}")


def execute(parameters: HandoffParameters, console: Console) -> RunReport:
    """Run the handoff flow in this process; print each check as it finishes, then the status matrix."""
    from flows.handoff import staging_handoff

    remove = add_check_listener(lambda result: console.print(check_line(result), highlight=False))
    try:
        state: Any = asyncio.run(staging_handoff(parameters, return_state=True))  # type: ignore[arg-type]
    finally:
        remove()
    report = report_of(state)
    print_report(report, console)
    return report
