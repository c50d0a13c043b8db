"""What the Slack bot does with each Socket Mode request: approve, reject and start runs from Slack.

Slack delivers button clicks (block_actions), modal submissions (view_submission) and `/runbook` commands
(slash_commands). Every envelope is acked first, from what the payload alone says (a modal's field errors), and only
then is Prefect asked anything (`runbook.slack.prefect_gateway`), in a background task: Slack wants the ack within
3 s whatever Prefect's latency.

    Approve / Approve with note… / Reject…   resume the paused run with the Prefect UI form's input
                                             (approve, note, approved_by = <@user>); approvers only, checked
                                             against the run in Prefect (runbook.slack.chatops_approval)
    Rerun failed phase                       start the manual deployment for that phase
    /runbook run|status|plan|cancel|help     start a run here, answer from the last run, cancel the active one

Private answers go to the thread of the message clicked (its parent's ts, never a reply's own ts). The connection
and the tokens are `runbook.slack.bot`'s.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

from runbook.config.models import RunbookConfig
from runbook.config.slack_models import ChatOpsConfig
from runbook.slack.approval import (
    ACTION_APPROVE,
    ACTION_APPROVE_NOTE,
    ACTION_REJECT,
    APPROVAL_BLOCK,
    NOTE_CALLBACK,
    STATUS_BLOCK,
    ApproverCheck,
    ButtonValue,
    NoteSubmission,
    button_values,
    mention,
    note_modal,
    read_note_submission,
    record_refusal,
    status_block,
)
from runbook.slack.chatops_approval import ApprovalDesk, Click, ago
from runbook.slack.commands import Command, UsageError, parse, usage
from runbook.slack.parent_message import RERUN_ACTION
from runbook.slack.prefect_gateway import PrefectGateway

logger = logging.getLogger("runbook.slack.chatops")

ACTION_RERUN = RERUN_ACTION  # the button of a failed run's parent message (runbook.slack.parent_message)
SLACK_TIMEOUT_S = 10.0
RUNNERS_REFUSED = "not allowed to run"
MAX_REMEMBERED = 1000  # clicked messages' blocks and recorded refusals kept in memory


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
        self.desk = ApprovalDesk(self)
        self.command = next(iter(environments.values())).chatops.command if environments else "/runbook"
        self._tasks: set[asyncio.Task[None]] = set()
        self._messages: dict[tuple[str, str], list[dict[str, Any]]] = {}  # approval message blocks seen on click
        self._refused: set[tuple[str, str, str]] = set()  # (run, user, action) already recorded
        self.ack_ms: list[float] = []

    @property
    def secrets(self) -> tuple[str, ...]:
        """Known secret values never shown back (the bot token); secret shapes are redacted anyway."""
        token = getattr(self.web, "token", None)
        return (token,) if isinstance(token, str) and token else ()

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

    async def on_message(self, client: Any, message: dict[str, Any], raw: str | None = None) -> None:
        """slack-sdk's raw listener: an envelope without a payload never reaches `on_request`; ack it all the same."""
        from slack_sdk.socket_mode.response import SocketModeResponse

        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if envelope_id and "payload" not in message:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=str(envelope_id)))

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
        thread_ts = str(message.get("thread_ts") or container.get("thread_ts") or message_ts)
        for action in payload.get("actions") or []:
            action_id = action.get("action_id")
            if action_id in (ACTION_APPROVE, ACTION_APPROVE_NOTE, ACTION_REJECT):
                raw = str(action.get("value", ""))
                if isinstance(message.get("blocks"), list):
                    shown = button_values(message["blocks"])
                    if shown and raw not in shown:  # a value the message's own buttons do not carry: forged
                        await self.ephemeral(channel, user, "🚫 This button is not on this message.", thread_ts)
                        continue
                    self._remember((channel, message_ts), message["blocks"])
                await self.approval_click(
                    user, str(action_id), raw, channel, message_ts, str(payload.get("trigger_id", "")), thread_ts
                )
            elif action_id == ACTION_RERUN:
                name = str((payload.get("channel") or {}).get("name") or "")
                await self.rerun(user, str(action.get("value", "")), channel, message_ts, name)

    def _remember(self, key: tuple[str, str], blocks: list[dict[str, Any]]) -> None:
        self._messages.pop(key, None)
        self._messages[key] = blocks
        for old in list(self._messages)[: max(0, len(self._messages) - MAX_REMEMBERED)]:
            del self._messages[old]

    async def approval_click(
        self,
        user: str,
        action_id: str,
        raw: str,
        channel: str,
        message_ts: str,
        trigger_id: str,
        thread_ts: str = "",
    ) -> None:
        thread_ts = thread_ts or message_ts
        try:
            value = ButtonValue.parse(raw)
        except (ValueError, TypeError):
            await self.ephemeral(channel, user, "This button is not from runbook's approval message.", thread_ts)
            return
        environment = await self.authorize(user, value, channel, thread_ts, action_id)
        if environment is None:
            return
        if action_id == ACTION_APPROVE:
            await self.desk.decide(Click(user, value, True, "", channel, message_ts, thread_ts))
            return
        # "Approve with note…" / "Reject…": the modal; the trigger is good for 3 s, so open it before anything slow.
        view = note_modal(value, action_id != ACTION_REJECT, channel, message_ts, thread_ts)
        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                await self.web.views_open(trigger_id=trigger_id, view=view)
        except Exception as error:
            await self.ephemeral(
                channel,
                user,
                f"Could not open the note form ({_slack_error(error)}); try the button again.",
                thread_ts,
            )

    async def authorize(
        self, user: str, value: ButtonValue, channel: str, thread_ts: str, action: str
    ) -> Environment | None:
        """The environment when `user` may decide runs of it; otherwise an ephemeral refusal (in the thread
        `thread_ts`), recorded. Whether this click may decide this very run is checked against Prefect later."""
        environment = self.environments.get(value.environment)
        if environment is None:
            await self.ephemeral(
                channel,
                user,
                f"This bot does not serve {value.environment} (no [slack.chatops] for it here).",
                thread_ts,
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
                thread_ts,
            )
            await self.record_refused(value.flow_run_id, user, action, why)
            return None
        return environment

    async def record_refused(self, flow_run_id: str, user: str, action: str, why: str) -> None:
        """Keep a refused attempt with the run: once per run, user and action (a refused person clicking on does
        not write a flow-run input per click)."""
        logger.warning("refused %s by %s on run %s: %s", action, user, flow_run_id, why)
        key = (flow_run_id, user, action)
        if key in self._refused:
            return
        if len(self._refused) >= MAX_REMEMBERED:
            self._refused.clear()
        self._refused.add(key)
        await record_refusal(flow_run_id, user, action, why)

    async def show_status(self, channel: str, ts: str, text: str, buttons: bool) -> None:
        """The approval message as clicked, with the bot's status line (none when `text` is empty), with or without
        its buttons. Nothing is changed unless the message, as last clicked, was an open approval (buttons or the
        bot's status line): a decided message is the run's to show, and an unseen one is not rebuilt."""
        blocks = self._messages.get((channel, ts)) or []
        if not any(b.get("block_id") in (APPROVAL_BLOCK, STATUS_BLOCK) for b in blocks):
            return  # not an open approval (a stale click on a decided message): the run shows the outcome
        kept = [b for b in blocks if b.get("block_id") not in (APPROVAL_BLOCK, STATUS_BLOCK)]
        if text:
            kept.append(status_block(text).to_dict())
        if buttons:
            kept += [b for b in blocks if b.get("block_id") == APPROVAL_BLOCK]
        fallback = next((b["text"]["text"] for b in kept if b.get("type") == "header"), "Redeploy approval")
        try:
            async with asyncio.timeout(SLACK_TIMEOUT_S):
                await self.web.chat_update(channel=channel, ts=ts, text=fallback, blocks=kept)
        except Exception as error:
            logger.warning("approval message %s not updated: %s", ts, _slack_error(error))

    async def show_decision(self, channel: str, ts: str, value: ButtonValue, decision: Any) -> None:
        """Update the approval message in place: who, when, the note; the buttons go."""
        from runbook.slack.approval import decided_outcome_blocks

        blocked = (APPROVAL_BLOCK, STATUS_BLOCK)
        kept = [b for b in self._messages.get((channel, ts), []) if b.get("block_id") not in blocked]
        kept = [b for b in kept if b.get("type") != "context"]
        text, outcome = decided_outcome_blocks(value.environment, decision, self.secrets)
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
        thread = submitted.thread_ts or ts
        if await self.authorize(user, value, channel, thread, action) is None:
            return
        await self.desk.decide(Click(user, value, submitted.approve, submitted.note, channel, ts, thread))

    # Rerun button and slash command -------------------------------------------------------------------------------

    async def rerun(self, user: str, raw: str, channel: str, message_ts: str, channel_name: str = "") -> None:
        try:
            data = json.loads(raw)
            command = Command("run", str(data["env"]), (parse_phase(str(data["phase"])),))
        except (ValueError, KeyError, TypeError):
            await self.ephemeral(channel, user, "This button is not from runbook's run message.", message_ts)
            return
        answer = await self.start_run(user, command, channel, channel_name)
        await self.ephemeral(channel, user, answer, message_ts)

    def on_slash_command(
        self, payload: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, Coroutine[Any, Any, None] | None]:
        text = str(payload.get("text") or "")  # a null text is no text, never "None"
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
            answer = await self.start_run(user, command, channel, str(payload.get("channel_name") or ""))
        elif command.verb == "cancel":
            answer = await self.cancel(user, command.environment)
        elif command.verb == "status":
            answer = await self.status(command.environment)
        else:
            answer = self.plan(command.environment)
        await self.respond(str(payload.get("response_url", "")), answer)

    async def runner_refusal(self, user: str, name: str, verb: str) -> str | None:
        """Why `user` may not start or cancel runs of this environment (`runners`), or None when they may."""
        runners = self.environments[name].chatops.runners
        if not runners:
            return None
        allowed, why = await self.approvers.allowed(user, runners, refused=RUNNERS_REFUSED)
        return None if allowed else f"🚫 You cannot {verb} runs of {name} ({why})."

    async def start_run(self, user: str, command: Command, channel: str, channel_name: str = "") -> str:
        """Start the manual deployment. The run's message goes where the command came from (the environment's
        runbook channel when it came from there); a redeploy's approval request always goes to the runbook channel."""
        environment = self.environments.get(command.environment)
        if environment is None:
            return f"This bot does not serve {command.environment}."
        if refusal := await self.runner_refusal(user, command.environment, "start"):
            return refusal
        runbook_channel = environment.config.slack.channel.removeprefix("#")
        parameters = {
            "environment": environment.target,
            "phases": [phase.value for phase in command.phases],
            "redeploy": command.redeploy,
            "trigger": f"slack:<@{user}>",
            "slack_channel": "" if channel_name and channel_name == runbook_channel else channel,
        }
        try:
            run = await self.prefect.start(environment.chatops.deployment, parameters)
        except Exception as error:
            logger.warning("run of %s not started: %s", environment.chatops.deployment, error)
            return f"Could not start {environment.chatops.deployment}: {type(error).__name__}: {str(error)[:200]}"
        phases = ", ".join(phase.value for phase in command.phases)
        extra = ""
        if command.redeploy:
            where = "in the thread" if not parameters["slack_channel"] else f"in #{runbook_channel}, linked from it"
            second = " (someone other than you)" if environment.chatops.require_second_person else ""
            extra = f" with a redeploy (its approval request goes to the approvers{second} {where})"
        return f"Started *{run.name}* ({phases}){extra}: its message will appear in this channel. Run id `{run.id}`."

    async def cancel(self, user: str, name: str) -> str:
        """`/runbook cancel ENV`: cancel the environment's active handoff run (authorized like `runners`)."""
        environment = self.environments.get(name)
        if environment is None:
            return f"This bot does not serve {name}."
        if refusal := await self.runner_refusal(user, name, "cancel"):
            return refusal
        try:
            run = await self.prefect.active_run(environment.target)
            if run is None:
                return f"No run of *{name}* is scheduled, running or paused: nothing to cancel."
            was = run.state.name if run.state is not None else "unknown"
            now = await self.prefect.cancel(str(run.id), f"cancelled from Slack by <@{user}>")
        except Exception as error:
            logger.warning("cancel of %s failed: %s", name, error)
            return f"Could not cancel the run of {name}: Prefect answered {type(error).__name__}; nothing changed."
        return (
            f"🛑 *{run.name}* was {was}, now {now}: Prefect stops it and its Slack message says so. Run id `{run.id}`."
        )

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
        when = f" · started {ago(started)}" if started else ""
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


def _slack_error(error: BaseException) -> str:
    data = getattr(getattr(error, "response", None), "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return type(error).__name__
