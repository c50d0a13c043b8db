"""The project's Prefect automations, as code: `runbook automations apply` creates or updates them by name.

Idempotent: applying twice leaves one automation of each name (extra copies of a name are deleted). `runbook serve`
applies them too, once its deployments are registered.

- `runbook: crash silent runs` marks a flow run of the runbook's flows Crashed when its heartbeats stop: its process
  is gone (SIGKILL, a lost worker, an evicted container), wherever it ran. Proactive: after a heartbeat, another
  heartbeat, a final state or Paused is expected within `within_s`. Flow runs heartbeat every
  PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (`HEARTBEAT_S`, set for every deployment in deployments/*.yaml, by
  `runbook run` and `runbook serve`); `within_s` (default 3 heartbeats) must stay well above it, or live runs would be
  crashed. A run Paused for approval keeps heartbeating (measured: every 30 s while paused, Prefect 3.9), so it is
  never crashed while its process lives, and is crashed if its process dies while it waits.
- `runbook: crash notice` runs the deployment `crash-notice/slack` (flows/notices.py) for every staging-handoff run
  that becomes Crashed, by any path: the run's Slack parent message says so, in place.
- `runbook: nightly missed` tells Slack when a nightly run did not finish within `nightly_within_s` (default 2 h)
  of its schedule: worker down, pool or queue paused, a run that never started or hangs. Proactive: after the run is
  marked Late (nobody took it: the server's late-runs service, ~15 s after its time) or Pending (a worker took it), a
  final state (Completed, Failed, Crashed, Cancelled) of that run is expected within the window. Not after
  Scheduled: the scheduler inserts a deployment's runs, days ahead, without a state-change event (Prefect 3.9), so
  `prefect.flow-run.Scheduled` never comes for a scheduled nightly. Two actions, each when it exists on the server:
  the deployment `nightly-missed/slack` (flows/notices.py: the environment's runbook channel, through the runbook's
  Slack delivery, with what the pool and its workers look like), and, done by the server itself with no worker
  (worker down is the likeliest cause, and that notice then waits for a worker too), a call of the Webhook block
  `runbook-nightly-missed` (a Slack incoming webhook URL) with a short message.

Only the runbook's flows are watched (the heartbeat frequency of other flows on a shared server is not ours to know).
"""

import contextlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

HEARTBEAT_S = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY of every runbook flow run (Prefect's minimum is 30)
DEFAULT_WITHIN_S = 3 * HEARTBEAT_S
MIN_WITHIN_S = HEARTBEAT_S + 15
HEARTBEAT_SETTING = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
LEGACY_HEARTBEAT_SETTING = "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"

CRASH_SILENT_RUNS = "runbook: crash silent runs"
CRASH_NOTICE = "runbook: crash notice"
NOTICE_DEPLOYMENT = "crash-notice/slack"
RUNBOOK_FLOWS = (
    "staging-handoff",
    "infrastructure-validation",
    "service-restoration",
    "business-validation",
    "crash-notice",
    "nightly-missed",
)
FINAL_OR_PAUSED = ("Completed", "Failed", "Cancelled", "Crashed", "Paused")

NIGHTLY_MISSED = "runbook: nightly missed"
MISSED_DEPLOYMENT = "nightly-missed/slack"
MISSED_WEBHOOK_BLOCK = "runbook-nightly-missed"  # a Prefect Webhook block: the Slack incoming webhook the server calls
NIGHTLY_DEPLOYMENTS = "nightly*"  # staging-handoff deployments watched: `nightly`, and e.g. `nightly-eu` of another env
# A nightly takes at most ~1 h with the staging profile (up to 8 min waiting for its environment, then the phases'
# deadlines): 2 h never alarms about a run that is merely slow, and still tells the team hours before it starts work.
DEFAULT_NIGHTLY_WITHIN_S = 2 * 3600
MIN_NIGHTLY_WITHIN_S = 10  # Prefect refuses a proactive trigger with a shorter `within`
TAKEN_OR_LATE = ("Late", "Pending")  # what happens to a scheduled run at its time: nobody took it, or a worker did
FINAL = ("Completed", "Failed", "Crashed", "Cancelled")


def heartbeat_defaults(environ: MutableMapping[str, str]) -> None:
    """Flow runs started from here heartbeat every HEARTBEAT_S unless the operator chose a frequency."""
    if HEARTBEAT_SETTING not in environ and LEGACY_HEARTBEAT_SETTING not in environ:
        environ[HEARTBEAT_SETTING] = str(HEARTBEAT_S)


def crash_silent_runs(within_s: float) -> Any:
    from datetime import timedelta

    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    return AutomationCore(
        name=CRASH_SILENT_RUNS,
        description=(
            f"A runbook flow run that sent no heartbeat for {within_s:g} s (its process is gone) is marked Crashed. "
            f"Flow runs heartbeat every {HEARTBEAT_S} s ({HEARTBEAT_SETTING}); a paused run keeps heartbeating."
        ),
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": list(RUNBOOK_FLOWS)},
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{state}" for state in FINAL_OR_PAUSED)},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {within_s:g} s: the flow run's process is gone (automation "
                f"'{CRASH_SILENT_RUNS}')",
            )
        ],
    )


