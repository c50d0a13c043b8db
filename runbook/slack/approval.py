"""Redeploy approval in Slack: the message in the run's thread, the note modal, who may decide, and the outcome.

Pure builders (Block Kit from `slack_sdk.models`, validated when rendered) plus two small I/O pieces:
`describe_changes` reads each service's current revision, `ApproverCheck` resolves user groups with
`usergroups.users.list`. The bot (`runbook.slack.chatops`) and the paused run (`runbook.approval`) use them; the flow
run is resumed with the same input the Prefect UI form takes (`runbook.approval.RedeployApproval`).

Refused attempts are kept with the run in Prefect, as flow run inputs keyed `runbook-chatops-refusal-<id>`, so the
report can list them whichever machine ran the bot: `await refused_attempts(flow_run_id)`.
"""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from runbook.config.models import RunbookConfig

logger = logging.getLogger("runbook.slack.approval")

ACTION_APPROVE = "runbook_approve"
ACTION_APPROVE_NOTE = "runbook_approve_note"
ACTION_REJECT = "runbook_reject"
APPROVAL_BLOCK = "runbook_approval_actions"
NOTE_CALLBACK = "runbook_approval_note"
NOTE_BLOCK, NOTE_ACTION = "note", "note_input"
DECISION_BLOCK, DECISION_ACTION = "decision", "decision_input"
NOTE_MAX = 500  # RedeployApproval.note's max_length
REFUSAL_PREFIX = "runbook-chatops-refusal-"
GROUP_CACHE_S = 60.0  # user-group membership is looked up at most once a minute per group


def mention(slack_id: str) -> str:
    """`<!subteam^S...>` for a user group, `<@U...>` for a member: the only forms Slack renders as people."""
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


@dataclass(frozen=True)
class ServiceChange:
    """One Cloud Run service the redeploy rolls: its serving revision now and the generation it will get."""

    name: str
    current_revision: str | None
    next_generation: int | None

    def line(self) -> str:
        now = f"`{self.current_revision}`" if self.current_revision else "current revision unknown"
        new = f"a new revision (generation {self.next_generation})" if self.next_generation else "a new revision"
        return f"• *{self.name}*: {now} → {new}"


@dataclass(frozen=True)
class ApprovalRequest:
    """What a paused redeploy asks, and of whom; `value` travels in the buttons (Slack returns it on click)."""

    flow_run_id: str
    environment: str
    changes: tuple[ServiceChange, ...]
    approvers: tuple[str, ...]
    deadline: datetime

    def value(self) -> str:
        return json.dumps(
            {"run": self.flow_run_id, "env": self.environment, "deadline": int(self.deadline.timestamp())}
        )


@dataclass(frozen=True)
class ButtonValue:
    """The button's value read back: which run, which environment, until when."""

    flow_run_id: str
    environment: str
    deadline: datetime

    @classmethod
    def parse(cls, raw: str) -> "ButtonValue":
        """Raises ValueError when the value is not one of ours."""
        data = json.loads(raw)
        if not isinstance(data, dict) or not {"run", "env", "deadline"} <= set(data):
            raise ValueError(f"expected a runbook approval value, found {raw[:80]!r}")
        return cls(str(uuid.UUID(str(data["run"]))), str(data["env"]), datetime.fromtimestamp(data["deadline"], UTC))

    def raw(self) -> str:
        return json.dumps(
            {"run": self.flow_run_id, "env": self.environment, "deadline": int(self.deadline.timestamp())}
        )


@dataclass(frozen=True)
class Decision:
    """Who decided what, when, through what, with which note."""

    approve: bool
    by: str  # "<@U123>" or a name typed in the Prefect UI
    at: datetime
    note: str = ""
    via: str = "Slack"


