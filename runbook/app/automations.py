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

Only the runbook's flows are watched (the heartbeat frequency of other flows on a shared server is not ours to know).
"""

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
)
FINAL_OR_PAUSED = ("Completed", "Failed", "Cancelled", "Crashed", "Paused")


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


async def apply_automations(within_s: float = DEFAULT_WITHIN_S) -> list[Applied]:
    """Create or update the project's automations on the server of PREFECT_API_URL."""
    if within_s < MIN_WITHIN_S:
        raise ValueError(
            f"within {within_s:g} s is too short: at least {MIN_WITHIN_S} s (heartbeats every {HEARTBEAT_S} s)"
        )
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
    return applied
