"""Rebuild, from the request log, the Slack conversation a person would see, and render it as plain text.

Replays the recorded Slack requests in order: successful chat.postMessage calls and webhook posts add messages
(replies under their thread parent), successful chat.update calls replace a message's text and blocks. Failed calls
(rate limited, rejected, Slack down) leave no trace, as in Slack itself.
"""

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


def _message_lines(message: dict[str, Any], indent: str) -> list[str]:
    """Blocks when present (what Slack shows), else the text."""
    body: list[str] = []
    for block in message["blocks"]:
        body.extend(_block_lines(block))
    if not body:
        body = message["text"].splitlines() or [""]
    marks = "  (edited)" if message["edited"] else ""
    marks += "  (via webhook)" if message["source"] == "webhook" else ""
    lines = [f"{indent}[{message['ts']}] {body[0]}{marks}"]
    lines.extend(f"{indent}{' ' * (len(message['ts']) + 3)}{line}" for line in body[1:])
    for reply in message["replies"]:
        lines.extend(_message_lines(reply, indent + "    > "))
    return lines


def render_conversation(source: RequestLog | list[dict[str, Any]]) -> str:
    """Plain-text rendering of `conversation(log)` (or of the log itself), one section per channel."""
    channels = conversation(source) if isinstance(source, RequestLog) else source
    if not channels:
        return "(no Slack messages)"
    sections = []
    for channel in channels:
        lines = [f"{channel['channel']} ({channel['channel_id']})"]
        for message in channel["messages"]:
            lines.extend(_message_lines(message, "  "))
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"
