"""The staging handoff: three phases in order, each only when the previous one passed its gate.

  1. infrastructure-validation  (infrastructure team)
  2. service-restoration        (platform team)
  3. business-validation        (product team)
A closed gate stops the run: later phases are recorded as skipped with the reason ("infrastructure validation
failed: vpc-connector"), shown in Prefect as Completed named "Skipped", and this flow ends Failed.
The report is attached to the run: the component status matrix (markdown) and a table of every check.
"""

from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Failed, State

from flows.business import business_validation
from flows.infrastructure import infrastructure_validation
from flows.restoration import service_restoration
from runbook.approval import ApprovalOutcome, request_approval
from runbook.check_task import RUN_STORY, outcome_line
from runbook.config.files import load_config
from runbook.config.models import RunbookConfig
from runbook.env_lock import EnvironmentBusy, LockUnavailable, env_tag, hold_environment, tag_run
from runbook.google.clients import preload_in_background
from runbook.parameters import (
    ApprovalTimeout,
    DryRun,
    EnvironmentName,
    HandoffParameters,
    PhaseList,
    Redeploy,
    SlackChannel,
    SlackQuiet,
    Trigger,
    generated_name,
    run_name,
)
from runbook.phases import (
    crashed_phase,
    phase_recorded,
    publish_phase_artifact,
    refused_phase,
    run_tags,
    skipped_phase,
)
from runbook.plan import plan_text
from runbook.report import PHASE_WORDS, VERDICT_WORDS, checks_table, status_matrix_markdown
from runbook.results import PHASE_TITLES, Phase, PhaseResult, PhaseStatus, RunReport
from runbook.slack.reporter import SlackReporter
from runbook.slack.stakeholder_messages import stakeholder_summary

# A worker's flow-run process imports this module first: the Google client libraries start loading now, while
# Prefect loads and creates the run (once per process; the CLI and the flow body ask again and get the same thread).
preload_in_background()


def handoff_run_name() -> str:
    """`staging · nightly · 2026-12-01 10:00 UTC`: the environment, what started the run, and when.

    A name typed in the UI's Custom run (anything but the two words Prefect makes up) is the operator's: kept.
    """
    from prefect.runtime import flow_run

    if flow_run.name and not generated_name(str(flow_run.name)):
        return str(flow_run.name)
    parameters = flow_run.parameters or {}
    when = flow_run.scheduled_start_time or datetime.now(UTC)
    return run_name(str(parameters.get("environment") or "staging"), str(parameters.get("trigger") or "manual"), when)


async def phase_result_of(phase: Phase, state: State) -> PhaseResult:
    """The PhaseResult a phase flow left in its final state (Completed, Skipped or Failed).

    A phase flow that crashed (an exception, not a closed gate) becomes a failed phase with one ERROR, so the
    report still says what happened and the later phases are skipped.
    """
    data = await state.aresult(raise_on_failure=False)
    if isinstance(data, PhaseResult):
        return data
    return crashed_phase(phase, f"{state.name}: {state.message or data!r}")


async def _run_phase(
    phase: Phase,
    parameters: HandoffParameters,
    config: RunbookConfig,
    slack: SlackReporter,
    earlier: list[PhaseResult],
    skip: str | None,
) -> State:
    target = parameters.target
    if phase == Phase.infrastructure:
        if skip:  # never happens in the plan's order; kept so every phase can be recorded alike
            return Completed(name="Skipped", message=skip, data=skipped_phase(phase, skip))
        return await infrastructure_validation(target, return_state=True)
    if phase == Phase.restoration:
        approval: ApprovalOutcome | None = None
        if parameters.redeploy and not skip:
            # The run the operator started pauses (Resume form), not the subflow: that is where they look.
            names = [service.name for service in config.services]
            from runbook.slack.approval_post import announce  # the approvers asked in Slack, with [slack.chatops]

            async def announce_and_link(run_id: str, given: dict[str, Any], services: list[str], wait_s: int) -> Any:
                posted = await announce(run_id, given, services, wait_s)
                if posted is not None and posted.link:  # the run's parent message links to the request
                    await slack.approval_requested(posted.link)
                return posted

            approval = await request_approval(config.name, names, parameters.approval_timeout_s, announce_and_link)
            if config.slack.chatops is None:  # with ChatOps the approval message itself shows the decision
                await slack.approval_decided(approval.reason, approval.approved)
        return await service_restoration(
            target,
            redeploy_services=parameters.redeploy,
            approval=approval,
            skip_reason=skip,
            return_state=True,
        )
    return await business_validation(target, earlier, skip_reason=skip, return_state=True)


