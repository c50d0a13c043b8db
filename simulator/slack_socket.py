"""Slack's Socket Mode and the interactive Web API methods, simulated: what a ChatOps app needs, on loopback.

Real Slack, as the app sees it (https://api.slack.com/apis/socket-mode):
  - `apps.connections.open` with the app-level token (xapp-...) answers a WebSocket URL, here a loopback
    `ws://127.0.0.1:PORT/slack/socket/<ticket>` valid for one connection;
  - the socket says `hello`, then delivers envelopes `{"envelope_id", "type", "payload", "accepts_response_payload",
    "retry_attempt", "retry_reason"}` of type `interactive` (block_actions, view_submission) and `slash_commands`;
  - the app acks each with `{"envelope_id": ..., "payload"?: ...}` within 3 s. Late and missing acks are recorded.
  - `chat.postEphemeral`, `views.open`, `usergroups.users.list` and the `response_url` of an action or command.

The people who click, type and submit are played by `simulator.slack_people`. `GET /_simulator/slack/socket/envelopes`
lists every envelope with its ack; `chatops_lines` renders the ephemeral messages, modals and command responses for
the conversation read-back.
"""

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from simulator.requestlog import RecordedRequest, RequestLog
from simulator.slack_state import SlackState, SocketModeState

ACK_DEADLINE_S = 3.0  # Slack's: an envelope not acked within 3 s is retried, and the user sees an error
TRIGGER_TTL_S = 3.0  # a trigger_id opens a modal only within 3 s of the interaction, once
TICKET_TTL_S = 30.0  # a Socket Mode URL is good for one connection, shortly after it was issued
CHATOPS_METHODS = frozenset(
    {"apps.connections.open", "chat.postEphemeral", "views.open", "usergroups.users.list", "chat.getPermalink"}
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

    def __init__(self, state: SlackState, workspace: Any, log: RequestLog) -> None:
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
        if group not in self.app.usergroup_members and group not in self.state.usergroups:
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

    # ---- what became of a person's actions ------------------------------------------------------------------------

    @property
    def people(self) -> dict[str, str]:
        return {**self.state.users, **self.app.people}

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


def record_request(log: RequestLog, request: Request, body: Any, status: int) -> None:
    """Record a simulator endpoint's request as api="slack" (the conversation read-back and the tests read it)."""
    log.record(
        RecordedRequest(api="slack", method=request.method, path=request.url.path, query="", body=body, status=status)
    )


def socket_routes(hub: SocketHub, log: RequestLog) -> list[BaseRoute]:
    """The Socket Mode WebSocket, the response_url endpoint and the list of envelopes."""

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
            record_request(log, request, {"raw": raw[:200].decode("utf-8", errors="replace")}, 400)
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        hub.responded(body)
        record_request(log, request, body, 200)
        return JSONResponse({"ok": True})

    return [
        WebSocketRoute("/slack/socket/{ticket}", hub.connect),
        Route("/_simulator/slack/response/{response_id}", response_url, methods=["POST"]),
        Route("/_simulator/slack/socket/envelopes", envelopes, methods=["GET"]),
    ]
