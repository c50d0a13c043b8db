"""The Netra backend's WebSocket `/ws`: authentication, the golden-path agent events, and their faults.

Wire protocol (reference/netra-staging.md): the token comes in `Authorization: Bearer ...` and/or the subprotocol
`jwt.TOKEN`; a bad token gets `{"type":"error","error_code":"AUTH_FAILED"}` then close 1008. A good one gets
`connection_established`, and each `user_message` (or legacy `chat_message`) starts an agent run that emits
agent_started, agent_thinking, tool_executing, tool_completed, agent_completed (or agent_error).
"""

import asyncio
import base64
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from simulator.netra_state import GOLDEN_PATH_EVENTS, NetraState
from simulator.netra_tokens import TokenIssuer
from simulator.requestlog import RecordedRequest, RequestLog

POLICY_VIOLATION = 1008


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _decode_subprotocol_token(value: str) -> list[str]:
    """A `jwt.X` subprotocol carries the token raw or base64url-encoded; return both candidates."""
    candidates = [value]
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        candidates.append(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii"))
    return candidates


class _Connection:
    """One accepted, authenticated WebSocket connection and its agent runs."""

    def __init__(self, websocket: WebSocket, state: NetraState, user_id: str, log: RequestLog) -> None:
        self.websocket = websocket
        self.state = state
        self.user_id = user_id
        self.log = log
        self.path = websocket.url.path
        self.connection_id = f"ws_conn_{uuid.uuid4().hex[:12]}"
        self._send_lock = asyncio.Lock()
        self._runs: set[asyncio.Task[None]] = set()

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send_text(json.dumps(message))

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def serve(self) -> None:
        """Greet, then read client messages until the client goes away; cancel runs still going."""
        await self.send_json(
            {
                "type": "connection_established",
                "connection_id": self.connection_id,
                "user_id": self.user_id,
                "server_time": _now(),
                "golden_path_events": list(GOLDEN_PATH_EVENTS),
            }
        )
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
                await self._handle(text)
        except WebSocketDisconnect:
            return
        finally:
            for run in self._runs:
                run.cancel()
            await asyncio.gather(*self._runs, return_exceptions=True)

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        valid = isinstance(message, dict)
        body: Any = message if valid else {"raw": text[:200]}
        self.log.record(RecordedRequest(api="netra", method="WS_MESSAGE", path=self.path, body=body))
        if self.state.websocket.silent:
            return
        if not isinstance(message, dict):
            await self._error("INVALID_JSON", "Message must be a JSON object")
            return
        kind = message.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong", "timestamp": _now()})
        elif kind in ("user_message", "chat_message"):
            raw_data = message.get("data")
            data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            content = data.get("message") or data.get("content") or message.get("message") or message.get("content")
            if not isinstance(content, str) or not content.strip():
                await self._error("INVALID_MESSAGE", f"{kind} needs a non-empty data.message")
                return
            thread_id = str(data.get("thread_id") or message.get("thread_id") or uuid.uuid4())
            run = asyncio.create_task(self._agent_run(thread_id))
            self._runs.add(run)
            run.add_done_callback(self._runs.discard)
        else:
            await self._error("UNKNOWN_MESSAGE_TYPE", f"Unknown message type: {kind!r}")

    async def _error(self, code: str, text: str) -> None:
        await self.send_json({"type": "error", "error_code": code, "message": text, "timestamp": _now()})

    def _planned_events(self) -> list[str]:
        behaviour = self.state.websocket
        events: list[str] = [event for event in GOLDEN_PATH_EVENTS if event not in behaviour.omit_events]
        if behaviour.outcome == "error":
            stop = GOLDEN_PATH_EVENTS.index(behaviour.error_after)
            events = [event for event in events if GOLDEN_PATH_EVENTS.index(event) <= stop]
            events = [event for event in events if event != "agent_completed"] + ["agent_error"]
        return events

    def _event_data(self, event: str, thread_id: str, started: float) -> dict[str, Any]:
        behaviour = self.state.websocket
        data: dict[str, Any] = {"thread_id": thread_id}
        if event == "agent_started":
            data |= {"status": "started", "message": "Processing your request"}
        elif event == "agent_thinking":
            data |= {"thought": "Reviewing the request and choosing a tool", "step": 1}
        elif event == "tool_executing":
            data |= {"tool_name": behaviour.tool_name, "parameters": {"scope": "staging"}}
        elif event == "tool_completed":
            data |= {"tool_name": behaviour.tool_name, "result": {"status": "success"}, "duration_ms": 42}
        elif event == "agent_completed":
            data |= {
                "status": "completed",
                "result": behaviour.result_text,
                "execution_time_ms": int((time.monotonic() - started) * 1000),
            }
        elif event == "agent_error":
            data |= {"status": "failed", "error": behaviour.error_message, "error_code": "AGENT_EXECUTION_FAILED"}
        return data

    async def _agent_run(self, thread_id: str) -> None:
        """Emit one agent run's events, spaced by the configured delays."""
        behaviour = self.state.websocket
        run_id = f"run_{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        try:
            for index, event in enumerate(self._planned_events()):
                await asyncio.sleep(
                    behaviour.first_event_delay_seconds if index == 0 else behaviour.event_interval_seconds
                )
                envelope = {
                    "type": event,
                    "run_id": run_id,
                    "user_id": self.user_id,
                    "agent_name": behaviour.agent_name,
                    "timestamp": _now(),
                    "data": self._event_data(event, thread_id, started),
                }
                if event == behaviour.malformed_event:
                    await self.send_text(json.dumps(envelope)[:40])
                else:
                    await self.send_json(envelope)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away mid-run; nothing left to tell it


def _token_and_subprotocol(websocket: WebSocket) -> tuple[list[str], str | None]:
    """Candidate tokens (header first) and the `jwt.*` subprotocol to select, if the client offered one."""
    candidates: list[str] = []
    authorization = websocket.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        candidates.append(authorization[7:].strip())
    selected = None
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith("jwt."):
            selected = offered
            candidates.extend(_decode_subprotocol_token(offered[4:]))
            break
    return candidates, selected


def websocket_endpoint(state: NetraState, tokens: TokenIssuer, log: RequestLog) -> Any:
    """Return the ASGI endpoint for `/services/{service}/ws` (only the backend service has one)."""

    async def endpoint(websocket: WebSocket) -> None:
        path = websocket.url.path
        if websocket.path_params.get("service") != state.backend_service:
            log.record(RecordedRequest(api="netra", method="WEBSOCKET", path=path, status=404))
            await websocket.close(code=POLICY_VIOLATION)  # before accept: the client sees HTTP 403
            return
        candidates, subprotocol = _token_and_subprotocol(websocket)
        await websocket.accept(subprotocol=subprotocol)
        claims = next((c for c in map(tokens.verify, candidates) if c is not None), None)
        if claims is None or state.websocket.auth_rejected:
            reason = "No token provided" if not candidates else "Invalid or expired token"
            if state.websocket.auth_rejected and claims is not None:
                reason = "Token rejected by the auth service"
            log.record(RecordedRequest(api="netra", method="WEBSOCKET", path=path, status=POLICY_VIOLATION))
            await websocket.send_text(
                json.dumps(
                    {"type": "error", "error_code": "AUTH_FAILED", "message": f"Authentication failed: {reason}"}
                )
            )
            await websocket.close(code=POLICY_VIOLATION, reason="Authentication failed")
            return
        log.record(RecordedRequest(api="netra", method="WEBSOCKET", path=path, status=101))
        await _Connection(websocket, state, str(claims["sub"]), log).serve()

    return endpoint