def _when(moment: datetime) -> str:
    """Slack renders `<!date^...>` in each reader's time zone; the fallback is UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _header(request: ApprovalRequest) -> list[Block]:
    changes = "\n".join(change.line() for change in request.changes) or "• (no services configured)"
    return [
        HeaderBlock(text=f"Redeploy approval · {request.environment}"[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*What will change* (Cloud Run, new revisions):\n{changes}"[:3000])),
    ]


def approval_message(request: ApprovalRequest) -> tuple[str, list[dict[str, Any]]]:
    """The approval request: what changes, who may approve, the deadline, Approve / Approve with note / Reject."""
    who = ", ".join(mention(a) for a in request.approvers)
    value = request.value()
    blocks: list[Block] = [
        *_header(request),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"Approvers: {who} · Decide by {_when(request.deadline)}, else it fails")]
        ),
        ActionsBlock(
            block_id=APPROVAL_BLOCK,
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id=ACTION_APPROVE,
                    value=value,
                    style="primary",
                    confirm=ConfirmObject(
                        title="Roll new revisions?",
                        text=f"Every configured Cloud Run service of {request.environment} gets a new revision now.",
                        confirm="Approve",
                        deny="Cancel",
                    ),
                ),
                ButtonElement(text="Approve with note…", action_id=ACTION_APPROVE_NOTE, value=value),
                ButtonElement(text="Reject…", action_id=ACTION_REJECT, value=value, style="danger"),
            ],
        ),
    ]
    text = f"Redeploy approval for {request.environment}: {len(request.changes)} service(s); approvers {who}"
    return text, [block.to_dict() for block in blocks]


def decided_outcome_blocks(environment: str, decision: Decision) -> tuple[str, list[dict[str, Any]]]:
    """The decision as the message's last block: who, when, through what, the note."""
    verb = "Approved" if decision.approve else "Rejected"
    icon = "✅" if decision.approve else "🛑"
    note = f"\n>{_escape(decision.note)}" if decision.note else ""
    outcome = f"{icon} *{verb}* by {decision.by or 'someone'} {_when(decision.at)} ({decision.via}){note}"
    text = f"Redeploy for {environment} {verb.lower()} by {decision.by or 'someone'}"
    return text, [SectionBlock(text=MarkdownTextObject(text=outcome[:3000])).to_dict()]


def decided_message(request: ApprovalRequest, decision: Decision) -> tuple[str, list[dict[str, Any]]]:
    """The same message after the decision: who, when, the note; no buttons left."""
    text, outcome = decided_outcome_blocks(request.environment, decision)
    return text, [*(block.to_dict() for block in _header(request)), *outcome]


def expired_message(request: ApprovalRequest, reason: str) -> tuple[str, list[dict[str, Any]]]:
    """The message when nobody decided in time (or the run ended): buttons gone, why."""
    blocks: list[Block] = [*_header(request), SectionBlock(text=MarkdownTextObject(text=f"⌛ *{_escape(reason)}*"))]
    return f"Redeploy for {request.environment}: {reason}", [block.to_dict() for block in blocks]


def note_modal(value: ButtonValue, approve: bool, channel: str, message_ts: str) -> dict[str, Any]:
    """The modal of "Approve with note…" / "Reject…": the decision (preset) and the note (required to reject)."""
    approve_option = Option(value="approve", text="Approve: roll the new revisions")
    reject_option = Option(value="reject", text="Reject: the restoration phase fails")
    metadata = json.dumps({"value": value.raw(), "channel": channel, "ts": message_ts})
    view = View(
        type="modal",
        callback_id=NOTE_CALLBACK,
        title=PlainTextObject(text="Redeploy approval"),
        submit=PlainTextObject(text="Decide"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"Redeploy of *{_escape(value.environment)}*")),
            InputBlock(
                block_id=DECISION_BLOCK,
                label="Decision",
                element=RadioButtonsElement(
                    action_id=DECISION_ACTION,
                    options=[approve_option, reject_option],
                    initial_option=approve_option if approve else reject_option,
                ),
            ),
            InputBlock(
                block_id=NOTE_BLOCK,
                label="Note (why; kept in the run's report)",
                optional=approve,
                element=PlainTextInputElement(action_id=NOTE_ACTION, multiline=True, max_length=NOTE_MAX),
            ),
        ],
    )
    return view.to_dict()


@dataclass(frozen=True)
class NoteSubmission:
    value: ButtonValue
    approve: bool
    note: str
    channel: str
    message_ts: str


def read_note_submission(view: dict[str, Any]) -> NoteSubmission | dict[str, str]:
    """The submitted modal, or the field errors Slack shows in it (`response_action: errors`)."""
    values = (view.get("state") or {}).get("values") or {}
    selected = ((values.get(DECISION_BLOCK) or {}).get(DECISION_ACTION) or {}).get("selected_option") or {}
    decision = selected.get("value") if isinstance(selected, dict) else None
    note = " ".join(str(((values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}).get("value") or "").split())
    if decision not in ("approve", "reject"):
        return {DECISION_BLOCK: "Choose approve or reject."}
    if decision == "reject" and not note:
        return {NOTE_BLOCK: "Say why it is rejected: the note goes into the run's report."}
    if len(note) > NOTE_MAX:
        return {NOTE_BLOCK: f"At most {NOTE_MAX} characters (found {len(note)})."}
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
        value = ButtonValue.parse(metadata["value"])
    except (ValueError, KeyError, TypeError):
        return {DECISION_BLOCK: "This form is not from runbook; open it again from the approval message."}
    return NoteSubmission(value, decision == "approve", note, str(metadata.get("channel", "")), str(metadata["ts"]))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ApproverCheck:
    """Is this Slack user an approver? Member ids match directly; user groups via `usergroups.users.list`.

    Group members are cached for a minute. A lookup that fails refuses (never approves on an error) and says why.
    """

    def __init__(self, client: Any, timeout_s: float = 5.0) -> None:
        self.client = client  # slack_sdk AsyncWebClient with the bot token (scope usergroups:read)
        self.timeout_s = timeout_s
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def allowed(self, user_id: str, approvers: tuple[str, ...]) -> tuple[bool, str]:
        """(allowed, why): why names the id or group that let them in, or what went wrong."""
        if user_id in approvers:
            return True, f"listed as {mention(user_id)}"
        problems = []
        for group in (a for a in approvers if a.startswith("S")):
            try:
                members = await self._group(group)
            except Exception as error:  # a failed lookup must not approve
                problems.append(f"{group}: {type(error).__name__}")
                continue
            if user_id in members:
                return True, f"member of {mention(group)}"
        if problems:
            return False, "user-group lookup failed (" + ", ".join(problems) + ")"
        return False, "not an approver"

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_S:
            return cached[1]
        async with asyncio.timeout(self.timeout_s):
            answer = await self.client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in answer.get("users") or [])
        self._members[group] = (time.monotonic(), members)
        return members


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


