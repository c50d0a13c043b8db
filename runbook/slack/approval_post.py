"""The paused run's side of a Slack approval: post the request, record it in Prefect, remind, show the outcome.

`announce` is the announcer the handoff gives `runbook.approval.request_approval`. It posts the approval message in
the runbook channel (the environment file's `[slack] channel`): in the run's thread when the run's message is there,
else on its own with a link to the run's message, and a pointer to it in the run's thread. It records the message's
(channel, ts) and deadline with the run in Prefect (flow run input `runbook-approval-message`): the bot resumes a run
only from a click on that very message. Before the deadline it reminds the approvers in the thread; when the approval
ends, `PostedApproval.finish` shows the outcome on the message, said as it is (approved or rejected, in Slack or in the
Prefect UI, or expired).
"""

import asyncio
import contextlib
import inspect
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbook.approval import ApprovalOutcome
from runbook.config.models import RunbookConfig
from runbook.slack.approval import (
    MESSAGE_KEY,
    ApprovalRequest,
    Decision,
    ServiceChange,
    approval_message,
    closed_message,
    decided_message,
    mention,
    slack_time,
)

logger = logging.getLogger("runbook.slack.approval")

REMIND_MAX_S = 600.0  # the reminder comes 10 minutes before the deadline, or at 3/4 of a shorter wait
REMIND_MIN_S = 5.0  # no reminder when less than this would be left


def reminder_lead_s(timeout_s: float) -> float:
    """How long before the deadline the reminder comes: a quarter of the wait, at most 10 minutes."""
    return min(REMIND_MAX_S, timeout_s / 4)


def reminder_text(request: ApprovalRequest, link: str | None) -> str:
    approvers = ", ".join(mention(a) for a in request.approvers)
    where = f" on <{link}|the approval request>" if link else ""
    return (
        f"⏰ The redeploy approval for *{request.environment}* expires {slack_time(request.deadline)}: {approvers}, "
        f"approve or reject it{where}. Without an answer nothing is redeployed and the restoration phase fails."
    )


