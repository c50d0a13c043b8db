"""The `runbook` command: run the handoff plan, validate configuration, plan, and serve the simulator.

Exit codes: 0 passed (with or without warnings), 1 failed, 2 bad configuration or usage, 130/143 interrupted
(SIGINT/SIGTERM: the report is written with the phases finished so far).
"""

import atexit
import gc
import json
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from runbook.config.files import ConfigError, load_config

if TYPE_CHECKING:
    from runbook.app.execute import RunOutcome
    from runbook.app.interrupts import Interrupts
    from runbook.app.prefect_server import PrefectServer
    from runbook.config.models import RunbookConfig
    from runbook.parameters import HandoffParameters

app = typer.Typer(
    name="runbook",
    help="staging-runbook: the three-phase staging handoff plan as Prefect flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Validate an environment file or print its JSON Schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
automations_app = typer.Typer(help="The project's Prefect automations (crashed runs, missed nightlies).")
app.add_typer(automations_app, name="automations")

# Piped output (CI logs, `make demo | tee`) gets a readable width instead of rich's 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PhaseName(StrEnum):
    infrastructure = "infrastructure"
    restoration = "restoration"
    business = "business"


EnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment name (environments/NAME.toml) or path to a TOML file.")
]


def _prefect_defaults(verbose: bool) -> None:
    """Offline-friendly Prefect defaults; anything the operator set wins.

    Quiet means a quiet console, never fewer log lines on the server: Prefect's level stays INFO, so a run's INFO
    lines reach its Logs tab (under `runbook run`, and in every run `runbook serve` starts, which inherit this
    environment); only the console handler is held at WARNING.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    from runbook.app.automations import heartbeat_defaults

    heartbeat_defaults(os.environ)  # heartbeats as `runbook automations apply` expects them (every 30 s)


def _cli_user() -> str:
    """Who approved at the terminal (`--approve`): the login name, for the report."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "the CLI user"


def _print_config_error(error: ConfigError) -> None:
    """One line per problem (file: key: expected ..., found ...); past the first 200 only a count."""
    total = len(error.problems) + error.omitted
    errors.print(f"[bold red]configuration is not valid[/] ({total} problem(s)):")
    for problem in error.problems:
        errors.print(f"  {problem}", markup=False, soft_wrap=True)
    if error.omitted:
        errors.print(f"  ... and {error.omitted} more problem(s): fix these first", markup=False, soft_wrap=True)


