"""Running the plan from the command line: live progress, then the report."""

import asyncio
from datetime import UTC, datetime

from rich.console import Console

from runbook.config import RunbookConfig
from runbook.phases import add_check_listener
from runbook.report import check_line, print_report
from runbook.results import PhaseResult, RunReport


def phase_result_of(state: object) -> PhaseResult:
    """The PhaseResult a phase flow left in its final state (Completed or Failed)."""
    data = state.result(raise_on_failure=False)  # type: ignore[attr-defined]
    if isinstance(data, PhaseResult):
        return data
    raise RuntimeError(f"the phase flow ended {getattr(state, 'name', '?')} without a phase result: {data!r}")


def execute(env: str, config: RunbookConfig, phases: list[str], console: Console) -> RunReport:
    """Run the selected phases of `env` through Prefect and print progress and the status matrix."""
    from flows.infrastructure import infrastructure_validation

    started = datetime.now(UTC)
    remove = add_check_listener(lambda result: console.print(check_line(result), highlight=False))
    console.print(f"[bold]staging-runbook[/]: {config.name} ({config.gcp.project}), phases: {', '.join(phases)}")
    try:
        results: list[PhaseResult] = []
        if "infrastructure" in phases:
            state = asyncio.run(infrastructure_validation(env, return_state=True))  # type: ignore[call-overload]
            results.append(phase_result_of(state))
    finally:
        remove()
    report = RunReport(
        environment=config.name,
        started_at=started,
        duration_s=(datetime.now(UTC) - started).total_seconds(),
        phases=tuple(results),
    )
    print_report(report, console)
    return report
