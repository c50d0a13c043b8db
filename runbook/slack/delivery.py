"""Slack delivery: every Slack call of a run goes through `SlackDelivery.deliver` (Netflix dispatch style).

One choke point for the token or webhook, the per-channel pacing (one message per second), the retry policy (429
Retry-After with a cap, 5xx and connection errors a few times), a hard timeout per call and a budget for the whole
run, permanent errors that stop further tries, scrubbing of secret values and the record in `notifications`.
Nothing here raises and nothing here changes a verdict: a Slack failure is logged (never with the token) and
recorded, and the run goes on. What the messages say is the reporter's business (`runbook.slack.reporter`).

The only module that sends a run's messages to Slack; slack-sdk's client is imported lazily (aiohttp costs about a
second).
"""

import asyncio
import importlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from runbook.config.env_values import token_problem
from runbook.config.models import RunbookConfig
from runbook.slack.block_kit import SlackMessage
from runbook.slack.evidence import redact_text

logger = logging.getLogger("runbook.slack.delivery")
# slack-sdk logs request bodies and the webhook URL at DEBUG when its logger's own level allows it: never let it.
_sdk_logger = logging.getLogger("runbook.slack.sdk")
_sdk_logger.setLevel(logging.INFO)

# The credentials are dead (for a webhook, the URL is the credential): nothing more is tried in this run.
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "invalid_token", "no_service"}
)
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_RETRIES: ContextVar[list[int] | None] = ContextVar("slack_retries", default=None)


@dataclass(frozen=True)
class DeliveryLimits:
    """How hard the reporter tries. Defaults suit production; tests shorten the waits."""

    post_interval_s: float = 1.0  # per channel, from one run: Slack's one message per second
    http_timeout_s: int = 5  # one HTTP attempt
    call_timeout_s: float = 20.0  # one call, every retry and wait included (hard, asyncio.timeout)
    run_budget_s: float = 60.0  # all Slack calls of one run together
    max_retry_after_s: float = 10.0  # a longer Retry-After is not waited for: recorded as rate limited
    rate_limit_retries: int = 3
    server_error_retries: int = 2
    connection_retries: int = 2
    backoff_s: float = 0.25  # 5xx and connection errors: 0.25 s, 0.5 s, ... with 10 % jitter
    breaker_failures: int = 3  # this many failed calls in a row: stop calling Slack for this run


@dataclass(frozen=True)
class Delivered:
    channel: str  # channel id
    ts: str


def _count_retry() -> None:
    retries = _RETRIES.get()
    if retries is not None:
        retries[0] += 1


