"""The people of the simulated Slack workspace: what they press, type and submit, as the test-control endpoints play it.

Not Slack APIs: POST `/_simulator/slack/socket/click` presses a button of a posted message, `/slash` types a slash
command, `/submit` submits an open modal, each as a given user. Each builds the payload exactly as Slack sends it,
delivers it over the app's Socket Mode connection (`simulator.slack_socket`) and answers once the app acked (or
after the 3 s deadline) with the envelope id, whether and how fast it was acked.
"""

import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.requestlog import RequestLog
from simulator.slack_socket import SocketHub, record_request


class People:
    """The workspace's people as seen by Slack: who they are, and the payload of each thing they do."""

    def __init__(self, hub: SocketHub) -> None:
        self.hub = hub
        self.state = hub.state
        self.app = hub.app

    def _user(self, user: str) -> dict[str, Any]:
        if user not in self.hub.people:
            raise LookupError(f"unknown user {user!r}; the workspace has {sorted(self.hub.people)}")
        name = self.hub.people[user]
        return {"id": user, "username": name, "name": name, "team_id": self.state.team_id}

    def _trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:24]}"
        self.hub.triggers[trigger] = (user, time.monotonic())
        return trigger

    def _response_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/_simulator/slack/response/{uuid.uuid4().hex}"

    def historic_actions(self, channel_id: str, ts: str) -> dict[str, dict[str, Any]]:
        """Every button the message ever showed (from the request log): a stale client may still press one."""
        known: dict[str, dict[str, Any]] = {}
        for entry in self.hub.log.entries("slack"):
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
        message = self.hub.workspace.messages.get((channel_id, ts))
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
        entry = self.hub.views.get(str(body.get("view_id", "")))
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


def _actions_of(blocks: Any) -> dict[str, dict[str, Any]]:
    """action_id -> the element (with its block_id) of every actions block."""
    found: dict[str, dict[str, Any]] = {}
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements", []):
                if isinstance(element, dict) and element.get("action_id"):
                    found[element["action_id"]] = {**element, "block_id": block.get("block_id", "")}
    return found


def people_routes(hub: SocketHub, log: RequestLog) -> list[BaseRoute]:
    """The test-control endpoints: a person clicks, types a slash command or submits a modal."""
    people = People(hub)

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
                payload = people.click_payload(body, base_url)
                envelope = await hub.deliver("block_actions", "interactive", payload, payload["user"]["id"])
            elif action == "slash":
                payload = people.slash_payload(body, base_url)
                envelope = await hub.deliver("slash_commands", "slash_commands", payload, payload["user_id"])
            elif action == "submit":
                payload = people.submit_payload(body)
                envelope = await hub.deliver("view_submission", "interactive", payload, payload["user"]["id"])
                hub.submitted(payload["view"]["id"], envelope)
            else:
                return JSONResponse({"error": f"unknown action {action!r}: click, slash or submit"}, status_code=404)
        except LookupError as error:
            return JSONResponse({"error": str(error).strip("'\"")}, status_code=409)
        answer = envelope.summary()
        if action == "slash" and isinstance(envelope.ack_payload, dict) and envelope.ack_payload:
            hub.responded(envelope.ack_payload)  # an ack's payload is the command's immediate answer
        record_request(log, request, {"action": action, **body, "_response": answer}, 200)
        return JSONResponse(answer)

    return [Route("/_simulator/slack/socket/{action}", control, methods=["POST"])]
