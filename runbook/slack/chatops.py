"""What the Slack bot does with each Socket Mode request: approve, reject and start runs from Slack.

Slack delivers button clicks (block_actions), modal submissions (view_submission) and `/runbook` commands
(slash_commands). Every envelope is acked first, from what the payload alone says (a modal's field errors), and only
then is Prefect asked anything (`runbook.slack.prefect_gateway`), in a background task: Slack wants the ack within
3 s whatever Prefect's latency.

    Approve / Approve with note… / Reject…   resume the paused run with the Prefect UI form's input
                                             (approve, note, approved_by = <@user>); approvers only
    Rerun failed phase                       start the manual deployment for that phase
    /runbook run|status|plan|help            start a run in this channel, or answer from the last run

The connection and the tokens are `runbook.slack.bot`'s.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.config.models import RunbookConfig
from runbook.config.slack_models import ChatOpsConfig
from runbook.slack.approval import (
    ACTION_APPROVE,
    ACTION_APPROVE_NOTE,
    ACTION_REJECT,
    APPROVAL_BLOCK,
    NOTE_CALLBACK,
    ApproverCheck,
    ButtonValue,
    NoteSubmission,
    mention,
    note_modal,
    read_note_submission,
    record_refusal,
)
from runbook.slack.commands import Command, UsageError, parse, usage
from runbook.slack.parent_message import RERUN_ACTION
from runbook.slack.prefect_gateway import PAUSE_KEY, PrefectGateway

logger = logging.getLogger("runbook.slack.chatops")

ACTION_RERUN = RERUN_ACTION  # the button of a failed run's parent message (runbook.slack.parent_message)
SLACK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Environment:
    """One environment the bot serves: its config, and what a run's `environment` parameter should be."""

    config: RunbookConfig
    target: str  # a name in environments/ or a TOML path, as the flow's load_config takes it

    @property
    def chatops(self) -> ChatOpsConfig:
        assert self.config.slack.chatops is not None
        return self.config.slack.chatops


