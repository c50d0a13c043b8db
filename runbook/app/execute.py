"""Running the plan from the command line: the handoff flow with live progress, interruptible, then the report.

The flow runs in a worker thread with its own event loop, against the API `runbook.app.prefect_server` chose; the main
thread only waits and handles SIGINT/SIGTERM. That keeps the signals away from Prefect's engine (which would raise
in whatever the main thread was doing) and lets an interrupted run end in order:

1. every check stops where it is within a tenth of a second (`runbook.interruption`: no API call after that, its task
   run Cancelled) and the flow's task is cancelled: the engine marks the phase subflow Crashed, as it does;
2. the whole run tree is then set Cancelled ("interrupted by SIGTERM ...", with the checks that had finished in the
   phase it stopped in), the Crashed subflow and its task included, and its Slack parent says so (`run_crashed`);
3. the report holds the phases finished so far and the checks finished in the phase it stopped in (a phase
   `interrupted`), with `interrupted` set; the CLI writes it and exits 130/143.

A run on the CLI's own private server is in the run registry while it lasts: that server dies with the run, so no
Prefect automation watches it; the next run of the environment that finds a stale entry (its process was SIGKILLed)
marks that flow run Crashed, its Slack parent "interrupted, no result", and frees the environment it held. A run
against a shared server (PREFECT_API_URL, :4200) is not registered: the server's automation marks it Crashed when its
heartbeats stop and the crash notice updates its Slack parent (`runbook automations apply`).
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from runbook.app.interrupts import Interrupts
from runbook.app.prefect_server import PrefectServer
from runbook.app.run_registry import RunEntry, RunRegistry, process_start_time, stop_orphaned_server
from runbook.config.models import RunbookConfig
from runbook.env_lock import add_wait_listener, free_slot_of
from runbook.interruption import allow_checks
from runbook.lost_runs import STALE_MESSAGE, close_run_tree
from runbook.parameters import HandoffParameters
from runbook.phases import add_check_listener, add_phase_listener
from runbook.report import check_line, print_report
from runbook.results import CheckResult, PhaseResult, PhaseStatus, RunReport

WIND_DOWN_S = 5.0  # after a signal: how long the flow gets to stop (Prefect marks its subflows Crashed meanwhile)
STATE_TIMEOUT_S = 10.0  # one Prefect API call while winding down (the server may be gone)
SLACK_TIMEOUT_S = 15.0  # the reporter bounds its own calls; this is the backstop


@dataclass
class RunOutcome:
    """What `execute` hands back to the CLI: the report and, for an interrupted run, the signal."""

    report: RunReport
    flow_run_id: str | None = None
    signal_name: str | None = None
    notes: list[str] = field(default_factory=list)


def report_of(state: object) -> RunReport:
    """The RunReport the handoff flow left in its final state (Completed or Failed)."""
    data = state.result(raise_on_failure=False)  # type: ignore[attr-defined]
    if isinstance(data, RunReport):
        return data
    if isinstance(data, BaseException):
        raise data
    raise RuntimeError(f"the handoff flow ended {getattr(state, 'name', '?')} without a report: {data!r}")


def interrupted_report(
    config: RunbookConfig,
    parameters: HandoffParameters,
    started: datetime,
    t0: float,
    phases: list[PhaseResult],
    by: str,
    checks: list[CheckResult] | None = None,
) -> RunReport:
    """The report of a run stopped by a signal: the phases finished so far, then the phase it stopped in with the
    checks that finished in it (`checks`: every check told as it finished), marked interrupted."""
    partial = _interrupted_phase(parameters, phases, checks or [])
    return RunReport(
        environment=config.name,
        started_at=started,
        duration_s=time.monotonic() - t0,
        trigger=parameters.trigger,
        phases=(*phases, *([partial] if partial else [])),
        interrupted=True,
        interrupted_by=by,
    )


def _interrupted_phase(
    parameters: HandoffParameters, phases: list[PhaseResult], checks: list[CheckResult]
) -> PhaseResult | None:
    """The phase the signal came in, with the checks that had finished in it (none: it had not started)."""
    done = {p.phase for p in phases}
    running = next((p for p in parameters.phases if p not in done), None)
    if running is None:
        return None
    finished = tuple(check for check in checks if check.phase == running)
    return PhaseResult(phase=running, status=PhaseStatus.interrupted, checks=finished) if finished else None


def _interruption_message(
    by: str, parameters: HandoffParameters, phases: list[PhaseResult], checks: list[CheckResult] | None = None
) -> str:
    done = {p.phase for p in phases}
    running = next((p.value for p in parameters.phases if p not in done), None)
    during = f" during {running}" if running else ""
    words = f"interrupted by {by}{during} (runbook run): {len(phases)} of {len(parameters.phases)} phases finished"
    partial = _interrupted_phase(parameters, phases, checks or [])
    if partial is not None:  # what the phase it stopped in had found: in Prefect's state message and in Slack
        found = ", ".join(f"{check.id} {check.status.value}" for check in partial.checks)
        words += f"; {running} checks finished before it stopped: {found}"
    return words


class _FlowThread(threading.Thread):
    """The handoff flow in its own event loop; records the outcome for the main thread."""

    def __init__(
        self,
        parameters: HandoffParameters,
        config: RunbookConfig,
        server: PrefectServer,
        interrupts: Interrupts,
        phases: list[PhaseResult],
        console: Console,
        approved_by: str | None,
        startup_timeout_s: float,
    ) -> None:
        super().__init__(name="runbook-flow", daemon=True)
        self.startup_timeout_s = startup_timeout_s
        self.parameters, self.config, self.server = parameters, config, server
        self.interrupts, self.phases, self.console = interrupts, phases, console
        self.checks: list[CheckResult] = []  # every check as it finished (the interrupted phase's are kept)
        self.approved_by = approved_by
        self.registry = RunRegistry()
        self.state: Any = None
        self.error: BaseException | None = None
        self.flow_run_id: str | None = None
        self.cancelled = False
        self.notes: list[str] = []
        self.wound_down = threading.Event()

    def run(self) -> None:
        try:
            # On the critical path first: Prefect and the flows (imported while the private server starts, in
            # its own process); the Google clients after, while the run talks to the server and Slack. Importing
            # both at once only shares one core between them (the GIL) and delays the flow's start.
            import prefect.flow_engine  # noqa: F401
            from prefect.settings import PREFECT_API_URL, temporary_settings

            import flows.handoff  # noqa: F401
            from runbook.google.clients import preload_in_background

            preload_in_background()
            self.server.wait_ready(self.startup_timeout_s, give_up=lambda: self.interrupts.signum is not None)
            if self.interrupts.signum is not None:
                return
            # A new thread starts with an empty context: say which API explicitly rather than rely on the
            # process-wide settings (an in-process caller may have set them in its own context only).
            with temporary_settings(updates={PREFECT_API_URL: self.server.api_url}):
                asyncio.run(self._main())
        except BaseException as error:  # handed to the main thread, which reports it
            self.error = error

    async def _main(self) -> None:
        from prefect import get_client

        async with get_client() as client:
            await self._clean_up_stale_runs(client)
            loop = asyncio.get_running_loop()
            inner = asyncio.create_task(self._run_flow(client))
            self.interrupts.set_cancel(lambda: loop.call_soon_threadsafe(inner.cancel))
            try:
                self.state = await inner
            except asyncio.CancelledError:
                self.cancelled = True
            finally:
                self.interrupts.set_cancel(None)
                self.wound_down.set()
            if self.flow_run_id and not self.cancelled:
                with contextlib.suppress(OSError):
                    self.registry.remove(self.flow_run_id)

    async def _run_flow(self, client: Any) -> Any:
        from prefect.flow_engine import run_flow_async

        from flows.handoff import staging_handoff

        kwargs = self.parameters.flow_kwargs()
        flow_run = await client.create_flow_run(staging_handoff, parameters=kwargs)
        self.flow_run_id = str(flow_run.id)
        if self.server.owned:  # a shared server's automation watches the run; nothing watches a private one
            with contextlib.suppress(OSError):  # the registry helps the next run; it never stops this one
                self.registry.add(self._entry())
        with self._approval():
            return await run_flow_async(staging_handoff, flow_run=flow_run, parameters=kwargs, return_type="state")

    @contextlib.contextmanager
    def _approval(self) -> Iterator[None]:
        if self.approved_by is None:
            yield
            return
        from runbook.approval import preapproved_by_cli

        with preapproved_by_cli(self.approved_by):
            yield

    def _entry(self) -> RunEntry:
        import os

        server_pid = self.server.pid
        return RunEntry(
            flow_run_id=str(self.flow_run_id),
            environment=self.config.name,
            pid=os.getpid(),
            pid_started=process_start_time(os.getpid()),
            started_at=datetime.now(UTC).isoformat(),
            api_url=self.server.api_url,
            owned_server=self.server.owned,
            server_pid=server_pid,
            server_started=process_start_time(server_pid) if server_pid else None,
            trigger=self.parameters.trigger,
        )

    def record_interruption(self) -> None:
        """Called by the main thread once the flow is cancelled (or would not stop): Prefect and Slack are told.

        Not in the flow's own event loop: a cancelled phase flow can keep that loop blocked while its task
        runner waits for a check thread stuck in a network call.
        """
        if self.flow_run_id is None:
            return  # a signal before the flow run existed: nothing was posted, nothing is open
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.server.api_url}):
            recorded = asyncio.run(self._record_interruption())
        if recorded:
            with contextlib.suppress(OSError):
                self.registry.remove(self.flow_run_id)
        # else the registry keeps the run: the next run of the environment finds it stale and closes it

    async def _record_interruption(self) -> bool:
        """The run's Prefect state and Slack parent say it was interrupted (each bounded; neither may hang)."""
        from prefect import get_client
        from prefect.states import Cancelled

        assert self.flow_run_id is not None
        by = self.interrupts.name or "cancellation"
        message = _interruption_message(by, self.parameters, self.phases, self.checks)
        recorded = True
        try:
            async with get_client() as client:
                # Every run of the tree ends Cancelled: those still open, and the subflow (and its task in the run)
                # Prefect's engine marked Crashed as the cancellation reached it.
                close = close_run_tree(client, self.flow_run_id, lambda: Cancelled(message=message), crashed_too=True)
                await asyncio.wait_for(close, STATE_TIMEOUT_S)
        except Exception as error:
            recorded = False
            self.notes.append(f"the flow run's state was not set to Cancelled: {type(error).__name__}: {error}")
        await self._tell_slack(self.flow_run_id, message, cancelled=True)
        with contextlib.suppress(Exception):  # a lease a private server kept in memory dies with it: free it now
            await asyncio.wait_for(
                free_slot_of(self.config.name, self.flow_run_id, f"interrupted by {by}"), STATE_TIMEOUT_S
            )
        return recorded

    async def _tell_slack(self, flow_run_id: str, message: str, cancelled: bool) -> None:
        from runbook.slack.reporter import SlackReporter

        reporter = SlackReporter(self.config, trigger=self.parameters.trigger, run_id=flow_run_id, run_url=None)
        try:
            await asyncio.wait_for(reporter.run_crashed(message, cancelled=cancelled), SLACK_TIMEOUT_S)
        except TimeoutError:
            self.notes.append(f"Slack was not told within {SLACK_TIMEOUT_S:.0f} s that run {flow_run_id} ended")
        for note in reporter.notifications:
            if not note.get("ok", True):
                self.notes.append(f"Slack {note.get('method')}: {note.get('error')}")

    async def _clean_up_stale_runs(self, client: Any) -> None:
        """Runs of this environment whose process died (SIGKILL) with their private server: Crashed in Prefect,
        "interrupted" in Slack, and the environment they held freed (its lease died with that server)."""
        from prefect.states import Crashed

        try:
            stale = self.registry.stale(self.config.name)
        except OSError:
            return
        for entry in stale:
            if stop_orphaned_server(entry):
                self.notes.append(f"stopped the Prefect server (pid {entry.server_pid}) run {entry.flow_run_id} left")
            if not (entry.owned_server and self.server.owned):
                # A run on a shared server: that server's automation marks it Crashed when its heartbeats stop, and
                # the crash notice tells Slack. Its flow run is not in this run's private database.
                with contextlib.suppress(OSError):
                    self.registry.remove(entry.flow_run_id)
                continue
            if not entry.slack_done:
                await self._tell_slack(entry.flow_run_id, STALE_MESSAGE, cancelled=False)
            try:
                await asyncio.wait_for(
                    close_run_tree(client, entry.flow_run_id, lambda: Crashed(message=STALE_MESSAGE)), STATE_TIMEOUT_S
                )
            except Exception as error:
                self.notes.append(f"stale run {entry.flow_run_id} not marked Crashed: {type(error).__name__}")
                with contextlib.suppress(OSError):  # the next run tries again; Slack was told already
                    self.registry.add(RunEntry(**{**entry.__dict__, "slack_done": True}))
                continue
            await free_slot_of(entry.environment, entry.flow_run_id, "its runbook run process was killed")
            with contextlib.suppress(OSError):
                self.registry.remove(entry.flow_run_id)
            self.console.print(
                f"[yellow]an earlier run of {entry.environment} (flow run {entry.flow_run_id}, pid {entry.pid}) "
                f"ended without a result: marked Crashed ({STALE_MESSAGE})[/]",
                highlight=False,
            )