@dataclass
class PostedApproval:
    """The approval message a paused run posted, so the run can remind and show the outcome (buttons removed)."""

    client: Any
    request: ApprovalRequest
    channel: str
    ts: str
    thread_ts: str = ""  # where replies go: the run's parent message, or the approval message itself
    link: str | None = None  # the message's permalink (the run's parent message links to it)
    secrets: tuple[str, ...] = ()
    _reminder: "asyncio.Task[None] | None" = field(default=None, repr=False)

    def remind_in(self, delay_s: float) -> None:
        """Post the reminder in the thread after `delay_s` (cancelled by `finish`)."""
        self._reminder = asyncio.get_running_loop().create_task(self._remind(delay_s))

    async def _remind(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        try:
            async with asyncio.timeout(10):
                await self.client.chat_postMessage(
                    channel=self.channel,
                    thread_ts=self.thread_ts or self.ts,
                    text=reminder_text(self.request, self.link),
                )
        except Exception as error:
            logger.warning("approval reminder not posted: %s", _error_code(error))

    async def finish(self, outcome: ApprovalOutcome) -> None:
        """Show the outcome (whoever decided, Slack or the UI form, or nobody in time); never raises."""
        if self._reminder is not None:
            self._reminder.cancel()
            with contextlib.suppress(BaseException):
                await self._reminder
        if outcome.said in ("approved", "rejected"):
            decision = Decision(outcome.approved, outcome.approved_by, datetime.now(UTC), outcome.note, outcome.via)
            text, blocks = decided_message(self.request, decision, self.secrets)
        else:
            text, blocks = closed_message(self.request, outcome.said, outcome.decision)
        try:
            async with asyncio.timeout(10):
                await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except Exception as error:
            logger.warning("approval message not updated: %s", _error_code(error))


async def announce(
    flow_run_id: str, parameters: dict[str, Any], services: list[str], timeout_s: int
) -> PostedApproval | None:
    """Post the approval request in the runbook channel when [slack.chatops] is configured; never raises.

    `parameters` are the handoff run's (environment, slack_channel); the run's parent message comes from
    runbook.slack.store.ParentStore.
    """
    try:
        return await _announce(flow_run_id, parameters, services, timeout_s)
    except Exception as error:  # Slack must never stop the approval itself: the UI form still works
        logger.warning("approval request not posted to Slack: %s", _error_code(error))
        return None


async def _announce(
    flow_run_id: str, parameters: dict[str, Any], services: list[str], timeout_s: int
) -> PostedApproval | None:
    from slack_sdk.web.async_client import AsyncWebClient

    from runbook.config.files import load_config
    from runbook.slack.tokens import read_secret

    config = load_config(str(parameters.get("environment") or "staging"))
    chatops = config.slack.chatops
    if chatops is None or not config.slack.enabled:
        return None
    token = await read_secret(config.slack.token_env, config.slack.token_block)
    if not token:
        return None
    client = AsyncWebClient(token=token, base_url=config.slack.api_base_url, timeout=10)
    parent = await _parent_message(flow_run_id)
    runbook_channel = config.slack.channel
    origin = str(parameters.get("slack_channel") or "").strip()
    in_thread = parent is not None and (not origin or origin.lstrip("#") == runbook_channel.lstrip("#"))
    from_elsewhere = parent if parent is not None and not in_thread else None
    requested_from = await _permalink(client, from_elsewhere.channel, from_elsewhere.ts) if from_elsewhere else None
    changes = await describe_changes(config, services)
    deadline = datetime.fromtimestamp(int(time.time()) + timeout_s, UTC)
    request = ApprovalRequest(flow_run_id, config.name, changes, chatops.approvers, deadline, requested_from)
    text, blocks = approval_message(request)
    thread = parent.ts if parent is not None and in_thread else None
    async with asyncio.timeout(15):
        answer = await client.chat_postMessage(channel=runbook_channel, text=text, blocks=blocks, thread_ts=thread)
    channel, ts = str(answer["channel"]), str(answer["ts"])
    posted = PostedApproval(client, request, channel, ts, thread or ts, await _permalink(client, channel, ts), (token,))
    if from_elsewhere is not None:  # where the command came from: a link to the request
        where = f"<{posted.link}|the approval request>" if posted.link else "the approval request"
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await client.chat_postMessage(
                    channel=from_elsewhere.channel,
                    thread_ts=from_elsewhere.ts,
                    text=f"🔐 The redeploy waits for approval in <#{channel}>: {where}.",
                )
    if not await record_message(flow_run_id, channel, ts, deadline, config.name):
        text, blocks = approval_message(request, buttons=False)  # the bot could not check a click: the UI decides
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    if (lead := reminder_lead_s(timeout_s)) >= REMIND_MIN_S:
        posted.remind_in(timeout_s - lead)
    return posted


async def _parent_message(flow_run_id: str) -> Any:
    """The run's parent message (channel id, ts), or None (none posted, a webhook run, or not readable)."""
    from runbook.slack.store import ParentStore

    try:
        found: Any = ParentStore().get(flow_run_id)
        if inspect.isawaitable(found):
            found = await found
    except Exception as error:
        logger.info("the run's Slack message not found: %s", type(error).__name__)
        return None
    return found if found is not None and found.channel and found.ts else None


async def _permalink(client: Any, channel: str, ts: str) -> str | None:
    try:
        async with asyncio.timeout(10):
            answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
        return str(answer["permalink"])
    except Exception as error:
        logger.info("no permalink for %s/%s: %s", channel, ts, _error_code(error))
        return None


async def record_message(flow_run_id: str, channel: str, ts: str, deadline: datetime, environment: str) -> bool:
    """Keep where the approval message is, and its deadline, with the run in Prefect (the bot checks clicks by it)."""
    from prefect.client.orchestration import get_client

    value = {"channel": channel, "ts": ts, "deadline": int(deadline.timestamp()), "environment": environment}
    try:
        async with asyncio.timeout(15), get_client() as client:
            await client.create_flow_run_input(uuid.UUID(flow_run_id), MESSAGE_KEY, json.dumps(value), sender="runbook")
    except Exception as error:
        logger.warning("approval message not recorded in Prefect (Slack's buttons off): %s", type(error).__name__)
        return False
    return True


async def describe_changes(
    config: RunbookConfig, names: list[str], timeout_s: float = 5.0
) -> tuple[ServiceChange, ...]:
    """Each service's serving revision and next generation from Cloud Run; unknown where the read fails."""
    from runbook.google.clients import GoogleClients

    clients = GoogleClients(config.gcp)

    def read(name: str) -> ServiceChange:
        try:
            service = clients.run_services.get_service(name=clients.service_name(name), timeout=timeout_s, retry=None)
        except Exception as error:  # the message says "unknown"; the redeploy itself reports real errors
            logger.info("current revision of %s not read: %s", name, type(error).__name__)
            return ServiceChange(name, None, None)
        revision = str(service.latest_ready_revision or "").rsplit("/", 1)[-1] or None
        return ServiceChange(name, revision, int(service.generation) + 1 if service.generation else None)

    try:
        async with asyncio.timeout(timeout_s * 2):
            return tuple(await asyncio.gather(*(asyncio.to_thread(read, name) for name in names)))
    except TimeoutError:
        return tuple(ServiceChange(name, None, None) for name in names)


def _error_code(error: BaseException) -> str:
    data = getattr(getattr(error, "response", None), "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return type(error).__name__
