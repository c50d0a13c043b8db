"""The few Prefect calls the Slack bot makes, behind one small seam, each bounded by a timeout.

Read a flow run, what the run recorded about its approval (where its approval message is, how the approval ended)
and the answer its pause got; record the bot's own decision, then resume the run; start a deployment, find an
environment's last or active run, cancel one. `api_url` points the bot at another Prefect API than the process's
(tests put a slow proxy there, or a closed port). Every call opens its own client, so an unreachable Prefect fails
fast (Prefect's client retries a refused connection only once it has connected).
"""

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PAUSE_KEY = "redeploy-approval"  # runbook.approval.PAUSE_KEY
RESPONSE_KEY = f"paused-{PAUSE_KEY}-response"  # where Prefect keeps the answer once the pause is resumed
PREFECT_TIMEOUT_S = 30.0
ANSWER_WITHIN_S = 15.0  # a click waits this long for Prefect, then is told the state is unknown (and followed up)
HANDOFF_FLOW = "staging-handoff"
ACTIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")


class PrefectGateway:
    """The few Prefect calls the bot makes, each bounded by a timeout."""

    api_url: str | None = None  # None: the process's Prefect (PREFECT_API_URL)
    timeout_s: float = PREFECT_TIMEOUT_S
    answer_within_s: float = ANSWER_WITHIN_S

    def __init__(self, api_url: str | None = None, answer_within_s: float | None = None) -> None:
        self.api_url = api_url
        if answer_within_s is not None:
            self.answer_within_s = answer_within_s

    def _client(self) -> Any:
        from prefect.client.orchestration import PrefectClient, get_client

        return PrefectClient(self.api_url) if self.api_url else get_client()

    def run_url(self, flow_run_id: str) -> str | None:
        """The run's page in the Prefect UI, when the UI's address is known."""
        from prefect.settings import get_current_settings

        ui = get_current_settings().ui_url
        if not ui and self.api_url:
            ui = self.api_url.rstrip("/").removesuffix("/api")
        return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui and ui.startswith("http") else None

    async def flow_run(self, flow_run_id: str) -> Any:
        async with asyncio.timeout(self.timeout_s), self._client() as client:
            return await client.read_flow_run(uuid.UUID(flow_run_id))

    async def _input(self, flow_run_id: str, key: str) -> dict[str, Any] | None:
        """A flow run input as a dict; None when there is none (or it is not a JSON object)."""
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        async with asyncio.timeout(self.timeout_s), self._client() as client:
            try:
                raw = await client.read_flow_run_input(uuid.UUID(flow_run_id), key)
            except ObjectNotFound:
                return None
            except PrefectHTTPStatusError as error:
                if error.response.status_code == 404:
                    return None
                raise
        with contextlib.suppress(ValueError):
            value = json.loads(raw)
            return value if isinstance(value, dict) else None
        return None

    async def decided(self, flow_run_id: str) -> dict[str, Any] | None:
        """The answer the approval pause got (from Slack or the UI form), or None when not answered."""
        return await self._input(flow_run_id, RESPONSE_KEY)

    async def outcome(self, flow_run_id: str) -> dict[str, Any] | None:
        """How the approval ended, as the run recorded it (runbook.approval.OUTCOME_KEY); None until it ends."""
        from runbook.approval import OUTCOME_KEY

        return await self._input(flow_run_id, OUTCOME_KEY)

    async def approval_message(self, flow_run_id: str) -> dict[str, Any] | None:
        """Where the run posted its approval message, and its deadline (runbook.slack.approval_post)."""
        from runbook.slack.approval import MESSAGE_KEY

        return await self._input(flow_run_id, MESSAGE_KEY)

    async def slack_decisions(self, flow_run_id: str) -> list[dict[str, Any]]:
        """The decisions this bot recorded on the run (runbook.approval.SLACK_DECISION_PREFIX)."""
        from runbook.approval import SLACK_DECISION_PREFIX

        async with asyncio.timeout(self.timeout_s), self._client() as client:
            found = await client.filter_flow_run_input(uuid.UUID(flow_run_id), SLACK_DECISION_PREFIX, 100, set())
        return [entry.decoded_value for entry in found if isinstance(entry.decoded_value, dict)]

    async def record_decision(self, flow_run_id: str, decision: dict[str, Any]) -> None:
        """Keep the decision the bot is about to send with the run: the run credits Slack only for recorded ones."""
        from runbook.approval import SLACK_DECISION_PREFIX

        key = f"{SLACK_DECISION_PREFIX}{uuid.uuid4().hex[:16]}"
        async with asyncio.timeout(self.timeout_s), self._client() as client:
            await client.create_flow_run_input(
                uuid.UUID(flow_run_id), key, json.dumps(decision), sender="runbook-slack-bot"
            )

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> tuple[bool, str]:
        """Resume the paused run with this input: (accepted, Prefect's reason when not)."""
        from prefect.client.schemas.responses import SetStateStatus

        async with asyncio.timeout(self.timeout_s), self._client() as client:
            result = await client.resume_flow_run(uuid.UUID(flow_run_id), run_input=run_input)
        if result.status == SetStateStatus.ACCEPT:
            return True, ""
        return False, str(getattr(result.details, "reason", "") or result.status.value)

    async def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
        from prefect.deployments import arun_deployment

        from runbook.parameters import run_name

        # Named now as the flow will name it when it starts, so the answer in Slack says which run it is.
        name = run_name(str(parameters.get("environment", "")), str(parameters.get("trigger", "")), datetime.now(UTC))
        async with asyncio.timeout(self.timeout_s):
            return await arun_deployment(
                deployment, parameters=parameters, timeout=0, as_subflow=False, flow_run_name=name
            )

    async def _handoff_runs(self, states: tuple[str, ...] = ()) -> list[Any]:
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        run_filter = None
        if states:
            run_filter = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in states]))
            )
        async with asyncio.timeout(self.timeout_s), self._client() as client:
            return list(
                await client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[HANDOFF_FLOW])),
                    flow_run_filter=run_filter,
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=50,
                )
            )

    async def last_run(self, environment: str) -> Any:
        """The newest staging-handoff run whose `environment` parameter names this environment."""
        return next((run for run in await self._handoff_runs() if runs_environment(run, environment)), None)

    async def active_run(self, environment: str) -> Any:
        """The newest staging-handoff run of this environment that has not ended (scheduled, running, paused)."""
        runs = await self._handoff_runs(ACTIVE_STATES)
        return next((run for run in runs if runs_environment(run, environment)), None)

    async def cancel(self, flow_run_id: str, message: str) -> str:
        """Ask Prefect to cancel the run (as the UI's Cancel does); the state it is in now."""
        from prefect.states import Cancelling

        async with asyncio.timeout(self.timeout_s), self._client() as client:
            result = await client.set_flow_run_state(uuid.UUID(flow_run_id), Cancelling(message=message), force=True)
        return result.state.name if result.state is not None else str(result.status.value)


def runs_environment(run: Any, environment: str) -> bool:
    """Whether a handoff run's `environment` parameter names this environment (a name, or a file with its stem)."""
    given = str((run.parameters or {}).get("environment") or "")
    return given == environment or Path(given).stem == Path(environment).stem