class ChatOpsBot:
    """Handles Socket Mode requests: ack at once, then the work in a background task (bounded, logged)."""

    def __init__(self, environments: dict[str, Environment], web: Any, prefect: PrefectGateway | None = None) -> None:
        self.environments = environments
        self.web = web  # slack_sdk AsyncWebClient with the bot token
        self.prefect = prefect or PrefectGateway()
        self.approvers = ApproverCheck(web)
        self.command = next(iter(environments.values())).chatops.command if environments else "/runbook"
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._messages: dict[tuple[str, str], list[dict[str, Any]]] = {}  # approval message blocks seen on click
        self.ack_ms: list[float] = []

    # Socket Mode entry point ----------------------------------------------------------------------------------

    async def on_request(self, client: Any, request: Any) -> None:
        """slack-sdk's listener: ack first (with a modal's errors or a command's first answer), then work."""
        from slack_sdk.socket_mode.response import SocketModeResponse

        received = time.monotonic()
        payload = request.payload if isinstance(request.payload, dict) else {}
        ack: dict[str, Any] | None = None
        work: Coroutine[Any, Any, None] | None = None
        if request.type == "interactive" and payload.get("type") == "block_actions":
            work = self.on_block_actions(payload)
        elif request.type == "interactive" and payload.get("type") == "view_submission":
            ack, work = self.on_view_submission(payload)
        elif request.type == "slash_commands":
            ack, work = self.on_slash_command(payload)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=ack))
        self.ack_ms.append((time.monotonic() - received) * 1000)
        if work is not None:
            self.spawn(work)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _logged(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            logger.exception("ChatOps request failed")

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait for the background work (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    # Buttons ----------------------------------------------------------------------------------------------------

    async def on_block_actions(self, payload: dict[str, Any]) -> None:
        user = str((payload.get("user") or {}).get("id", ""))
        container = payload.get("container") or {}
        channel = str(container.get("channel_id") or (payload.get("channel") or {}).get("id", ""))
        message_ts = str(container.get("message_ts", ""))
        message = payload.get("message") or {}
        for action in payload.get("actions") or []:
            action_id = action.get("action_id")
            if action_id in (ACTION_APPROVE, ACTION_APPROVE_NOTE, ACTION_REJECT):
                if isinstance(message.get("blocks"), list):
                    self._messages[(channel, message_ts)] = message["blocks"]
                await self.approval_click(
                    user,
                    str(action_id),
                    str(action.get("value", "")),
                    channel,
                    message_ts,
                    str(payload.get("trigger_id", "")),
                )
            elif action_id == ACTION_RERUN:
                await self.rerun(user, str(action.get("value", "")), channel, message_ts)

    async def approval_click(
        self, user: str, action_id: str, raw: str, channel: str, message_ts: str, trigger_id: str
    ) -> None:
        try:
            value = ButtonValue.parse(raw)
        except (ValueError, TypeError):
            await self.ephemeral(channel, user, "This button is not from runbook's approval message.", message_ts)
            return
        environment = await self.authorize(user, value, channel, message_ts, action_id)
        if environment is None:
            return
        if action_id == ACTION_APPROVE:
            await self.decide(user, value, True, "", channel, message_ts)
            return
        # "Approve with note…" / "Reject…": the modal; the trigger is good for 3 s, so open it before anything slow.
        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                await self.web.views_open(
                    trigger_id=trigger_id, view=note_modal(value, action_id != ACTION_REJECT, channel, message_ts)
                )
        except Exception as error:
            await self.ephemeral(
                channel,
                user,
                f"Could not open the note form ({_slack_error(error)}); try the button again.",
                message_ts,
            )

    async def authorize(
        self, user: str, value: ButtonValue, channel: str, message_ts: str, action: str
    ) -> Environment | None:
        """The environment when `user` may decide on this run; otherwise an ephemeral refusal, recorded."""
        environment = self.environments.get(value.environment)
        if environment is None:
            await self.ephemeral(
                channel,
                user,
                f"This bot does not serve {value.environment} (no [slack.chatops] for it here).",
                message_ts,
            )
            return None
        allowed, why = await self.approvers.allowed(user, environment.chatops.approvers)
        if not allowed:
            who = ", ".join(mention(a) for a in environment.chatops.approvers)
            await self.ephemeral(
                channel,
                user,
                f"🚫 You cannot approve or reject redeploys of {value.environment} ({why}). Approvers: {who}. "
                "Your attempt is recorded in the run's report.",
                message_ts,
            )
            await record_refusal(value.flow_run_id, user, action, why)
            logger.warning("refused %s by %s on run %s: %s", action, user, value.flow_run_id, why)
            return None
        return environment

    async def decide(self, user: str, value: ButtonValue, approve: bool, note: str, channel: str, ts: str) -> None:
        """Resume the paused run with the UI form's input; else say clearly why nothing changed."""
        from runbook.slack.approval import Decision

        lock = self._locks.setdefault(value.flow_run_id, asyncio.Lock())
        async with lock:  # two clicks in this process: the second one finds the run resumed
            run = await self.prefect.flow_run(value.flow_run_id)
            state = run.state
            paused = state is not None and state.is_paused() and state.state_details.pause_key == PAUSE_KEY
            now = datetime.now(UTC)
            if paused and now >= value.deadline:
                await self.ephemeral(
                    channel, user, f"⌛ This approval expired {_ago(value.deadline)}: nothing changed.", ts
                )
                return
            if paused:
                run_input = {"approve": approve, "note": note, "approved_by": f"<@{user}>"}
                try:
                    await self.prefect.resume(value.flow_run_id, run_input)
                except Exception as error:  # resumed meanwhile (UI), or the pause just expired
                    logger.info("resume of %s refused: %s", value.flow_run_id, error)
                else:
                    decision = Decision(approve, f"<@{user}>", now, note)
                    await self.show_decision(channel, ts, value, decision)
                    return
            await self.ephemeral(channel, user, await self.why_not_waiting(value, state), ts)

    async def why_not_waiting(self, value: ButtonValue, state: Any) -> str:
        decided = await self.prefect.decided(value.flow_run_id)
        if decided is not None:
            verb = "approved" if decided.get("approve") else "rejected"
            by = decided.get("approved_by") or "someone in the Prefect UI"
            note = f" ({decided['note']})" if decided.get("note") else ""
            return f"Already decided: {verb} by {by}{note}. Nothing changed."
        if datetime.now(UTC) >= value.deadline:
            return f"⌛ This approval expired {_ago(value.deadline)}: nothing changed."
        name = state.name if state is not None else "unknown"
        if state is not None and state.is_final():
            return f"The run is over ({name}): nothing to approve."
        return f"The run is not waiting for approval right now ({name}); try again in a moment."

    async def show_decision(self, channel: str, ts: str, value: ButtonValue, decision: Any) -> None:
        """Update the approval message in place: who, when, the note; the buttons go."""
        from runbook.slack.approval import decided_outcome_blocks

        kept = [b for b in self._messages.get((channel, ts), []) if b.get("block_id") != APPROVAL_BLOCK]
        kept = [b for b in kept if b.get("type") != "context"]
        text, outcome = decided_outcome_blocks(value.environment, decision)
        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                await self.web.chat_update(channel=channel, ts=ts, text=text, blocks=[*kept, *outcome])
        except Exception as error:
            logger.warning("approval message %s not updated: %s", ts, _slack_error(error))

    # Modal ------------------------------------------------------------------------------------------------------

    def on_view_submission(
        self, payload: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, Coroutine[Any, Any, None] | None]:
        view = payload.get("view") or {}
        if view.get("callback_id") != NOTE_CALLBACK:
            return None, None
        submitted = read_note_submission(view)
        if not isinstance(submitted, NoteSubmission):
            return {"response_action": "errors", "errors": submitted}, None
        user = str((payload.get("user") or {}).get("id", ""))
        return None, self.note_submitted(user, submitted)

    async def note_submitted(self, user: str, submitted: NoteSubmission) -> None:
        action = "approve-with-note" if submitted.approve else "reject"
        value, channel, ts = submitted.value, submitted.channel, submitted.message_ts
        if await self.authorize(user, value, channel, ts, action) is None:
            return
        await self.decide(user, value, submitted.approve, submitted.note, channel, ts)

    # Rerun button and slash command -------------------------------------------------------------------------------

    async def rerun(self, user: str, raw: str, channel: str, message_ts: str) -> None:
        try:
            data = json.loads(raw)
            command = Command("run", str(data["env"]), (parse_phase(str(data["phase"])),))
        except (ValueError, KeyError, TypeError):
            await self.ephemeral(channel, user, "This button is not from runbook's run message.", message_ts)
            return
        answer = await self.start_run(user, command, channel)
        await self.ephemeral(channel, user, answer, message_ts)

    def on_slash_command(
        self, payload: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, Coroutine[Any, Any, None] | None]:
        text = str(payload.get("text", ""))
        try:
            command = parse(text, tuple(sorted(self.environments)))
        except UsageError as error:
            return {"response_type": "ephemeral", "text": f"{error}.\n{usage(self.command)}"}, None
        if command.verb == "help":
            return {"response_type": "ephemeral", "text": usage(self.command)}, None
        first = {"response_type": "ephemeral", "text": f"Working on `{self.command} {' '.join(text.split())}`…"}
        return first, self.slash(payload, command)

    async def slash(self, payload: dict[str, Any], command: Command) -> None:
        user, channel = str(payload.get("user_id", "")), str(payload.get("channel_id", ""))
        if command.verb == "run":
            answer = await self.start_run(user, command, channel)
        elif command.verb == "status":
            answer = await self.status(command.environment)
        else:
            answer = self.plan(command.environment)
        await self.respond(str(payload.get("response_url", "")), answer)

    async def start_run(self, user: str, command: Command, channel: str) -> str:
        environment = self.environments.get(command.environment)
        if environment is None:
            return f"This bot does not serve {command.environment}."
        runners = environment.chatops.runners
        if runners:
            allowed, why = await self.approvers.allowed(user, runners)
            if not allowed:
                return f"🚫 You cannot start runs of {command.environment} ({why})."
        parameters = {
            "environment": environment.target,
            "phases": [phase.value for phase in command.phases],
            "redeploy": command.redeploy,
            "trigger": f"slack:<@{user}>",
            "slack_channel": channel,
        }
        try:
            run = await self.prefect.start(environment.chatops.deployment, parameters)
        except Exception as error:
            logger.warning("run of %s not started: %s", environment.chatops.deployment, error)
            return f"Could not start {environment.chatops.deployment}: {type(error).__name__}: {str(error)[:200]}"
        phases = ", ".join(phase.value for phase in command.phases)
        extra = " with a redeploy (it will ask the approvers here)" if command.redeploy else ""
        return f"Started *{run.name}* ({phases}){extra}: its message will appear in this channel. Run id `{run.id}`."

    async def status(self, environment: str) -> str:
        try:
            run = await self.prefect.last_run(self.environments[environment].target)
        except Exception as error:
            return f"Could not read the last run from Prefect: {type(error).__name__}"
        if run is None:
            return f"No run of {environment} yet."
        state = run.state
        name = state.name if state is not None else "unknown"
        message = f": {state.message}" if state is not None and state.message else ""
        started = run.start_time or run.expected_start_time
        when = f" · started {_ago(started)}" if started else ""
        trigger = (run.parameters or {}).get("trigger")
        who = f" · trigger {trigger}" if trigger else ""
        return f"Last run of *{environment}*: *{run.name}* — {name}{message}{when}{who}. Run id `{run.id}`."

    def plan(self, environment: str) -> str:
        from runbook.plan import plan_text

        text = plan_text(self.environments[environment].config, width=100)
        return f"Plan of *{environment}* (nothing runs):\n```{text[:2800]}```"

    # Slack calls ------------------------------------------------------------------------------------------------

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                await self.web.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts or None)
        except Exception as error:
            logger.warning("ephemeral answer to %s not posted: %s", user, _slack_error(error))

    async def respond(self, response_url: str, text: str) -> None:
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                answer = await AsyncWebhookClient(response_url, timeout=int(SLACK_TIMEOUT_S)).send_dict(
                    {"response_type": "ephemeral", "text": text}
                )
            if answer.status_code != 200:
                logger.warning("command answer not delivered: HTTP %s", answer.status_code)
        except Exception as error:
            logger.warning("command answer not delivered: %s", type(error).__name__)


def parse_phase(value: str) -> Any:
    from runbook.results import Phase

    return Phase(value)


def _ago(moment: datetime) -> str:
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 0:
        return f"in {int(-seconds)} s"
    if seconds < 120:
        return f"{int(seconds)} s ago"
    return f"{int(seconds // 60)} min ago"


def _slack_error(error: BaseException) -> str:
    data = getattr(getattr(error, "response", None), "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return type(error).__name__