def _retry_handlers(limits: DeliveryLimits) -> list[Any]:
    """429 honouring Retry-After (capped), 5xx and connection errors with short backoff; each retry counted."""
    from slack_sdk.http_retry.async_handler import AsyncRetryHandler
    from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
    from slack_sdk.http_retry.jitter import Jitter

    class SmallJitter(Jitter):
        def recalculate(self, duration: float) -> float:
            return duration * (1 + random.uniform(-0.1, 0.1))

    backoff = BackoffRetryIntervalCalculator(backoff_factor=limits.backoff_s, jitter=SmallJitter())

    def retry_after(response: Any) -> float | None:
        for name, values in (response.headers or {}).items():
            if name.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                try:
                    return max(0.0, float(value))
                except (TypeError, ValueError):
                    return None
        return None

    class RateLimited(AsyncRetryHandler):
        async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if response is None or response.status_code != 429:
                return False
            wait = retry_after(response)
            return wait is None or wait <= limits.max_retry_after_s

        async def prepare_for_next_attempt_async(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            state.next_attempt_requested = True
            wait = retry_after(response)
            await asyncio.sleep((1.0 if wait is None else wait) + random.uniform(0, 0.1))
            state.increment_current_attempt()
            _count_retry()

    class ServerError(AsyncRetryHandler):
        async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            return response is not None and response.status_code in (500, 502, 503, 504)

        async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
            await super().prepare_for_next_attempt_async(**kwargs)
            _count_retry()

    class ConnectionError_(AsyncConnectionErrorRetryHandler):
        async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
            await super().prepare_for_next_attempt_async(**kwargs)
            _count_retry()

    return [
        RateLimited(max_retry_count=limits.rate_limit_retries),
        ServerError(max_retry_count=limits.server_error_retries, interval_calculator=backoff),
        ConnectionError_(max_retry_count=limits.connection_retries, interval_calculator=backoff),
    ]


def _error_code(error: BaseException) -> str:
    """Slack's error code, or what kind of failure it was; never the exception text (it may hold the URL)."""
    from slack_sdk.errors import SlackApiError

    if isinstance(error, SlackApiError):
        data = getattr(error.response, "data", None)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data["error"]
        return f"http_{getattr(error.response, 'status_code', 'error')}"
    if isinstance(error, _WebhookError):
        return error.code
    if isinstance(error, TimeoutError):
        return "timeout"
    return f"connection_error ({type(error).__name__})"


def _env_where(name: str) -> str:
    """`env SLACK_BOT_TOKEN` (not set), or `env SLACK_BOT_TOKEN set but empty`: two mistakes, two fixes."""
    return f"env {name} set but empty" if name in os.environ else f"env {name}"


class SlackDelivery:
    """Sends a run's Slack messages: decides once how (bot token, webhook or off), then every call through `deliver`.

    Example:
        delivery = SlackDelivery(config)
        if await delivery.ready() and delivery.mode == "api":
            posted = await delivery.deliver("chat.postMessage", "#staging-deploys", message, purpose="parent")
    """

    def __init__(self, config: RunbookConfig, limits: DeliveryLimits | None = None) -> None:
        self.config = config
        self.slack = config.slack
        self.limits = limits or DeliveryLimits()
        self._notifications: list[dict[str, Any]] = []
        self._mode: str | None = None  # "api", "webhook" or "off", decided on first use
        self._secret: str | None = None
        self._scrub_values: list[str] = []
        self._client: Any = None
        self._next_post: dict[str, float] = {}  # channel key -> earliest time of the next message
        self._channel_ids: dict[str, str] = {}  # channel name -> id, learnt from answers (updates address ids)
        self._dead_channels: set[str] = set()
        self._token_dead = False
        self._spent_s = 0.0
        self._failures_in_a_row = 0

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Every delivery attempt's outcome (method, channel, purpose, ok, error, attempts), for the report."""
        return [dict(n) for n in self._notifications]

    @property
    def mode(self) -> str | None:
        """How the run's messages go: "api" (bot token, Web API), "webhook" or "off"; None until `ready` decides."""
        return self._mode

    def note(self, purpose: str, error: str, *, method: str = "none", channel: str | None = None) -> None:
        """Record an outcome that made no call (setup, store, history, a reply with no parent to go under)."""
        self._notifications.append(
            {"method": method, "channel": channel, "purpose": purpose, "ok": False, "error": error, "attempts": 0}
        )

    # ---- credentials ----------------------------------------------------------------------------------------------

    async def ready(self) -> bool:
        """Decide once: bot token (Web API), else incoming webhook, else off (noted)."""
        if self._mode is None:
            self._mode = await self._resolve_mode()
        return self._mode != "off"

    async def _resolve_mode(self) -> str:
        if not self.slack.enabled:
            self.note("setup", "Slack disabled in the configuration ([slack] enabled = false)")
            return "off"
        unusable = self._unusable_credential()
        if unusable:
            self.note("setup", f"Slack off: {unusable}")
            return "off"
        token = await self._token()
        if token:
            self._secret = token
            self._scrub_values = self._secret_values(token)
            # aiohttp and the client take about a second to import: off the event loop, outside any call's timeout
            await asyncio.to_thread(importlib.import_module, "slack_sdk.web.async_client")
            return "api"
        webhook = os.environ.get(self.slack.webhook_url_env, "") if self.slack.webhook_url_env else ""
        if webhook.strip():
            self._secret = webhook.strip()
            self._scrub_values = self._secret_values(self._secret)
            await asyncio.to_thread(importlib.import_module, "slack_sdk.webhook.async_client")
            return "webhook"
        where = [_env_where(self.slack.token_env)] if self.slack.token_env else []
        where += [f"Secret block {self.slack.token_block}"] if self.slack.token_block else []
        where += [_env_where(self.slack.webhook_url_env)] if self.slack.webhook_url_env else []
        self.note("setup", f"Slack off: no bot token or webhook URL found ({', '.join(where) or 'none configured'})")
        return "off"

    def _unusable_credential(self) -> str | None:
        """A bot token or webhook URL variable that is set but cannot be sent (a line break, a space): said as such,
        never as the connection error the HTTP client would raise for it."""
        for name in (self.slack.token_env, self.slack.webhook_url_env):
            problem = token_problem(os.environ.get(name) or "") if name else None
            if problem:
                return f"environment variable {name} {problem}"
        return None

    async def _token(self) -> str | None:
        """The bot token from its environment variable, else from the Prefect Secret block (only when configured)."""
        if self.slack.token_env and os.environ.get(self.slack.token_env, "").strip():
            return os.environ[self.slack.token_env].strip()
        if not self.slack.token_block:
            return None
        try:
            from prefect.blocks.system import Secret

            async with asyncio.timeout(self.limits.call_timeout_s):
                block: Any = await Secret.aload(self.slack.token_block)
            value = block.get()
            return str(value).strip() or None
        except Exception as error:
            self.note("setup", f"Secret block {self.slack.token_block!r} not loaded: {type(error).__name__}")
            return None

    def _secret_values(self, secret: str) -> list[str]:
        """Values that must never reach a message: the token or webhook URL, and every *_env secret of the config."""
        values = {secret}
        if "/" in secret:
            values.add(secret.rstrip("/").rsplit("/", 1)[-1])  # a webhook URL's secret part
        for name in (self.config.database.password_env, self.config.golden_path.password_env):
            if name and len(os.environ.get(name, "")) >= 6:
                values.add(os.environ[name])
        return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):  # known values, then secret shapes (runbook.slack.evidence)
            return redact_text(value, tuple(self._scrub_values))
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    # ---- the one choke point --------------------------------------------------------------------------------------

    async def deliver(
        self,
        method: str,
        channel: str,
        message: SlackMessage,
        *,
        purpose: str,
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> Delivered | None:
        """Every Slack call: paced, retried, bounded, recorded. Returns the message's channel id and ts, or None."""
        entry: dict[str, Any] = {"method": method, "channel": channel, "purpose": purpose, "ok": False, "attempts": 0}
        skip = self.skip_reason(channel)
        if skip:
            self._notifications.append({**entry, "error": skip})
            return None
        try:
            payload = self._scrub(message.payload())
        except Exception as error:  # a block over Slack's limits: send the plain text rather than nothing
            logger.warning("Slack %s for %s: blocks invalid (%s), sending text only", method, purpose, error)
            payload = {"text": self._scrub(message.text)}
        posting = method in ("chat.postMessage", "webhook")
        if posting:
            await self._pace(channel)
        retries = [0]
        token = _RETRIES.set(retries)
        started = time.monotonic()
        delivered: Delivered | None = None
        error_code: str | None = None
        try:
            async with asyncio.timeout(min(self.limits.call_timeout_s, self._budget_left())):
                delivered = await self._send(method, channel, payload, ts, thread_ts)
        except Exception as error:
            error_code = _error_code(error)
        finally:
            _RETRIES.reset(token)
            self._spent_s += time.monotonic() - started
            if posting and delivered is not None:  # a retried message lands late: a full interval after it
                key = self._channel_key(channel)
                self._next_post[key] = max(
                    self._next_post.get(key, 0.0), time.monotonic() + self.limits.post_interval_s
                )
        if delivered is not None and method == "chat.postMessage":
            self._learn_channel(channel, delivered.channel)
        if delivered is None and error_code is None:
            error_code = "no_ts_in_answer"
        entry.update(ok=error_code is None, error=error_code, attempts=retries[0] + 1)
        entry["duration_ms"] = round((time.monotonic() - started) * 1000)
        if delivered is not None:
            entry["ts"] = delivered.ts
        self._notifications.append(entry)
        self._after(entry, channel)
        return delivered

    def skip_reason(self, channel: str) -> str | None:
        """Why a call to `channel` is not even tried (credentials or channel rejected, breaker open, budget spent)."""
        if self._token_dead:
            return "skipped: the Slack credentials were rejected earlier in this run"
        if self._channel_key(channel) in self._dead_channels:
            return "skipped: this channel was rejected earlier in this run"
        if self._failures_in_a_row >= self.limits.breaker_failures:
            return f"skipped: Slack unavailable ({self._failures_in_a_row} calls in a row failed)"
        if self._budget_left() <= 0:
            return f"skipped: the run's Slack time budget ({self.limits.run_budget_s:.0f} s) is spent"
        return None

    def _budget_left(self) -> float:
        return self.limits.run_budget_s - self._spent_s

    def _channel_key(self, channel: str) -> str:
        """One key per channel whether addressed as '#name', 'name' or its id."""
        name = channel.removeprefix("#")
        return self._channel_ids.get(name, name)

    def _learn_channel(self, channel: str, channel_id: str) -> None:
        name = channel.removeprefix("#")
        if name == channel_id or not channel_id:
            return
        self._channel_ids[name] = channel_id
        if name in self._next_post:
            self._next_post[channel_id] = max(self._next_post.get(channel_id, 0.0), self._next_post.pop(name))

    async def _pace(self, channel: str) -> None:
        """One message per second per channel: reserve the next slot before waiting, so concurrent posts queue."""
        key = self._channel_key(channel)
        now = time.monotonic()
        slot = max(now, self._next_post.get(key, 0.0))
        self._next_post[key] = slot + self.limits.post_interval_s
        if slot > now:
            await asyncio.sleep(slot - now)

    def _after(self, entry: dict[str, Any], channel: str) -> None:
        """Permanent errors stop further tries; transient ones count towards the breaker; both are logged."""
        error = entry["error"]
        if error is None:
            self._failures_in_a_row = 0
            return
        if error in TOKEN_ERRORS:
            self._token_dead = True
        elif error in CHANNEL_ERRORS:
            self._dead_channels.add(self._channel_key(channel))
        else:
            self._failures_in_a_row += 1
        logger.warning(
            "Slack %s to %s (%s) failed after %d attempt(s): %s; the run goes on",
            entry["method"],
            channel,
            entry["purpose"],
            entry["attempts"],
            error,
        )

    async def _send(
        self, method: str, channel: str, payload: dict[str, Any], ts: str | None, thread_ts: str | None
    ) -> Delivered | None:
        if method == "webhook":
            return await self._send_webhook(channel, payload)
        client = self._web_client()
        call: Callable[..., Awaitable[Any]]
        if method == "chat.update":
            call, arguments = client.chat_update, {"channel": channel, "ts": ts, **payload}
        else:
            call, arguments = client.chat_postMessage, {"channel": channel, **payload}
            if thread_ts:
                arguments["thread_ts"] = thread_ts
        response = await call(**arguments)
        answer_channel, answer_ts = response.get("channel"), response.get("ts")
        if isinstance(answer_channel, str) and isinstance(answer_ts, str):
            return Delivered(answer_channel, answer_ts)
        return None

    async def _send_webhook(self, channel: str, payload: dict[str, Any]) -> Delivered | None:
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        assert self._secret is not None
        client = AsyncWebhookClient(
            self._secret,
            timeout=self.limits.http_timeout_s,
            logger=_sdk_logger,
            retry_handlers=_retry_handlers(self.limits),
        )
        response = await client.send_dict(payload)
        if response.status_code != 200:
            raise _WebhookError(response.status_code, response.body)
        return Delivered(channel, "")  # webhooks answer "ok": no ts, nothing to update or thread under

    def _web_client(self) -> Any:
        if self._client is None:
            from slack_sdk.web.async_client import AsyncWebClient

            self._client = AsyncWebClient(
                token=self._secret,
                base_url=self.slack.api_base_url,
                timeout=self.limits.http_timeout_s,
                logger=_sdk_logger,
                retry_handlers=_retry_handlers(self.limits),
            )
        return self._client


class _WebhookError(Exception):
    """A webhook answered something other than 200 "ok" (slack-sdk's WebhookClient does not raise)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"webhook answered HTTP {status}")
        self.code = body.strip() if body and len(body) < 64 and body.strip().isidentifier() else f"http_{status}"
