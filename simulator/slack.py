"""The simulated Slack workspace: the Web API at `/slack/api/{method}` and incoming webhooks at `/slack/webhook/...`.

The real slack-sdk talks to it with `WebClient(token=..., base_url=f"{url}/slack/api/")`. It validates what real
Slack validates cheaply (token, channel, text/blocks, message length, update target) and answers with Slack's error
codes, so a reporter bug shows up here as it would in production. The `[slack]` table of a scenario is a
`SlackState` (`simulator.slack_state`); its defaults are a healthy workspace and its faults (rate limiting, outage,
revoked token, latency) compose. Every request is recorded with api="slack"; `conversation(log)` rebuilds what a
person would see.
"""

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.requestlog import RecordedRequest, RequestLog
from simulator.slack_conversation import conversation, render_conversation
from simulator.slack_people import people_routes
from simulator.slack_socket import CHATOPS_METHODS, SocketHub, chatops_text, socket_routes
from simulator.slack_state import SlackState

__all__ = ["conversation", "render_conversation", "slack_routes"]

MAX_TEXT = 40_000
MAX_BLOCKS = 50
FIRST_TS_SECONDS = 1_732_900_000


def _blocks_error(blocks: Any) -> str | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    if not all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks):
        return "invalid_blocks"
    return None


def _content_error(params: dict[str, Any]) -> str | None:
    """Slack's checks on a message's text and blocks, in Slack's order."""
    blocks_error = _blocks_error(params.get("blocks"))
    if blocks_error:
        return blocks_error
    text = params.get("text")
    if not text and not params.get("blocks"):
        return "no_text"
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return "msg_too_long"
    return None