@config_app.command("validate")
def config_validate(env: EnvOption) -> None:
    """Validate an environment file: one message per problem (file, key, expected, found); exit 2 if invalid."""
    try:
        config = load_config(env)
    except ConfigError as error:
        _print_config_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    console.print(
        f"[green]valid[/]: {config.name} (project {config.gcp.project}, region {config.gcp.region}, "
        f"{len(config.services)} services, {len(config.secrets.expected)} secrets, profile {config.profile.value})"
    )
    from runbook.config.slack_models import placeholder_warnings

    for warning in placeholder_warnings(config.slack):
        console.print(f"[yellow]warning[/]: {warning}", soft_wrap=True)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of an environment file (for editors)."""
    from runbook.config.schema import environment_schema

    console.out(json.dumps(environment_schema(), indent=2))


@app.command("plan")
def plan(env: EnvOption) -> None:
    """Print the phases, checks, dependencies, gates and what each check reads. No network call."""
    try:
        config = load_config(env)
    except ConfigError as error:
        _print_config_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    from runbook.plan import render_plan

    console.print(render_plan(config))


@app.command("simulate")
def simulate(
    scenario: Annotated[str, typer.Option(help="Scenario name; compose faults with '+'.")] = "healthy",
    port: Annotated[
        int, typer.Option(help="HTTP port on 127.0.0.1 (gRPC Monitoring on port+1); 0: free ports.")
    ] = 8765,
    list_scenarios: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
) -> None:
    """Serve the local staging simulator on 127.0.0.1 in the foreground (Ctrl-C stops it)."""
    from simulator.scenario import list_scenarios as known

    if list_scenarios:
        for name, description in sorted(known().items()):
            console.print(f"[bold]{name}[/]: {description}")
        return
    from simulator.server import main

    try:
        main(scenario, port)  # gRPC on port + 1, or a free port of its own with --port 0
    except ValueError as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(EXIT_USAGE) from None


@app.command("run")
def run(
    env: EnvOption,
    phase: Annotated[
        list[PhaseName] | None,
        typer.Option(
            "--phase",
            "-p",
            help="Phase(s) to run, always in plan order; repeat it or list more after it. Default: all.",
        ),
    ] = None,
    more_phases: Annotated[
        list[PhaseName] | None,
        typer.Argument(metavar="PHASE", help="More phases: --phase infrastructure restoration.", show_default=False),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report to this file.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML (one testcase per check) to this file.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; call nothing.")] = False,
    redeploy: Annotated[bool, typer.Option(help="Roll a new revision of each service in phase 2 (mutates).")] = False,
    approve: Annotated[bool, typer.Option(help="Approve the redeploy up front (required with --redeploy).")] = False,
    approval_timeout: Annotated[int, typer.Option(help="Seconds to wait for approval in the UI (30-86400).")] = 3600,
    trigger: Annotated[str, typer.Option(help="What started the run, for reports and Slack.")] = "cli",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own logs.")] = False,
) -> None:
    """Run the handoff plan against an environment and print the component status matrix."""
    from runbook.app.arguments import ArgumentError, check_output_paths, run_parameters

    phases = _phases([*(phase or []), *(more_phases or [])])
    try:  # every argument before anything starts: one line, exit 2
        parameters = run_parameters(
            environment=env,  # a name in environments/ or a path: the flow loads it again, in its own process
            phases=[p.value for p in phases],
            redeploy=redeploy,
            approval_timeout_s=approval_timeout,
            trigger=trigger,
        )
        check_output_paths(report, junit)
    except ArgumentError as error:
        errors.print(str(error), markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
    try:
        config = load_config(env)  # nothing touches the network before the config is valid
    except ConfigError as error:
        _print_config_error(error)
        raise typer.Exit(EXIT_USAGE) from None
    if dry_run:
        from runbook.plan import render_plan

        console.print(render_plan(config))
        console.print(f"Dry run of phases {', '.join(phases)}: nothing was called.")
        return
    if redeploy and not approve:
        errors.print(
            "--redeploy mutates Cloud Run (a new revision of every service): the CLI refuses without --approve. "
            "Pass --approve to approve up front, or start the run from the Prefect UI to approve it there.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_USAGE)
    _prefect_defaults(verbose)
    from runbook.app.interrupts import EXIT_CODES, Interrupts
    from runbook.app.prefect_server import PrefectServerError, prepare_server

    interrupts = Interrupts()
    umask = os.umask(0o077)  # what the run writes under PREFECT_HOME (stores, registry, Prefect's files): 0600/0700
    api_url_before = os.environ.get("PREFECT_API_URL")
    with interrupts.installed():
        # The config is valid: find or start the Prefect API now, so it comes up while the clients import.
        server = prepare_server()
        os.environ["PREFECT_API_URL"] = server.api_url  # read when prefect is imported, below
        _import_flows_in_background()
        try:
            if not verbose:  # the terminal prints each check itself; the Prefect UI still gets these log lines
                from runbook.check_task import story_off_the_console

                story_off_the_console()
            outcome = _run_flow(config, parameters, approve, server, interrupts)
        except PrefectServerError as error:
            errors.print(f"[red]{error}[/]", markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            server.stop()  # no Prefect server outlives the run that started it
            if api_url_before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = api_url_before
            os.umask(umask)
    result = outcome.report
    for note in outcome.notes:
        errors.print(f"[yellow]{note}[/]", markup=True, soft_wrap=True)
    if outcome.signal_name:
        from runbook.report import print_report

        print_report(result, console)
    from runbook.app.arguments import EXIT_NOT_WRITTEN, write_outputs

    written, not_written = write_outputs(result, report, junit)
    for line in written:
        console.print(line, markup=False)
    for line in not_written:
        errors.print(line, markup=False, soft_wrap=True)
    if outcome.signal_name:
        # Check threads blocked in a Google call would hold a normal interpreter exit: the report is written, the
        # server stopped and Slack told, so leave now with the shell's code for the signal (130 INT, 143 TERM).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_CODES[signal.Signals[outcome.signal_name]])
    # The interpreter's last garbage collection walks everything Prefect and the Google clients made: about a second
    # between the verdict and the shell prompt on a busy machine. Frozen at exit (atexit: an in-process caller is not
    # affected before its own exit), those objects are left to the process's end; atexit handlers (Prefect's last
    # deliveries), finalizers and the files' closing run as before.
    atexit.register(gc.freeze)
    if not_written:
        raise typer.Exit(EXIT_NOT_WRITTEN)
    raise typer.Exit(EXIT_FAILED if result.verdict.value == "failed" else EXIT_PASSED)


def _phases(asked: list[PhaseName]) -> list[PhaseName]:
    """The phases asked for, once each and in plan order; none asked: all."""
    return [p for p in PhaseName if p in asked] if asked else list(PhaseName)


def _import_flows_in_background() -> None:
    """Prefect and the flows are the first thing the run needs once the API answers: start importing them now."""
    import importlib
    import threading

    def load() -> None:
        for module in ("prefect.flow_engine", "flows.handoff"):
            try:
                importlib.import_module(module)
            except Exception:  # imported again, and the error shown, where the run needs it
                return

    threading.Thread(target=load, name="import-flows", daemon=True).start()


def _run_flow(
    config: "RunbookConfig",
    parameters: "HandoffParameters",
    approve: bool,
    server: "PrefectServer",
    interrupts: "Interrupts",
) -> "RunOutcome":
    from runbook.app.execute import execute

    console.print(
        f"[bold]staging-runbook[/]: {config.name} ({config.gcp.project}), phases: "
        f"{', '.join(p.value for p in parameters.phases)} (Prefect: {server.source})"
    )
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120)
    return execute(
        parameters,
        console,
        config,
        server,
        interrupts,
        approved_by=_cli_user() if approve else None,
        startup_timeout_s=timeout,
    )


@app.command("serve")
def serve(
    deployment: Annotated[
        list[str] | None,
        typer.Option("--deployment", "-d", help="Serve only these (e.g. staging-handoff/nightly); default: all."),
    ] = None,
    prefect_file: Annotated[
        Path | None, typer.Option(help="The deployments file; default: the project's deployments/prefect.yaml.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Most flow runs at the same time; default: no limit.")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the deployments and their schedules; exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own logs.")] = False,
) -> None:
    """Serve the deployments of deployments/prefect.yaml from this process (no work pool, no worker); Ctrl-C stops."""
    _prefect_defaults(verbose)
    from runbook.app.serve import PREFECT_FILE, DeploymentFileError, deployments, serve_deployments

    path = prefect_file or PREFECT_FILE
    try:
        built = deployments(path, deployment)
    except (DeploymentFileError, OSError) as error:
        errors.print(f"[red]{error}[/]", markup=True)
        raise typer.Exit(EXIT_USAGE) from None
    if list_only:
        for item in built:
            when = ", ".join(
                f"{cron} {getattr(s.schedule, 'timezone', None) or 'UTC'}{'' if s.active else ' (off)'}"
                for s in item.schedules or []
                if (cron := getattr(s.schedule, "cron", None))
            )
            console.print(f"{item.flow_name}/{item.name}: {when or 'no schedule'}", markup=False)
        return
    if not os.environ.get("PREFECT_API_URL"):
        errors.print(
            "PREFECT_API_URL is not set: serving against a temporary in-process Prefect server, invisible to any UI. "
            "Start `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api first."
        )
    for line in serve_deployments(path, deployment, limit=limit):
        errors.print(f"runbook serve stopped: {line}", markup=False, soft_wrap=True)


@automations_app.command("apply")
def automations_apply(
    within: Annotated[
        float,
        typer.Option(help="Seconds without a heartbeat before a run is marked Crashed (runs heartbeat every 30 s)."),
    ] = 90.0,
    nightly_within: Annotated[
        float,
        typer.Option(
            help="Seconds after a nightly run's time (Late, or taken by a worker) before Slack hears it "
            "did not finish; above the nightly's longest run (~1 h)."
        ),
    ] = 7200.0,
) -> None:
    """Create or update the automations on the server of PREFECT_API_URL (idempotent: one of each, however often)."""
    import asyncio

    _prefect_defaults(False)
    from runbook.app.automations import MIN_NIGHTLY_WITHIN_S, MIN_WITHIN_S, apply_automations

    if within < MIN_WITHIN_S:
        errors.print(f"--within {within:g}: at least {MIN_WITHIN_S} s (runs heartbeat every 30 s)", markup=False)
        raise typer.Exit(EXIT_USAGE)
    if nightly_within < MIN_NIGHTLY_WITHIN_S:
        errors.print(
            f"--nightly-within {nightly_within:g}: at least {MIN_NIGHTLY_WITHIN_S} s (Prefect's minimum)", markup=False
        )
        raise typer.Exit(EXIT_USAGE)
    if not os.environ.get("PREFECT_API_URL"):
        errors.print("PREFECT_API_URL is not set: point it at the Prefect server (export PREFECT_API_URL=...)")
        raise typer.Exit(EXIT_USAGE)
    try:
        applied = asyncio.run(apply_automations(within, nightly_within))
    except Exception as error:
        errors.print(f"automations not applied: {type(error).__name__}: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    for item in applied:
        console.print(f"{item.name}: {item.outcome}", markup=False)
    if any(item.outcome.startswith("skipped") for item in applied):
        raise typer.Exit(EXIT_FAILED)


@app.command("slack-bot")
def slack_bot(
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="Environment(s) with \\[slack.chatops] to serve; default: all that have it."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own logs.")] = False,
) -> None:
    """Approve/reject redeploys and start runs from Slack over Socket Mode (no public URL); Ctrl-C stops."""
    import asyncio
    import logging

    _prefect_defaults(verbose)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from runbook.config.files import available_environments
    from runbook.slack.bot import BotSetupError, load_environments, run_bot

    try:
        environments = load_environments(env or available_environments())
    except (ConfigError, BotSetupError) as error:
        if isinstance(error, ConfigError):
            _print_config_error(error)
        else:
            errors.print(str(error), style="red", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    console.print(f"Slack ChatOps (Socket Mode) for {', '.join(environments)}; Ctrl-C stops.")
    try:
        asyncio.run(run_bot(environments, asyncio.Event()))
    except BotSetupError as error:
        errors.print(str(error), style="red", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        console.print("Slack ChatOps stopped.")


def main() -> None:  # pragma: no cover - console script entry for `python -m runbook.app.cli`
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