async def refused_approvals(flow_run_id: str) -> list[dict[str, Any]]:
    """Approval clicks refused in Slack (not an approver), recorded on the run; none when they cannot be read."""
    from prefect import get_run_logger

    try:
        from runbook.slack.approval import refused_attempts

        return await refused_attempts(flow_run_id)
    except Exception as error:  # the report still lands; the log says what is missing from it
        get_run_logger().warning("refused approval attempts not read: %s", type(error).__name__)
        return []


def log_phase(result: PhaseResult) -> None:
    """One line per phase in the run's own Logs tab, and one per problem check under it: the run's story."""
    from prefect import get_run_logger

    logger = get_run_logger()
    title = PHASE_TITLES[result.phase]
    if result.status == PhaseStatus.skipped:
        logger.warning("%s skipped: %s", title, result.skip_reason, extra=RUN_STORY)
        return
    level = {PhaseStatus.failed: 40, PhaseStatus.passed_with_warnings: 30}.get(result.status, 20)
    problems = [c for c in result.checks if c.problem]
    counts = (title, PHASE_WORDS[result.status], len(result.checks), len(problems))
    logger.log(level, "%s %s (%d checks, %d problem(s))", *counts, extra=RUN_STORY)
    for check in problems:
        logger.log(level, "  %s", outcome_line(check), extra=RUN_STORY)


async def publish_report(report: RunReport) -> None:
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    await acreate_markdown_artifact(
        key=f"{report.environment}-handoff-report",
        markdown=status_matrix_markdown(report),
        description=f"Staging handoff {report.environment}: {VERDICT_WORDS[report.verdict.value]}",
    )
    await acreate_table_artifact(
        key=f"{report.environment}-handoff-checks",
        table=checks_table(report.phases),
        description="Every check of the run",
    )
    summary = stakeholder_summary(report)
    if summary:  # the business subflow has it; the run the operator started shows it too
        await acreate_markdown_artifact(
            key=f"{report.environment}-handoff-stakeholder-summary",
            markdown=summary,
            description="Summary for stakeholders, as the business phase composed it",
        )


def _config_for(parameters: HandoffParameters) -> RunbookConfig:
    """The environment's config, with the run's Slack quiet mode and channel when the parameters set them."""
    config = load_config(parameters.target)  # nothing touches the network before the config is valid
    slack: dict[str, Any] = {}
    if parameters.slack_quiet:
        slack["quiet"] = True
    if parameters.slack_channel.strip():
        slack["channel"] = parameters.slack_channel.strip()
    if not slack:
        return config
    return config.model_copy(update={"slack": config.slack.model_copy(update=slack)})


def _reporter(config: RunbookConfig, parameters: HandoffParameters, flow_run_id: str) -> SlackReporter:
    from prefect.runtime import flow_run

    url = flow_run.ui_url  # "None/flow-runs/..." when no UI is configured (ephemeral API): no link then
    run_url = url if isinstance(url, str) and url.startswith("http") else None
    return SlackReporter(config, trigger=parameters.trigger, run_id=flow_run_id, run_url=run_url)


def _parameters_of(flow_run: FlowRun) -> HandoffParameters:
    known = set(HandoffParameters.model_fields)
    return HandoffParameters.model_validate({k: v for k, v in (flow_run.parameters or {}).items() if k in known})


async def tell_slack_the_run_ended_abnormally(flow: Any, flow_run: FlowRun, state: State) -> None:
    """Flow state hook (crashed, cancelled): update the parent message, found again through the run id."""
    try:
        parameters = _parameters_of(flow_run)
        reporter = _reporter(_config_for(parameters), parameters, str(flow_run.id))
    except Exception:  # an invalid config never posted anything: nothing to update
        return
    await reporter.run_crashed(state.message or state.name or "crashed", cancelled=state.is_cancelled())


