"""Slack's Socket Mode and the interactive Web API methods, simulated: what a ChatOps app needs, on loopback.

Real Slack, as the app sees it (https://api.slack.com/apis/socket-mode):
  - `apps.connections.open` with the app-level token (xapp-...) answers a WebSocket URL, here a loopback
    `ws://127.0.0.1:PORT/slack/socket/<ticket>` valid for one connection;
  - the socket says `hello`, then delivers envelopes `{"envelope_id", "type", "payload", "accepts_response_payload",
    "retry_attempt", "retry_reason"}` of type `interactive` (block_actions, view_submission) and `slash_commands`;
  - the app acks each with `{"envelope_id": ..., "payload"?: ...}` within 3 s. Late and missing acks are recorded.
  - `chat.postEphemeral`, `views.open`, `usergroups.users.list` and the `response_url` of an action or command.

A person is played by the test-control endpoints (not Slack APIs): POST `/_simulator/slack/socket/click` presses a
button of a posted message, `/slash` types a slash command, `/submit` submits an open modal, each as a given user.
Each answers once the app acked (or after the 3 s deadline) with the envelope id, whether and how fast it was acked.
`GET /_simulator/slack/socket/envelopes` lists every envelope with its ack; `chatops_lines` renders the ephemeral
messages, modals and command responses for the conversation read-back.
"""

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from simulator.requestlog import RecordedRequest, RequestLog

if TYPE_CHECKING:
    from simulator.slack import SlackState

ACK_DEADLINE_S = 3.0  # Slack's: an envelope not acked within 3 s is retried, and the user sees an error
TRIGGER_TTL_S = 3.0  # a trigger_id opens a modal only within 3 s of the interaction, once
TICKET_TTL_S = 30.0  # a Socket Mode URL is good for one connection, shortly after it was issued
CHATOPS_METHODS = frozenset(
    {"apps.connections.open", "chat.postEphemeral", "views.open", "usergroups.users.list", "chat.getPermalink"}
)


class SocketModeState(BaseModel):
    """The `[slack.socket_mode]` table of a scenario: the ChatOps app and the people who click."""

    model_config = ConfigDict(extra="forbid")

    app_token: str = Field("xapp-sim-app-token-not-a-secret", description="The only app-level token accepted.")
    app_id: str = Field("A0SIMAPP01", description="The app's id, in hello and in every payload.")
    people: dict[str, str] = Field(
        default_factory=lambda: {
            "U0SIMPLAT01": "alice",  # platform on-call (member of S0SIMPLATF1)
            "U0SIMLEAD01": "lead",  # an approver by member id
            "U0SIMOTHER1": "mallory",  # in the channel, approver of nothing
        },
        description="Member id -> user name of the people who can click and type commands.",
    )
    usergroup_members: dict[str, list[str]] = Field(
        default_factory=lambda: {"S0SIMPLATF1": ["U0SIMPLAT01"], "S0SIMINFRA1": [], "S0SIMPRODT1": []},
        description="User-group id -> member ids (usergroups.users.list).",
    )


@dataclass
class Envelope:
    """One envelope sent to the app, and what became of its ack."""

    envelope_id: str
    type: str  # interactive / slash_commands
    kind: str  # block_actions / view_submission / slash_commands
    user: str
    sent_at: float
    ack_ms: float | None = None
    ack_payload: Any = None
    late: bool = False
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def summary(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "kind": self.kind,
            "user": self.user,
            "acked": self.ack_ms is not None,
            "ack_ms": None if self.ack_ms is None else round(self.ack_ms, 1),
            "late": self.late,
            "missing": self.ack_ms is None and time.monotonic() - self.sent_at > ACK_DEADLINE_S,
            "ack_payload": self.ack_payload,
        }