async def record_refusal(flow_run_id: str, user_id: str, action: str, why: str) -> None:
    """Keep a refused attempt with the run (a flow run input), for the report; never raises."""
    try:
        from prefect.client.orchestration import get_client

        entry = {"user": f"<@{user_id}>", "action": action, "why": why, "at": datetime.now(UTC).isoformat()}
        key = f"{REFUSAL_PREFIX}{uuid.uuid4().hex[:12]}"
        async with asyncio.timeout(10), get_client() as client:
            await client.create_flow_run_input(
                uuid.UUID(flow_run_id), key, json.dumps(entry), sender="runbook-slack-bot"
            )
    except Exception as error:
        logger.warning("refused attempt on run %s not recorded: %s", flow_run_id, type(error).__name__)


async def refused_attempts(flow_run_id: str) -> list[dict[str, Any]]:
    """Every refused approval attempt recorded for the run, oldest first (for RunReport.notifications)."""
    from prefect.client.orchestration import get_client

    async with asyncio.timeout(10), get_client() as client:
        found = await client.filter_flow_run_input(uuid.UUID(flow_run_id), REFUSAL_PREFIX, 200, set())
    entries = [
        {"method": "block_actions", "channel": None, "purpose": "approval-refused", "ok": False, **entry.decoded_value}
        for entry in found
        if isinstance(entry.decoded_value, dict)
    ]
    return sorted(entries, key=lambda e: str(e.get("at", "")))


@dataclass
class PostedApproval:
    """The approval message a paused run posted, so the run can show the outcome on it (buttons removed)."""

    client: Any
    request: ApprovalRequest
    channel: str
    ts: str

    async def finish(self, approved: bool, decision: str, approved_by: str, note: str) -> None:
        """Show the outcome (whoever decided, Slack or the UI form, or nobody in time); never raises."""
        if approved_by:
            via = "Slack" if approved_by.startswith("<@") else "Prefect UI"
            text, blocks = decided_message(self.request, Decision(approved, approved_by, datetime.now(UTC), note, via))
        else:
            text, blocks = expired_message(self.request, decision)
        try:
            async with asyncio.timeout(10):
                await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
        except Exception as error:
            logger.warning("approval message not updated: %s", _error_code(error))


async def announce(
    flow_run_id: str, parameters: dict[str, Any], services: list[str], timeout_s: int
) -> PostedApproval | None:
    """Post the approval request in the run's Slack thread when [slack.chatops] is configured; never raises.

    `parameters` are the handoff run's (environment, slack_channel); the thread is the run's parent message
    (runbook.slack.store.ParentStore), else the message goes to the run's channel.
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
    from runbook.slack.store import ParentStore
    from runbook.slack.tokens import read_secret

    config = load_config(str(parameters.get("environment") or "staging"))
    chatops = config.slack.chatops
    if chatops is None or not config.slack.enabled:
        return None
    token = await read_secret(config.slack.token_env, config.slack.token_block)
    if not token:
        return None
    parent = ParentStore().get(flow_run_id)
    channel = parent.channel if parent else (str(parameters.get("slack_channel") or "") or config.slack.channel)
    changes = await describe_changes(config, services)
    deadline = datetime.fromtimestamp(int(time.time()) + timeout_s, UTC)
    request = ApprovalRequest(flow_run_id, config.name, changes, chatops.approvers, deadline)
    text, blocks = approval_message(request)
    client = AsyncWebClient(token=token, base_url=config.slack.api_base_url, timeout=10)
    async with asyncio.timeout(15):
        answer = await client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=parent.ts if parent else None
        )
    return PostedApproval(client, request, str(answer["channel"]), str(answer["ts"]))


def _error_code(error: BaseException) -> str:
    data = getattr(getattr(error, "response", None), "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return type(error).__name__