def crash_notice(deployment_id: UUID) -> Any:
    from prefect.automations import AutomationCore
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    return AutomationCore(
        name=CRASH_NOTICE,
        description=f"A staging-handoff run that became Crashed: {NOTICE_DEPLOYMENT} updates its Slack parent message.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": "staging-handoff"},
            expect={"prefect.flow-run.Crashed"},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"flow_run_id": "{{ event.resource.id }}"},
            )
        ],
    )


def words_for(seconds: float) -> str:
    """A window as people say it: 2 h, 90 min, 1 h 30 min, 20 s."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def missed_webhook_payload(within_s: float, notice_follows: bool = True) -> str:
    """The Slack message the server itself sends through the Webhook block: a Jinja template of Prefect's automation
    actions (flow_run, deployment, work_pool and event are the missed run's), rendered to Slack's `{"text": ...}`."""
    within = words_for(within_s)
    return (
        "{%- set pool = work_pool.name or flow_run.work_pool_name or 'its work pool' -%}"
        "{%- set environment = flow_run.parameters.environment or 'an environment' -%}"
        "{%- set text -%}"
        f":warning: *Nightly run of {{{{ environment }}}} did not finish* within {within} of its schedule.\n"
        "Flow run `{{ flow_run.name }}` of staging-handoff/{{ deployment.name }} (id {{ flow_run.id }}), scheduled "
        "for {{ flow_run.expected_start_time.strftime('%Y-%m-%d %H:%M UTC') }}, was "
        "{{ event.resource['prefect.state-name'] }} and has not finished.\n"
        "*Likely*: no worker polls work pool `{{ pool }}` (stopped, crashed, its machine gone), or the pool or its "
        "work queue is paused (the run stays Late); or a worker took it and it never started or hangs.\n"
        "*Check*: `prefect work-pool inspect {{ pool }}` (paused? status), the worker's service and log; "
        "`prefect work-pool resume {{ pool }}` when paused; `prefect worker start --pool {{ pool }}` where the "
        "worker runs; `prefect flow-run inspect {{ flow_run.id }}`. A Late run starts by itself once a worker "
        "polls the pool again.\n"
        f"_Sent by the Prefect server itself (automation '{NIGHTLY_MISSED}', no worker needed)"
        + (
            f"; the runbook's own notice ({MISSED_DEPLOYMENT}) follows when a worker can run it._"
            if notice_follows
            else "._"
        )
        + "{%- endset -%}"
        '{"text": {{ text | tojson }}}'
    )


def nightly_missed(within_s: float, deployment_id: UUID | None, webhook_block_id: UUID | None) -> Any:
    """`runbook: nightly missed`: a nightly run late or taken, not finished within `within_s`, is told to Slack by
    the notice deployment and/or the server itself (the Webhook block); at least one of them."""
    from datetime import timedelta

    from prefect.automations import AutomationCore
    from prefect.events.actions import CallWebhook, RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    if deployment_id is None and webhook_block_id is None:
        raise ValueError(f"{NIGHTLY_MISSED} needs {MISSED_DEPLOYMENT} or the Webhook block {MISSED_WEBHOOK_BLOCK}")
    actions: list[Any] = []
    if webhook_block_id is not None:  # first: the server does it at once, whatever the workers do
        actions.append(
            CallWebhook(
                block_document_id=webhook_block_id, payload=missed_webhook_payload(within_s, deployment_id is not None)
            )
        )
    if deployment_id is not None:
        actions.append(
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"flow_run_id": "{{ event.resource.id }}", "within_s": within_s},
            )
        )
    return AutomationCore(
        name=NIGHTLY_MISSED,
        description=(
            f"A nightly staging-handoff run that was marked Late or taken by a worker and did not finish within "
            f"{words_for(within_s)}: Slack says so (worker down, pool paused, a run that never started or hangs)."
        ),
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=[
                {"prefect.resource.role": "flow", "prefect.resource.name": "staging-handoff"},
                {"prefect.resource.role": "deployment", "prefect.resource.name": NIGHTLY_DEPLOYMENTS},
            ],
            after={f"prefect.flow-run.{state}" for state in TAKEN_OR_LATE},
            expect={f"prefect.flow-run.{state}" for state in FINAL},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_s),
        ),
        actions=actions,
    )


@dataclass(frozen=True)
class Applied:
    name: str
    outcome: str  # created / updated / skipped: why


async def _put(client: Any, automation: Any) -> str:
    """Create, or update the one of that name (deleting extra copies): one automation per name, however often."""
    found = await client.read_automations_by_name(automation.name)
    if not found:
        await client.create_automation(automation)
        return "created"
    first, *extra = sorted(found, key=lambda a: str(a.id))
    await client.update_automation(first.id, automation)
    for duplicate in extra:
        await client.delete_automation(duplicate.id)
    return "updated" + (f" ({len(extra)} duplicate(s) deleted)" if extra else "")


async def apply_automations(
    within_s: float = DEFAULT_WITHIN_S, nightly_within_s: float = DEFAULT_NIGHTLY_WITHIN_S
) -> list[Applied]:
    """Create or update the project's automations on the server of PREFECT_API_URL."""
    if within_s < MIN_WITHIN_S:
        raise ValueError(
            f"within {within_s:g} s is too short: at least {MIN_WITHIN_S} s (heartbeats every {HEARTBEAT_S} s)"
        )
    if nightly_within_s < MIN_NIGHTLY_WITHIN_S:
        raise ValueError(f"nightly within {nightly_within_s:g} s: at least {MIN_NIGHTLY_WITHIN_S} s")
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    applied = []
    async with get_client() as client:
        applied.append(Applied(CRASH_SILENT_RUNS, await _put(client, crash_silent_runs(within_s))))
        try:
            deployment = await client.read_deployment_by_name(NOTICE_DEPLOYMENT)
        except ObjectNotFound:
            why = f"skipped: deployment {NOTICE_DEPLOYMENT} not found; deploy deployments/prefect.yaml first"
            applied.append(Applied(CRASH_NOTICE, why))
        else:
            applied.append(Applied(CRASH_NOTICE, await _put(client, crash_notice(deployment.id))))
        applied.append(await _put_nightly_missed(client, nightly_within_s))
    return applied


async def _put_nightly_missed(client: Any, within_s: float) -> Applied:
    from prefect.exceptions import ObjectNotFound

    deployment_id = block_id = None
    with contextlib.suppress(ObjectNotFound):
        deployment_id = (await client.read_deployment_by_name(MISSED_DEPLOYMENT)).id
    with contextlib.suppress(ObjectNotFound):
        block_id = (await client.read_block_document_by_name(MISSED_WEBHOOK_BLOCK, block_type_slug="webhook")).id
    if deployment_id is None and block_id is None:
        return Applied(
            NIGHTLY_MISSED,
            f"skipped: deployment {MISSED_DEPLOYMENT} not found (deploy deployments/prefect.yaml first) and no "
            f"Webhook block {MISSED_WEBHOOK_BLOCK}",
        )
    outcome = await _put(client, nightly_missed(within_s, deployment_id, block_id))
    told = [f"{MISSED_DEPLOYMENT} on a worker"] if deployment_id else []
    told += [f"the server itself through Webhook block {MISSED_WEBHOOK_BLOCK}"] if block_id else []
    alone = "" if block_id else f"; no Webhook block {MISSED_WEBHOOK_BLOCK}: with no worker up, Slack hears late"
    return Applied(
        NIGHTLY_MISSED, f"{outcome} (after {words_for(within_s)}; Slack told by {' and '.join(told)}{alone})"
    )
