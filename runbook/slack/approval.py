"""Redeploy approval in Slack: the approval message, the note modal, who may decide, and how the outcome is said.

Pure builders (Block Kit from `slack_sdk.models`, validated when rendered) plus small I/O pieces: `ApproverCheck`
resolves user groups with `usergroups.users.list`; refused attempts are kept with the run. The bot
(`runbook.slack.chatops`, `runbook.slack.chatops_approval`) and the paused run (`runbook.slack.approval_post`) use
them; the flow run is resumed with the same input the Prefect UI form takes (`runbook.approval.RedeployApproval`).

Whatever people typed (a note, a name in the Prefect UI) is escaped and has secret-shaped values redacted before it
is shown; a name typed in the Prefect UI stays text, even when it looks like a Slack mention.

Refused attempts are kept with the run in Prefect, as flow run inputs keyed `runbook-chatops-refusal-<user>-<action>`
(at most one per user, action and run), so the report can list them whichever machine ran the bot:
`await refused_attempts(flow_run_id)`.
"""

import asyncio
import json
import logging
import re
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

from runbook.slack.evidence import redact_text

logger = logging.getLogger("runbook.slack.approval")

ACTION_APPROVE = "runbook_approve"
ACTION_APPROVE_NOTE = "runbook_approve_note"
ACTION_REJECT = "runbook_reject"
APPROVAL_BLOCK = "runbook_approval_actions"
NOTE_CALLBACK = "runbook_approval_note"
NOTE_BLOCK, NOTE_ACTION = "note", "note_input"
DECISION_BLOCK, DECISION_ACTION = "decision", "decision_input"
NOTE_MAX = 500  # RedeployApproval.note's max_length
MESSAGE_KEY = "runbook-approval-message"  # flow run input: where the run posted its approval message (the bot checks)
STATUS_BLOCK = "runbook_approval_status"  # the bot's line on the message while Prefect is asked
REFUSAL_PREFIX = "runbook-chatops-refusal-"
GROUP_CACHE_S = 60.0  # user-group membership is looked up at most once a minute per group
MEMBER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
VIA_WORDS = {
    "slack": "in Slack",
    "prefect-ui": "in the Prefect UI",
    "cli": "with runbook run --approve",
    "unverified": "on the run's form (not verified as Slack)",
}


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
    requested_from: str | None = None  # a link to the run's own message, when that is in another channel

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
    """Who decided what, when, through what (a key of VIA_WORDS), with which note."""

    approve: bool
    by: str  # "<@U123>" (Slack, as the bot recorded it) or a name typed in the Prefect UI
    at: datetime
    note: str = ""
    via: str = "slack"


