"""Rebuild, from the request log, the Slack conversation a person would see, and render it as plain text.

Replays the recorded Slack requests in order: successful chat.postMessage calls and webhook posts add messages
(replies under their thread parent), successful chat.update calls replace a message's text and blocks. Failed calls
(rate limited, rejected, Slack down) leave no trace, as in Slack itself. The rendering shows mrkdwn as a person
reads it (`<!subteam^S0SIMINFRA1|@infra-oncall>` as @infra-oncall, links as "label (url)") and says whom each
message pings: a literal "@infra-oncall" pings nobody, and neither does the id of a group the workspace lacks.
"""

import re
from typing import Any

from simulator.requestlog import RecordedRequest, RequestLog


def _new_message(body: dict[str, Any], ts: str, source: str) -> dict[str, Any]:
    text = body.get("text")
    return {
        "ts": ts,
        "text": text if isinstance(text, str) else "",
        "blocks": body.get("blocks") if isinstance(body.get("blocks"), list) else [],
        "source": source,
        "edited": False,
        "replies": [],
    }


def conversation(log: RequestLog | list[RecordedRequest]) -> list[dict[str, Any]]:
    """Channels in order of first message: {"channel": "#name", "channel_id", "messages": [...]}.

    A message is {"ts", "text", "blocks", "source": "api"|"webhook", "edited", "replies": [messages]}, with its
    final text and blocks after every update.
    """
    entries = log.entries("slack") if isinstance(log, RequestLog) else [e for e in log if e.api == "slack"]
    channels: dict[str, dict[str, Any]] = {}
    messages: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        body = entry.body if isinstance(entry.body, dict) else {}
        raw_outcome = body.get("_response")
        outcome: dict[str, Any] = raw_outcome if isinstance(raw_outcome, dict) else {}
        channel_id, ts = outcome.get("channel"), outcome.get("ts")
        if not isinstance(channel_id, str) or not isinstance(ts, str) or entry.status != 200:
            continue
        is_webhook = "/slack/webhook/" in entry.path
        if is_webhook or entry.path.endswith("/chat.postMessage"):
            if not is_webhook and not outcome.get("ok"):
                continue
            message = _new_message(body, ts, "webhook" if is_webhook else "api")
            messages[(channel_id, ts)] = message
            channel = channels.setdefault(
                channel_id,
                {"channel": f"#{outcome.get('channel_name', channel_id)}", "channel_id": channel_id, "messages": []},
            )
            parent = messages.get((channel_id, str(outcome.get("thread_ts"))))
            (parent["replies"] if parent is not None and parent is not message else channel["messages"]).append(message)
        elif entry.path.endswith("/chat.update") and outcome.get("ok"):
            target = messages.get((channel_id, ts))
            if target is not None:
                target["text"] = body.get("text") if isinstance(body.get("text"), str) else ""
                if isinstance(body.get("blocks"), list):
                    target["blocks"] = body["blocks"]
                target["edited"] = True
    return list(channels.values())


_MARKUP = re.compile(r"<([^<>\n]*)>")
_SPECIAL = {"here", "channel", "everyone"}


def readable(text: str, names: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """mrkdwn as Slack shows it, and whom it pings. `names`: id -> "@handle"/"#channel" of the workspace (None:
    unknown workspace, every mention is taken to ping its label)."""
    pings: list[str] = []

    def one(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        mentioned = target.removeprefix("!subteam^") if target.startswith("!subteam^") else None
        if mentioned is None and target.startswith("@"):
            mentioned = target[1:]
        if mentioned is not None:
            shown = (names or {}).get(mentioned) or label or f"@{mentioned}"
            known = names is None or mentioned in names
            pings.append(shown if known else f"nobody ({mentioned} is no user group or member here)")
            return shown
        if target.startswith("#"):
            return (names or {}).get(target[1:]) or (f"#{label}" if label else target)
        if target.startswith("!"):
            special = target[1:].split("^")[0]
            if special in _SPECIAL:
                pings.append(f"@{special}")
                return f"@{special}"
            return label or target
        return f"{label} ({target})" if label else target

    shown = _MARKUP.sub(one, text)
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"), pings


def _text_of(element: Any) -> str:
    if isinstance(element, dict):
        text = element.get("text")
        if isinstance(text, dict):
            return str(text.get("text", ""))
        if isinstance(text, str):
            return text
    return ""


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [f"== {_text_of(block)} =="]
    if kind == "divider":
        return ["----"]
    if kind == "section":
        lines = _text_of(block).splitlines()
        fields = [_text_of({"text": field}) for field in block.get("fields", [])]
        return lines + ([" | ".join(fields)] if fields else [])
    if kind == "context":
        return [" ".join(_text_of({"text": element}) for element in block.get("elements", []))]
    if kind == "actions":
        return ["[" + "] [".join(_text_of(element) for element in block.get("elements", [])) + "]"]
    return [f"[{kind} block]"]


def _message_lines(message: dict[str, Any], indent: str, names: dict[str, str] | None) -> list[str]:
    """Blocks when present (what Slack shows), else the text; then whom the message pings."""
    raw: list[str] = []
    for block in message["blocks"]:
        raw.extend(_block_lines(block))
    if not raw:
        raw = message["text"].splitlines() or [""]
    body: list[str] = []
    pings: list[str] = []
    for line in raw:
        shown, pinged = readable(line, names)
        body.append(shown)
        pings.extend(p for p in pinged if p not in pings)
    if pings:
        body.append(f"(pings {', '.join(pings)})")
    marks = "  (edited)" if message["edited"] else ""
    marks += "  (via webhook)" if message["source"] == "webhook" else ""
    lines = [f"{indent}[{message['ts']}] {body[0]}{marks}"]
    lines.extend(f"{indent}{' ' * (len(message['ts']) + 3)}{line}" for line in body[1:])
    for reply in message["replies"]:
        lines.extend(_message_lines(reply, indent + "    > ", names))
    return lines


def render_conversation(source: RequestLog | list[dict[str, Any]], names: dict[str, str] | None = None) -> str:
    """Plain-text rendering of `conversation(log)` (or of the log itself), one section per channel.

    `names` (SlackState.names()) maps the workspace's ids to @handles and #channels, so mentions read as in Slack
    and a mention of an id the workspace lacks shows as pinging nobody.
    """
    channels = conversation(source) if isinstance(source, RequestLog) else source
    if not channels:
        return "(no Slack messages)"
    sections = []
    for channel in channels:
        lines = [f"{channel['channel']} ({channel['channel_id']})"]
        for message in channel["messages"]:
            lines.extend(_message_lines(message, "  ", names))
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"
