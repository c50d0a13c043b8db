"""Block Kit pieces within Slack's limits: `SlackMessage` (validated blocks plus the plain-text fallback), the
section, context and header blocks every message is made of, and the text helpers (escape, clip, durations).

Pure, no network; the messages are built from these in `parent_message`, `thread_replies`, `stakeholder_messages`
and `webhook_message`.
"""

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
CONTEXT_CHARS = 2000
FALLBACK_CHARS = 3000


@dataclass(frozen=True)
class SlackMessage:
    """Blocks plus the plain-text fallback Slack shows in notifications and to screen readers."""

    text: str
    blocks: tuple[Block, ...]

    def payload(self) -> dict[str, Any]:
        """{"text", "blocks"} as sent; `to_dict` validates every block against Slack's limits (raises if not)."""
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"expected at most {MAX_BLOCKS} blocks, found {len(self.blocks)}")
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}


def escape(text: str) -> str:
    """mrkdwn control characters in content that came from checks (a `<` must not become a link or mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note


def duration_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def section_block(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))


def context_block(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, CONTEXT_CHARS))])


def header_block(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, HEADER_CHARS))


def fit_blocks(blocks: list[Block], overflow: str) -> tuple[Block, ...]:
    """At most MAX_BLOCKS blocks; when cut, the last one says what was left out."""
    if len(blocks) <= MAX_BLOCKS:
        return tuple(blocks)
    return (*blocks[: MAX_BLOCKS - 1], context_block(overflow))
