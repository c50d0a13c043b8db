"""The ASGI middleware every Google REST request passes: request log, latency and fault injection.

Requests that are not Google's (Netra's `/services/...`, Slack's `/slack/...`) pass through untouched.
"""

import asyncio
import json
import threading
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.google.faults import FaultInjector, classify
from simulator.google.rest import error_body
from simulator.requestlog import RecordedRequest, RequestLog

MALFORMED_BODY = b'{"name": "projects/netra-staging/locations/us-central1/connectors/staging-conn'
POLL_SECONDS = 0.05
CLIENT_CLOSED = 499  # logged status of a request whose client disconnected before the answer


class GoogleFrontDoor:
    """Wraps the whole app; applies to paths that `classify()` recognises as a Google API."""

    def __init__(
        self, app: ASGIApp, injector: FaultInjector, log: RequestLog, stopping: threading.Event, max_hang_s: float
    ) -> None:
        self.app = app
        self._injector = injector
        self._log = log
        self._stopping = stopping
        self._max_hang_s = max_hang_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = classify(scope.get("path", "")) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        body = await _read_body(receive)
        status = {"code": 0}
        recorded = False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                entry = RecordedRequest(api, method, path, query, _jsonish(body), status["code"])
                self._log.record(entry)

        async def send_and_capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                record()  # before the answer leaves, so a client that got it also finds it in the log
            await send(message)

        try:
            decision = self._injector.decide(api, method, path)
            if decision.latency_s and await self._wait(decision.latency_s, receive):
                status["code"] = CLIENT_CLOSED  # the client went away during the delay
                return
            fault = decision.fault
            if fault is not None and fault.hang:
                if await self._wait(self._max_hang_s, receive):
                    status["code"] = CLIENT_CLOSED
                else:
                    await _send_json(send_and_capture, 503, error_body(503, "The simulator is shutting down."))
            elif fault is not None and fault.status:
                headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
                await _send_json(send_and_capture, fault.status, error_body(fault.status, fault.message), headers)
            elif fault is not None and fault.malformed:
                await _send_raw(send_and_capture, 200, MALFORMED_BODY)
            else:
                await self.app(scope, _replay(body, receive), send_and_capture)
        finally:
            record()

    async def _wait(self, seconds: float, receive: Receive) -> bool:
        """Wait up to `seconds`, ending early when the server stops. True when the client disconnected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        pending: asyncio.Future[Message] = asyncio.ensure_future(receive())
        try:
            while not self._stopping.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                done, _ = await asyncio.wait({pending}, timeout=min(POLL_SECONDS, remaining))
                if done:
                    if pending.result()["type"] == "http.disconnect":
                        return True
                    pending = asyncio.ensure_future(receive())
            return False
        finally:
            pending.cancel()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_raw(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw_headers = [(b"content-type", b"application/json; charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    await _send_raw(send, status, json.dumps(payload).encode(), headers)


def _jsonish(body: bytes) -> Any:
    """Request bodies are small JSON documents (never secret payloads: the simulator serves no write of those)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace")