class SocketHub:
    """The app's Socket Mode connections, the envelopes sent to it, and the interactive state (modals, triggers)."""

    def __init__(self, state: "SlackState", workspace: Any, log: RequestLog) -> None:
        self.state = state
        self.app: SocketModeState = state.socket_mode
        self.workspace = workspace  # simulator.slack._Workspace: the posted messages
        self.log = log
        self.tickets: dict[str, float] = {}
        self.sockets: list[WebSocket] = []
        self.envelopes: dict[str, Envelope] = {}
        self.triggers: dict[str, tuple[str, float]] = {}  # trigger id -> (user, issued at)
        self.views: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # ephemeral messages, modals, command responses, in order

    # ---- Web API methods ------------------------------------------------------------------------------------------

    def answer(self, method: str, token: str, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        """The answer to a ChatOps Web API method, with Slack's token rules (app-level vs bot token)."""
        if not token:
            return {"ok": False, "error": "not_authed"}
        if method == "apps.connections.open":
            if token.startswith("xoxb-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            if self.state.invalid_auth or token != self.app.app_token:
                return {"ok": False, "error": "invalid_auth"}
            ticket = uuid.uuid4().hex
            self.tickets[ticket] = time.monotonic()
            ws_base = base_url.replace("http://", "ws://", 1).rstrip("/")
            return {"ok": True, "url": f"{ws_base}/slack/socket/{ticket}?app_id={self.app.app_id}"}
        if token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if self.state.invalid_auth or token != self.state.token:
            return {"ok": False, "error": "invalid_auth"}
        if method == "chat.postEphemeral":
            return self._ephemeral(params)
        if method == "views.open":
            return self._views_open(params)
        if method == "chat.getPermalink":
            resolved = self.state.resolve_channel(str(params.get("channel", "")))
            ts = str(params.get("message_ts", ""))
            if resolved is None:
                return {"ok": False, "error": "channel_not_found"}
            if (resolved[0], ts) not in self.workspace.messages:
                return {"ok": False, "error": "message_not_found"}
            link = f"https://{self.state.team}.slack.com/archives/{resolved[0]}/p{ts.replace('.', '')}"
            return {"ok": True, "channel": resolved[0], "permalink": link}
        group = str(params.get("usergroup", ""))
        if group not in self.app.usergroup_members and group not in getattr(self.state, "usergroups", {}):
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.app.usergroup_members.get(group, []))}

    def _ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved = self.state.resolve_channel(str(params.get("channel", "")))
        if resolved is None:
            return {"ok": False, "error": "channel_not_found"}
        user = str(params.get("user", ""))
        if user not in self.people:
            return {"ok": False, "error": "user_not_in_channel"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self.workspace.next_ts()
        self.events.append(
            {
                "kind": "ephemeral",
                "channel": resolved[0],
                "user": user,
                "thread_ts": params.get("thread_ts"),
                "text": params.get("text") or "",
                "blocks": params.get("blocks") or [],
                "ts": ts,
            }
        )
        return {"ok": True, "message_ts": ts}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self.triggers.pop(str(params.get("trigger_id", "")), None)
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        user, issued = trigger
        if time.monotonic() - issued > TRIGGER_TTL_S:
            return {"ok": False, "error": "expired_trigger_id"}
        view = params.get("view")
        if isinstance(view, str):
            with contextlib.suppress(ValueError):
                view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal" or not isinstance(view.get("blocks"), list):
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(view.get("title"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = "V" + uuid.uuid4().hex[:10].upper()
        opened = {
            **view,
            "id": view_id,
            "team_id": self.state.team_id,
            "app_id": self.app.app_id,
            "bot_id": self.state.bot_id,
            "hash": uuid.uuid4().hex[:16],
            "state": {"values": {}},
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
        }
        self.views[view_id] = {"view": opened, "user": user, "open": True, "errors": None}
        self.events.append({"kind": "modal", "view_id": view_id, "user": user, "title": _plain(view.get("title"))})
        return {"ok": True, "view": opened}

    # ---- the socket -----------------------------------------------------------------------------------------------

    async def connect(self, websocket: WebSocket) -> None:
        ticket = websocket.path_params["ticket"]
        issued = self.tickets.pop(ticket, None)
        if issued is None or time.monotonic() - issued > TICKET_TTL_S:
            await websocket.close(code=1008, reason="invalid or used Socket Mode URL")
            return
        await websocket.accept()
        self.sockets.append(websocket)
        hello = {
            "type": "hello",
            "num_connections": len(self.sockets),
            "debug_info": {"host": "simulator", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app.app_id},
        }
        try:
            await websocket.send_text(json.dumps(hello))
            while True:
                self._acked(await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self.sockets.remove(websocket)

    def _acked(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        envelope = self.envelopes.get(str(message.get("envelope_id"))) if isinstance(message, dict) else None
        if envelope is None or envelope.ack_ms is not None:
            return
        envelope.ack_ms = (time.monotonic() - envelope.sent_at) * 1000
        envelope.late = envelope.ack_ms > ACK_DEADLINE_S * 1000
        envelope.ack_payload = message.get("payload")
        envelope.acked.set()

    async def deliver(self, kind: str, envelope_type: str, payload: dict[str, Any], user: str) -> Envelope:
        """Send one envelope to the newest connection and wait (at most 3 s) for its ack."""
        if not self.sockets:
            raise LookupError("no Socket Mode connection: start the app (runbook slack-bot) first")
        envelope = Envelope(uuid.uuid4().hex, envelope_type, kind, user, time.monotonic())
        self.envelopes[envelope.envelope_id] = envelope
        message = {
            "envelope_id": envelope.envelope_id,
            "type": envelope_type,
            "accepts_response_payload": kind != "block_actions",
            "payload": payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        await self.sockets[-1].send_text(json.dumps(message))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(envelope.acked.wait(), ACK_DEADLINE_S)
        return envelope

    # ---- what a person does ---------------------------------------------------------------------------------------

    @property
    def people(self) -> dict[str, str]:
        return {**getattr(self.state, "users", {}), **self.app.people}

    def _user(self, user: str) -> dict[str, Any]:
        if user not in self.people:
            raise LookupError(f"unknown user {user!r}; the workspace has {sorted(self.people)}")
        name = self.people[user]
        return {"id": user, "username": name, "name": name, "team_id": self.state.team_id}

    def _trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:24]}"
        self.triggers[trigger] = (user, time.monotonic())
        return trigger

    def _response_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/_simulator/slack/response/{uuid.uuid4().hex}"

    def historic_actions(self, channel_id: str, ts: str) -> dict[str, dict[str, Any]]:
        """Every button the message ever showed (from the request log): a stale client may still press one."""
        known: dict[str, dict[str, Any]] = {}
        for entry in self.log.entries("slack"):
            body = entry.body if isinstance(entry.body, dict) else {}
            raw = body.get("_response")
            outcome: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if not outcome.get("ok") or outcome.get("channel") != channel_id or outcome.get("ts") != ts:
                continue
            known.update(_actions_of(body.get("blocks")))
        return known

    def click_payload(self, body: dict[str, Any], base_url: str) -> dict[str, Any]:
        """A block_actions payload, exactly as Slack sends it, for `user` pressing `action_id` on a message."""
        user = self._user(str(body.get("user", "")))
        resolved = self.state.resolve_channel(str(body.get("channel", "")))
        if resolved is None:
            raise LookupError(f"unknown channel {body.get('channel')!r}")
        channel_id, channel_name = resolved
        ts = str(body.get("message_ts", ""))
        message = self.workspace.messages.get((channel_id, ts))
        if message is None:
            raise LookupError(f"no message {ts} in #{channel_name}")
        current = _actions_of(message.get("blocks"))
        action_id = str(body.get("action_id", ""))
        element = current.get(action_id)
        if element is None and body.get("stale"):
            element = self.historic_actions(channel_id, ts).get(action_id)
        if element is None:
            raise LookupError(f"message {ts} has no button {action_id!r} now (buttons: {sorted(current)})")
        now = f"{time.time():.6f}"
        action = {
            "action_id": action_id,
            "block_id": element["block_id"],
            "text": element.get("text"),
            "value": element.get("value", ""),
            "type": element.get("type", "button"),
            "action_ts": now,
        }
        if element.get("style"):
            action["style"] = element["style"]
        return {
            "type": "block_actions",
            "user": user,
            "api_app_id": self.app.app_id,
            "token": "sim-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": self._trigger(user["id"]),
            "team": {"id": self.state.team_id, "domain": self.state.team},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_name},
            "message": message,
            "state": {"values": {}},
            "response_url": self._response_url(base_url),
            "actions": [action],
        }

    def slash_payload(self, body: dict[str, Any], base_url: str) -> dict[str, Any]:
        """A slash_commands payload (Slack's field names) for `user` typing `command text` in `channel`."""
        user = self._user(str(body.get("user", "")))
        resolved = self.state.resolve_channel(str(body.get("channel", "")))
        if resolved is None:
            raise LookupError(f"unknown channel {body.get('channel')!r}")
        return {
            "token": "sim-verification-token",
            "team_id": self.state.team_id,
            "team_domain": self.state.team,
            "channel_id": resolved[0],
            "channel_name": resolved[1],
            "user_id": user["id"],
            "user_name": user["username"],
            "command": str(body.get("command", "/runbook")),
            "text": str(body.get("text", "")),
            "api_app_id": self.app.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(base_url),
            "trigger_id": self._trigger(user["id"]),
        }

    def submit_payload(self, body: dict[str, Any]) -> dict[str, Any]:
        """A view_submission payload for `user` submitting open modal `view_id` with `values` {block: {action: v}}."""
        user = self._user(str(body.get("user", "")))
        entry = self.views.get(str(body.get("view_id", "")))
        if entry is None or not entry["open"]:
            raise LookupError(f"no open modal {body.get('view_id')!r}")
        view = entry["view"]
        given = body.get("values") or {}
        values: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            element = block.get("element") if block.get("type") == "input" else None
            if not isinstance(element, dict):
                continue
            action_id, block_id = element.get("action_id", ""), block.get("block_id", "")
            raw = (given.get(block_id) or {}).get(action_id)
            kind = element.get("type")
            if kind in ("static_select", "radio_buttons"):
                options = {o.get("value"): o for o in element.get("options", [])}
                values[block_id] = {action_id: {"type": kind, "selected_option": options.get(raw)}}
            else:
                values[block_id] = {action_id: {"type": kind, "value": raw}}
        submitted = {**view, "state": {"values": values}}
        return {
            "type": "view_submission",
            "team": {"id": self.state.team_id, "domain": self.state.team},
            "user": user,
            "api_app_id": self.app.app_id,
            "token": "sim-verification-token",
            "trigger_id": self._trigger(user["id"]),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def submitted(self, view_id: str, envelope: Envelope) -> None:
        """A modal closes when the ack carries no errors; with `response_action: errors` it stays open."""
        entry = self.views[view_id]
        ack = envelope.ack_payload if isinstance(envelope.ack_payload, dict) else {}
        if envelope.ack_ms is not None and ack.get("response_action") == "errors":
            entry["errors"] = ack.get("errors")
        elif envelope.ack_ms is not None:
            entry["open"] = False
        self.events.append(
            {"kind": "modal-submitted", "view_id": view_id, "user": envelope.user, "errors": entry["errors"]}
        )

    def responded(self, body: Any) -> None:
        """A post to a response_url: an ephemeral (default) or in-channel answer to the command or click."""
        body = body if isinstance(body, dict) else {}
        self.events.append(
            {
                "kind": "response",
                "response_type": body.get("response_type", "ephemeral"),
                "text": body.get("text") or "",
                "blocks": body.get("blocks") or [],
                "replace_original": bool(body.get("replace_original")),
            }
        )


def chatops_text(hub: SocketHub) -> str:
    """The ChatOps section of the conversation read-back ("" when nothing happened)."""
    lines = chatops_lines(hub)
    return "\nChatOps (only the user saw these):\n" + "\n".join(lines) + "\n" if lines else ""


def chatops_lines(hub: SocketHub) -> list[str]:
    """Ephemeral messages, modals and command responses as plain text, for the conversation read-back."""
    lines = []
    for event in hub.events:
        if event["kind"] == "ephemeral":
            where = f"#{event['channel']}" + (f" thread {event['thread_ts']}" if event.get("thread_ts") else "")
            lines.append(f"  [ephemeral to {event['user']} in {where}] {_first_line(event)}")
        elif event["kind"] == "modal":
            lines.append(f"  [modal {event['view_id']} opened for {event['user']}] {event['title']}")
        elif event["kind"] == "modal-submitted":
            outcome = f"errors {event['errors']}" if event["errors"] else "closed"
            lines.append(f"  [modal {event['view_id']} submitted by {event['user']}] {outcome}")
        elif event["kind"] == "response":
            lines.append(f"  [response_url, {event['response_type']}] {_first_line(event)}")
    return lines


def _actions_of(blocks: Any) -> dict[str, dict[str, Any]]:
    """action_id -> the element (with its block_id) of every actions block."""
    found: dict[str, dict[str, Any]] = {}
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements", []):
                if isinstance(element, dict) and element.get("action_id"):
                    found[element["action_id"]] = {**element, "block_id": block.get("block_id", "")}
    return found


def _plain(value: Any) -> str:
    return str(value.get("text", "")) if isinstance(value, dict) else str(value or "")


def _first_line(event: dict[str, Any]) -> str:
    text = event.get("text") or ""
    if not text:
        for block in event.get("blocks") or []:
            text = _plain(block.get("text")) if isinstance(block, dict) else ""
            if text:
                break
    return " / ".join(line for line in str(text).splitlines() if line.strip())[:400]


def socket_routes(hub: SocketHub, log: RequestLog) -> list[BaseRoute]:
    """The Socket Mode WebSocket, the response_url endpoint and the test-control endpoints (a person's actions)."""

    def record(request: Request, body: Any, status: int) -> None:
        log.record(
            RecordedRequest(
                api="slack", method=request.method, path=request.url.path, query="", body=body, status=status
            )
        )

    async def control(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "expected a JSON body"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        base_url = str(request.base_url)
        try:
            if action == "click":
                payload = hub.click_payload(body, base_url)
                envelope = await hub.deliver("block_actions", "interactive", payload, payload["user"]["id"])
            elif action == "slash":
                payload = hub.slash_payload(body, base_url)
                envelope = await hub.deliver("slash_commands", "slash_commands", payload, payload["user_id"])
            elif action == "submit":
                payload = hub.submit_payload(body)
                envelope = await hub.deliver("view_submission", "interactive", payload, payload["user"]["id"])
                hub.submitted(payload["view"]["id"], envelope)
            else:
                return JSONResponse({"error": f"unknown action {action!r}: click, slash or submit"}, status_code=404)
        except LookupError as error:
            return JSONResponse({"error": str(error).strip("'\"")}, status_code=409)
        answer = envelope.summary()
        if action == "slash" and isinstance(envelope.ack_payload, dict) and envelope.ack_payload:
            hub.responded(envelope.ack_payload)  # an ack's payload is the command's immediate answer
        record(request, {"action": action, **body, "_response": answer}, 200)
        return JSONResponse(answer)

    async def envelopes(request: Request) -> Response:
        return JSONResponse(
            {
                "connections": len(hub.sockets),
                "envelopes": [e.summary() for e in hub.envelopes.values()],
                "views": {vid: {k: v for k, v in entry.items() if k != "view"} for vid, entry in hub.views.items()},
                "events": hub.events,
            }
        )

    async def response_url(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            record(request, {"raw": raw[:200].decode("utf-8", errors="replace")}, 400)
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        hub.responded(body)
        record(request, body, 200)
        return JSONResponse({"ok": True})

    return [
        WebSocketRoute("/slack/socket/{ticket}", hub.connect),
        Route("/_simulator/slack/response/{response_id}", response_url, methods=["POST"]),
        Route("/_simulator/slack/socket/envelopes", envelopes, methods=["GET"]),
        Route("/_simulator/slack/socket/{action}", control, methods=["POST"]),
    ]