def execute(
    parameters: HandoffParameters,
    console: Console,
    config: RunbookConfig,
    server: PrefectServer,
    interrupts: Interrupts,
    approved_by: str | None = None,
    startup_timeout_s: float = 120.0,
) -> RunOutcome:
    """Run the handoff flow against `server`; print each check as it finishes, then the status matrix.

    Must be called from the main thread inside `interrupts.installed()`. A signal during the run returns an
    interrupted outcome (the phases finished so far); the Prefect server not starting raises PrefectServerError.
    """
    started, t0 = datetime.now(UTC), time.monotonic()
    allow_checks()  # a run before this one in the same process may have been interrupted
    phases: list[PhaseResult] = []
    worker = _FlowThread(parameters, config, server, interrupts, phases, console, approved_by, startup_timeout_s)

    def check_finished(result: CheckResult) -> None:
        worker.checks.append(result)
        console.print(check_line(result), highlight=False)

    remove_check = add_check_listener(check_finished)
    remove_phase = add_phase_listener(phases.append)
    remove_wait = add_wait_listener(lambda words: console.print(f"[yellow]{words}[/]", highlight=False))
    try:
        worker.start()
        deadline: float | None = None
        while worker.is_alive():
            worker.join(0.1)
            if interrupts.signum is not None:
                deadline = deadline or time.monotonic() + WIND_DOWN_S
                if interrupts.again or time.monotonic() > deadline:
                    break  # the report is written from what is known; the process exits without waiting more
    finally:
        remove_check()
        remove_phase()
        remove_wait()
    outcome = RunOutcome(report=RunReport(environment=config.name, started_at=started), notes=worker.notes)
    outcome.flow_run_id = worker.flow_run_id
    if interrupts.signum is not None:
        by = interrupts.name or "signal"
        outcome.signal_name = by
        outcome.report = interrupted_report(config, parameters, started, t0, list(phases), by, list(worker.checks))
        worker.record_interruption()
        return outcome
    if worker.error is not None:
        raise worker.error
    outcome.report = report_of(worker.state)
    print_report(outcome.report, console)
    return outcome