async def _parse_params(request: Request) -> dict[str, Any] | None:
    """Query, JSON or form parameters; JSON-encoded form fields (blocks, attachments) decoded. None if unparseable."""
    params: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw:
        if "json" in request.headers.get("content-type", ""):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return None
            if not isinstance(parsed, dict):
                return None
            params.update(parsed)
        else:
            params.update(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    for key in ("blocks", "attachments", "metadata"):
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                params[key] = params[key]  # left as a string; the checks reject it as invalid
    return params


class _Workspace:
    """The messages posted so far, and the handlers of the Web API methods."""

    def __init__(self, state: SlackState, log: RequestLog) -> None:
        self.state = state
        self.log = log
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._sequence = 0
        self._rate_limited = 0

    def next_ts(self) -> str:
        self._sequence += 1
        seconds, fraction = divmod(self._sequence, 10_000)
        return f"{FIRST_TS_SECONDS + seconds}.{fraction * 100:06d}"

    async def fault(self, api: bool) -> Response | None:
        """The answer a workspace-wide fault imposes on this call, if any."""
        if self.state.latency_ms:
            await asyncio.sleep(self.state.latency_ms / 1000)
        if self.state.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        if self.state.rate_limited_always or self._rate_limited < self.state.rate_limited_calls:
            self._rate_limited += 1
            headers = {"Retry-After": str(self.state.retry_after_seconds)}
            if api:
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers=headers)
            return PlainTextResponse("rate_limited", status_code=429, headers=headers)
        return None

    def _message(self, text: Any, blocks: Any, ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text if isinstance(text, str) else "",
            "user": self.state.bot_user_id,
            "bot_id": self.state.bot_id,
            "team": self.state.team_id,
            "ts": ts,
        }
        if blocks:
            message["blocks"] = blocks
        return message

    def post(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved = self.state.resolve_channel(str(params.get("channel", "")))
        if resolved is None:
            return {"ok": False, "error": "channel_not_found"}
        error = _content_error(params)
        if error:
            return {"ok": False, "error": error}
        channel_id, _ = resolved
        ts = self.next_ts()
        message = self._message(params.get("text"), params.get("blocks"), ts)
        thread_ts = params.get("thread_ts")
        if thread_ts:
            parent = self.messages.get((channel_id, str(thread_ts)))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            message["thread_ts"] = parent.get("thread_ts", parent["ts"])  # a reply to a reply joins the thread
        self.messages[(channel_id, ts)] = message
        return {"ok": True, "channel": channel_id, "ts": ts, "message": message}

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved = self.state.resolve_channel(str(params.get("channel", "")))
        if resolved is None:
            return {"ok": False, "error": "channel_not_found"}
        channel_id, _ = resolved
        ts = str(params.get("ts", ""))
        message = self.messages.get((channel_id, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        error = _content_error(params)
        if error:
            return {"ok": False, "error": error}
        message["text"] = params.get("text") if isinstance(params.get("text"), str) else ""
        if "blocks" in params:
            message["blocks"] = params["blocks"]
        message["edited"] = {"user": self.state.bot_user_id, "ts": self.next_ts()}
        return {"ok": True, "channel": channel_id, "ts": ts, "text": message["text"], "message": message}

    def auth_test(self) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.state.team}.slack.com/",
            "team": self.state.team,
            "user": self.state.bot_user,
            "team_id": self.state.team_id,
            "user_id": self.state.bot_user_id,
            "bot_id": self.state.bot_id,
            "is_enterprise_install": False,
        }

    def conversations_list(self) -> dict[str, Any]:
        channels = [
            {"id": cid, "name": name, "is_channel": True, "is_member": True, "is_archived": False}
            for name, cid in self.state.channels.items()
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


def _token(request: Request, params: dict[str, Any]) -> str:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return str(params.get("token", ""))


def _outcome(answer: dict[str, Any], state: SlackState) -> dict[str, Any]:
    """What the recorded request carries about the answer, enough for `conversation` to replay it."""
    outcome: dict[str, Any] = {"ok": answer.get("ok", False)}
    for key in ("error", "channel", "ts"):
        if key in answer:
            outcome[key] = answer[key]
    if "channel" in answer:
        outcome["channel_name"] = next(n for n, cid in state.channels.items() if cid == answer["channel"])
    if isinstance(answer.get("message"), dict) and "thread_ts" in answer["message"]:
        outcome["thread_ts"] = answer["message"]["thread_ts"]
    return outcome


def slack_routes(state: SlackState, log: RequestLog) -> list[BaseRoute]:
    """Routes of the Slack Web API and incoming webhooks, recording each request as api="slack".

    The recorded body is the parsed request (token removed) plus a `_response` entry summarising the answer
    (ok, error, channel id and name, ts, thread_ts), which is what `conversation(log)` replays.
    """
    workspace = _Workspace(state, log)
    hub = SocketHub(state, workspace, log)

    def record(request: Request, body: Any, status: int) -> None:
        log.record(
            RecordedRequest(
                api="slack",
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                body=body,
                status=status,
            )
        )

    async def api(request: Request) -> Response:
        method = request.path_params["method"]
        params = await _parse_params(request)
        recorded = {k: v for k, v in (params or {}).items() if k != "token"}
        response = await workspace.fault(api=True)
        answer: dict[str, Any]
        if response is not None:
            answer = {"ok": False, "error": "ratelimited" if response.status_code == 429 else "service_unavailable"}
        else:
            answer = _answer(method, request, params)
            response = JSONResponse(answer, status_code=404 if answer.get("error") == "unknown_method" else 200)
        record(request, {**recorded, "_response": _outcome(answer, state)}, response.status_code)
        return response

    def _answer(method: str, request: Request, params: dict[str, Any] | None) -> dict[str, Any]:
        if params is None:
            return {"ok": False, "error": "invalid_json"}
        if method == "api.test":
            return {"ok": True, "args": {k: v for k, v in params.items() if k != "token"}}
        if method in CHATOPS_METHODS:  # app-level vs bot token rules: simulator/slack_socket.py
            return hub.answer(method, _token(request, params), params, str(request.base_url))
        handlers = {
            "auth.test": lambda: workspace.auth_test(),
            "chat.postMessage": lambda: workspace.post(params),
            "chat.update": lambda: workspace.update(params),
            "conversations.list": lambda: workspace.conversations_list(),
        }
        if method not in handlers:
            return {"ok": False, "error": "unknown_method"}
        token = _token(request, params)
        if not token:
            return {"ok": False, "error": "not_authed"}
        if state.invalid_auth or token != state.token:
            return {"ok": False, "error": "invalid_auth"}
        return handlers[method]()

    async def webhook(request: Request) -> Response:
        hook_id = request.path_params["hook_id"]
        raw = await request.body()
        payload: Any = None
        try:
            text = raw.decode("utf-8")
            if not text.lstrip().startswith("{") and "payload=" in text:  # the form-encoded variant
                text = dict(parse_qsl(text)).get("payload", "")
            payload = json.loads(text)
        except ValueError:
            payload = None
        response = await workspace.fault(api=False)
        outcome: dict[str, Any] = {}
        if response is None:
            response, outcome = _webhook_answer(hook_id, payload)
        body = payload if isinstance(payload, dict) else {"raw": raw[:200].decode("utf-8", errors="replace")}
        record(request, {**body, "_response": {"status": response.status_code, **outcome}}, response.status_code)
        return response

    def _webhook_answer(hook_id: str, payload: Any) -> tuple[Response, dict[str, Any]]:
        channel_name = state.webhooks.get(hook_id)
        if channel_name is None or state.resolve_channel(channel_name) is None:
            return PlainTextResponse("no_service", status_code=404), {}
        if state.invalid_auth:
            return PlainTextResponse("invalid_token", status_code=403), {}
        if not isinstance(payload, dict):
            return PlainTextResponse("invalid_payload", status_code=400), {}
        error = _content_error(payload)
        if error:
            return PlainTextResponse(error, status_code=400), {}
        answer = workspace.post({**payload, "channel": channel_name, "thread_ts": None})
        return PlainTextResponse("ok"), {"channel": answer["channel"], "channel_name": channel_name, "ts": answer["ts"]}

    async def read_back(request: Request) -> Response:
        # Not a Slack API: the simulator's own read-back of what was posted (`make demo` prints it).
        if request.query_params.get("format") == "json":
            return JSONResponse(conversation(log))
        return PlainTextResponse(render_conversation(log, state.names()) + chatops_text(hub))

    return [
        Route("/slack/api/{method}", api, methods=["GET", "POST"]),
        Route("/slack/webhook/{hook_id:path}", webhook, methods=["POST"]),
        Route("/_simulator/slack/conversation", read_back, methods=["GET"]),
        *socket_routes(hub, log),
        *people_routes(hub, log),
    ]