def shown(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Something a person typed, safe to show in mrkdwn: secret-shaped values redacted, `<`, `>` and `&` escaped
    (so `<!channel>`, `<@U…>` and `<http://x|disguised>` show as typed instead of pinging or linking)."""
    return _escape(redact_text(text, secrets))


def who(by: str, via: str, secrets: tuple[str, ...] = ()) -> str:
    """The decider as shown: a Slack mention only for the bot's own record of a click; anything else as typed."""
    if via == "slack" and MEMBER_MENTION.fullmatch(by):
        return by
    return shown(by, secrets) if by else "someone"


def slack_time(moment: datetime) -> str:
    """Slack renders `<!date^...>` in each reader's time zone; the fallback is UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _header(request: ApprovalRequest) -> list[Block]:
    changes = "\n".join(change.line() for change in request.changes) or "• (no services configured)"
    return [
        HeaderBlock(text=f"Redeploy approval · {request.environment}"[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*What will change* (Cloud Run, new revisions):\n{changes}"[:3000])),
    ]


def approval_message(request: ApprovalRequest, buttons: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """The approval request: what changes, who may approve, the deadline, Approve / Approve with note / Reject.

    Without `buttons` (the run could not record the message in Prefect, so the bot could not check a click) it says
    to decide on the run's page in the Prefect UI.
    """
    approvers = ", ".join(mention(a) for a in request.approvers)
    context = f"Approvers: {approvers} · Decide by {slack_time(request.deadline)}, else it expires and the phase fails"
    if request.requested_from:
        context += f" · Requested from <{request.requested_from}|the run's message>"
    blocks: list[Block] = [*_header(request), ContextBlock(elements=[MarkdownTextObject(text=context)])]
    if buttons:
        blocks.append(_buttons(request))
    else:
        blocks.append(status_block("Decide on the run's page in the Prefect UI (Resume): Slack's buttons are off."))
    text = f"Redeploy approval for {request.environment}: {len(request.changes)} service(s); approvers {approvers}"
    return text, [block.to_dict() for block in blocks]


def _buttons(request: ApprovalRequest) -> Block:
    value = request.value()
    return ActionsBlock(
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
    )


def button_values(blocks: Any) -> list[str]:
    """The values of the approval buttons a message shows (as Slack delivered it with a click); [] when none."""
    actions = [b for b in (blocks if isinstance(blocks, list) else []) if isinstance(b, dict)]
    return [
        str(element.get("value"))
        for block in actions
        if block.get("block_id") == APPROVAL_BLOCK
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]


def status_block(text: str) -> Block:
    """The bot's line on the approval message while it asks Prefect (Resuming…, the state is unknown, …)."""
    return SectionBlock(block_id=STATUS_BLOCK, text=MarkdownTextObject(text=text[:3000]))


def resuming_text(user: str, approve: bool) -> str:
    verb = "approved" if approve else "rejected"
    return f"⏳ *Resuming…* <@{user}> {verb}; waiting for Prefect to resume the run."


def decided_outcome_blocks(
    environment: str, decision: Decision, secrets: tuple[str, ...] = ()
) -> tuple[str, list[dict[str, Any]]]:
    """The decision as the message's last block: who, through what, when, the note (escaped, redacted)."""
    verb = "Approved" if decision.approve else "Rejected"
    icon = "✅" if decision.approve else "🛑"
    by = who(decision.by, decision.via, secrets)
    where = VIA_WORDS.get(decision.via, "")
    note = f"\n>{shown(decision.note, secrets)}" if decision.note else ""
    outcome = f"{icon} *{verb}* by {by} {where} · {slack_time(decision.at)}{note}"
    text = f"Redeploy for {environment} {verb.lower()} by {by} {where}"
    return text, [SectionBlock(text=MarkdownTextObject(text=outcome[:3000])).to_dict()]


def already_decided(outcome: dict[str, Any], secrets: tuple[str, ...] = ()) -> str:
    """The answer to a click on a decided approval (`runbook.approval.ApprovalOutcome` as a dict), said as it is."""
    status = str(outcome.get("status") or ("approved" if outcome.get("approve") else "rejected"))
    if status == "expired":
        return f"⌛ This approval expired ({shown(str(outcome.get('decision') or ''), secrets)}): nothing changed."
    if status not in ("approved", "rejected"):
        return f"This approval is over ({shown(str(outcome.get('decision') or status), secrets)}): nothing changed."
    via = str(outcome.get("via") or "")
    by = str(outcome.get("approved_by") or "")
    by_words = f" by {who(by, via, secrets)}" if by else ""
    where = f" {VIA_WORDS[via]}" if via in VIA_WORDS else ""
    note = f" ({shown(str(outcome['note']), secrets)})" if outcome.get("note") else ""
    return f"Already decided: {status}{by_words}{where}{note}. Nothing changed."


def decided_message(
    request: ApprovalRequest, decision: Decision, secrets: tuple[str, ...] = ()
) -> tuple[str, list[dict[str, Any]]]:
    """The same message after the decision: who, when, the note; no buttons left."""
    text, outcome = decided_outcome_blocks(request.environment, decision, secrets)
    return text, [*(block.to_dict() for block in _header(request)), *outcome]


def closed_message(request: ApprovalRequest, status: str, reason: str) -> tuple[str, list[dict[str, Any]]]:
    """The message when nobody decided in time (or nobody was asked): buttons gone, said as it is."""
    head = "⌛ *Expired*" if status == "expired" else "*Closed*"
    line = f"{head}: {_escape(reason)}; nothing was redeployed and the restoration phase fails."
    blocks: list[Block] = [*_header(request), SectionBlock(text=MarkdownTextObject(text=line))]
    return f"Redeploy for {request.environment}: {reason}", [block.to_dict() for block in blocks]


def note_modal(value: ButtonValue, approve: bool, channel: str, message_ts: str, thread_ts: str = "") -> dict[str, Any]:
    """The modal of "Approve with note…" / "Reject…": the decision (preset) and the note (required to reject)."""
    approve_option = Option(value="approve", text="Approve: roll the new revisions")
    reject_option = Option(value="reject", text="Reject: the restoration phase fails")
    metadata = json.dumps({"value": value.raw(), "channel": channel, "ts": message_ts, "thread": thread_ts})
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
    thread_ts: str = ""  # the thread's parent, where private answers go ("" : the message's own ts)


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
    thread = str(metadata.get("thread") or metadata["ts"])
    return NoteSubmission(
        value, decision == "approve", note, str(metadata.get("channel", "")), str(metadata["ts"]), thread
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ApproverCheck:
    """Is this Slack user an approver? Member ids (U…, W…) match directly; user groups via `usergroups.users.list`.

    Only a member id ever matches directly: a user id that equals a group's id (S…) is not a member of that group.
    Group members are cached for a minute (a person just added to the group may wait that long; the guide says so).
    A lookup that fails refuses (never approves on an error) and says why.
    """

    def __init__(self, client: Any, timeout_s: float = 5.0) -> None:
        self.client = client  # slack_sdk AsyncWebClient with the bot token (scope usergroups:read)
        self.timeout_s = timeout_s
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def allowed(
        self, user_id: str, approvers: tuple[str, ...], refused: str = "not an approver"
    ) -> tuple[bool, str]:
        """(allowed, why): why names the id or group that let them in, what went wrong, or `refused`."""
        if not user_id.startswith(("U", "W")):
            return False, f"{refused} (not a Slack member id)"
        if user_id in (a for a in approvers if a.startswith(("U", "W"))):
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
        return False, refused

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_S:
            return cached[1]
        async with asyncio.timeout(self.timeout_s):
            answer = await self.client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in answer.get("users") or [])
        self._members[group] = (time.monotonic(), members)
        return members


def refusal_key(user_id: str, action: str) -> str:
    """One flow run input per user and action on a run (Prefect keys: lowercase letters, digits and dashes)."""
    return REFUSAL_PREFIX + re.sub(r"[^a-z0-9]+", "-", f"{user_id}-{action}".lower()).strip("-")[:100]


async def record_refusal(flow_run_id: str, user_id: str, action: str, why: str) -> None:
    """Keep a refused attempt with the run (a flow run input), for the report; never raises."""
    try:
        from prefect.client.orchestration import get_client

        entry = {"user": f"<@{user_id}>", "action": action, "why": why, "at": datetime.now(UTC).isoformat()}
        key = refusal_key(user_id, action)  # the same key again: Prefect keeps the first, the write fails
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
