"""The few Prefect calls the Slack bot makes, behind one small seam, each bounded by a timeout.

Read a flow run and the answer its approval pause got, resume it, start a deployment, find an environment's last
run. Tests slow it down to prove the bot's acks do not wait for Prefect.
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
HANDOFF_FLOW = "staging-handoff"


class PrefectGateway:
    """The few Prefect calls the bot makes, each bounded by a timeout."""

    async def flow_run(self, flow_run_id: str) -> Any:
        from prefect.client.orchestration import get_client

        async with asyncio.timeout(PREFECT_TIMEOUT_S), get_client() as client:
            return await client.read_flow_run(uuid.UUID(flow_run_id))

    async def decided(self, flow_run_id: str) -> dict[str, Any] | None:
        """The answer the approval pause got (from Slack or the UI form), or None when not answered."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        async with asyncio.timeout(PREFECT_TIMEOUT_S), get_client() as client:
            try:
                raw = await client.read_flow_run_input(uuid.UUID(flow_run_id), RESPONSE_KEY)
            except (ObjectNotFound, PrefectHTTPStatusError):
                return None
        with contextlib.suppress(ValueError):
            value = json.loads(raw)
            return value if isinstance(value, dict) else None
        return None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        from prefect.flow_runs import aresume_flow_run

        async with asyncio.timeout(PREFECT_TIMEOUT_S):
            await aresume_flow_run(uuid.UUID(flow_run_id), run_input=run_input)

    async def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
        from prefect.deployments import arun_deployment

        from runbook.parameters import run_name

        # Named now as the flow will name it when it starts, so the answer in Slack says which run it is.
        name = run_name(str(parameters.get("environment", "")), str(parameters.get("trigger", "")), datetime.now(UTC))
        async with asyncio.timeout(PREFECT_TIMEOUT_S):
            return await arun_deployment(
                deployment, parameters=parameters, timeout=0, as_subflow=False, flow_run_name=name
            )

    async def last_run(self, environment: str) -> Any:
        """The newest staging-handoff run whose `environment` parameter names this environment."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName
        from prefect.client.schemas.sorting import FlowRunSort

        async with asyncio.timeout(PREFECT_TIMEOUT_S), get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[HANDOFF_FLOW])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=50,
            )
        for run in runs:
            given = str((run.parameters or {}).get("environment") or "")
            if given == environment or Path(given).stem == environment:
                return run
        return None