@flow(
    name="staging-handoff",
    description="The three-phase staging handoff: infrastructure, restoration, business; each gated on the last.",
    flow_run_name=handoff_run_name,
    on_crashed=[tell_slack_the_run_ended_abnormally],
    on_cancellation=[tell_slack_the_run_ended_abnormally],
)
async def staging_handoff(
    environment: EnvironmentName = "staging",
    phases: PhaseList = list(Phase),  # noqa: B006 - never mutated; a literal default renders in the UI form
    dry_run: DryRun = False,
    redeploy: Redeploy = False,
    approval_timeout_s: ApprovalTimeout = 3600,
    slack_quiet: SlackQuiet = False,
    slack_channel: SlackChannel = "",
    trigger: Trigger = "manual",
) -> RunReport | State:
    """Run the selected phases of the handoff plan in order, stopping at the first closed gate.

    Args:
        environment: Environment to validate: a file in environments/ (staging is the real one, local the simulator).
        phases: Phases to run, always in the plan's order: infrastructure, restoration, business.
        dry_run: Only show the plan (phases, checks, dependencies, gates); no network call.
        redeploy: Roll a new revision of each Cloud Run service in phase 2; the run pauses for approval first.
        approval_timeout_s: Seconds a redeploy waits for approval before the restoration phase fails.
        slack_quiet: Quiet Slack: a passing run updates one message and mentions nobody (off: the environment's).
        slack_channel: Slack channel for this run's parent message (empty: the environment's).
        trigger: What started the run (nightly, manual, cli, slack:<@U…>), shown in reports and Slack.
    """
    from prefect.runtime import flow_run

    parameters = HandoffParameters(
        environment=environment,
        phases=phases,
        dry_run=dry_run,
        redeploy=redeploy,
        approval_timeout_s=approval_timeout_s,
        slack_quiet=slack_quiet,
        slack_channel=slack_channel,
        trigger=trigger,
    )
    config = _config_for(parameters)
    if parameters.dry_run:
        from prefect import get_run_logger
        from prefect.artifacts import acreate_markdown_artifact

        text = plan_text(config)
        get_run_logger().info("Dry run, nothing called. The plan:\n%s", text)
        await acreate_markdown_artifact(key=f"{config.name}-plan", markdown=f"```\n{text}\n```", description="Dry run")
        return Completed(name="Dry run", message=f"dry run of {config.name}: plan only, nothing called")
    preload_in_background()  # the client imports overlap with Slack and the first subflow's creation

    run_id = str(flow_run.id)
    await tag_run(run_id, config.name, flow_run.tags or [])  # env:<name>, whichever deployment or command started it
    slack = _reporter(config, parameters, run_id)
    try:
        async with hold_environment(
            config.name,
            flow_run_id=run_id,
            run_name=str(flow_run.name or run_id),
            trigger=parameters.trigger,
            on_wait=slack.run_waiting,
            required=parameters.redeploy,  # a redeploy never runs unlocked
        ):
            return await _handoff(parameters, config, slack, run_id)
    except (EnvironmentBusy, LockUnavailable) as refused:
        return await _refused(parameters, config, slack, str(refused))


async def _handoff(
    parameters: HandoffParameters, config: RunbookConfig, slack: SlackReporter, run_id: str
) -> RunReport | State:
    """The phases in order, holding the environment: gate, report, Slack, artifacts."""
    started = datetime.now(UTC)
    await slack.run_started(parameters.phases)
    results: list[PhaseResult] = []
    blocked: str | None = None
    with run_tags(env_tag(config.name)):  # the run's tags reach the phase subflows and their check task runs
        for phase in parameters.phases:
            if blocked is None:
                await slack.phase_started(phase)
            state = await _run_phase(phase, parameters, config, slack, list(results), blocked)
            result = phase_recorded(await phase_result_of(phase, state))
            log_phase(result)
            results.append(result)
            if blocked is None:  # each phase's table on the run the operator started, too
                await publish_phase_artifact(config.name, result, on_handoff=True)
            await slack.phase_finished(result)
            if result.status == PhaseStatus.failed and blocked is None:
                blocked = result.failure_reason()

    report = RunReport(
        environment=config.name,
        started_at=started,
        duration_s=(datetime.now(UTC) - started).total_seconds(),
        phases=tuple(results),
        trigger=parameters.trigger,
    )
    await slack.run_finished(report)  # Slack never changes the verdict; its outcome goes in the report
    refused = await refused_approvals(run_id) if parameters.redeploy else []
    report = report.model_copy(update={"notifications": (*slack.notifications, *refused)})
    await publish_report(report)
    if report.verdict.value == "failed":
        return Failed(message=blocked or "handoff failed", data=report)
    return report


async def _refused(parameters: HandoffParameters, config: RunbookConfig, slack: SlackReporter, reason: str) -> State:
    """The environment stayed in use: nothing ran. Failed, saying which run holds it (no history, no artifacts)."""
    from prefect import get_run_logger

    get_run_logger().error("%s", reason, extra=RUN_STORY)
    await slack.run_refused(reason, parameters.phases)
    phases = [refused_phase(parameters.phases[0], reason)]
    phases += [skipped_phase(phase, "not run: the environment is in use") for phase in parameters.phases[1:]]
    report = RunReport(
        environment=config.name,
        started_at=datetime.now(UTC),
        phases=tuple(phases),
        trigger=parameters.trigger,
        notifications=tuple(slack.notifications),
    )
    return Failed(message=reason, data=report)
