"""The Slack reporter: one parent message per run, updated in place, details threaded, the owning team told.

Every Slack call goes through `SlackReporter._deliver` (one choke point, Netflix dispatch style): the token or webhook,
the per-channel pacing (one message per second), the retry policy (429 Retry-After with a cap, 5xx and connection
errors a few times), a hard timeout per call and a budget for the whole run, permanent errors that stop further
tries, scrubbing of secret values and the record in `notifications`. Nothing here raises into the flow and nothing
here changes the verdict: a Slack failure is logged (never with the token) and recorded, and the run goes on.

This is the only module that talks to Slack; slack-sdk's client is imported lazily (aiohttp costs about a second).
"""

import asyncio
import importlib
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook.config.models import RunbookConfig, TeamRoute
from runbook.results import PHASE_TEAMS, Phase, PhaseResult, PhaseStatus, RunReport
from runbook.slack.messages import (
    FROM_STATUS,
    PhaseLine,
    PhaseState,
    Progress,
    SlackMessage,
    approval_note,
    glance,
    markdown_to_mrkdwn,
    new_progress,
    parent_message,
    phase_detail,
    stakeholder_message,
    stakeholder_stop_message,
    stakeholder_stop_text,
    stakeholder_summary,
    team_pointer,
    thread_reply,
    webhook_run_message,
)
from runbook.slack.store import Changes, CheckHistory, ParentStore, RunHistory, compare

logger = logging.getLogger("runbook.slack.reporter")
# slack-sdk logs request bodies and the webhook URL at DEBUG when its logger's own level allows it: never let it.
_sdk_logger = logging.getLogger("runbook.slack.sdk")
_sdk_logger.setLevel(logging.INFO)

# The credentials are dead (for a webhook, the URL is the credential): nothing more is tried in this run.
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "invalid_token", "no_service"}
)
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
# Secret values recognisable by their shape: Slack tokens and webhook URLs, JWTs (access tokens), and the password
# of a URL with credentials (postgresql://user:PASSWORD@host): the known values themselves are replaced too.
_SECRET_PATTERNS = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+|https://hooks\.slack\.com/\S+|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@")
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


class SlackReporter:
    """Posts and updates the run's Slack messages. Every method is async, never raises and never changes a verdict.

    Example:
        reporter = SlackReporter(config, trigger="manual", run_id=str(flow_run.id), run_url=ui_url)
        await reporter.run_started([Phase.infrastructure, Phase.restoration, Phase.business])
        ...
        await reporter.run_finished(report)
        report = report.model_copy(update={"notifications": tuple(reporter.notifications)})
    """

    def __init__(
        self,
        config: RunbookConfig,
        *,
        trigger: str,
        run_id: str,
        run_url: str | None,
        store: ParentStore | None = None,
        history: RunHistory | None = None,
        limits: DeliveryLimits | None = None,
    ) -> None:
        self.config = config
        self.slack = config.slack
        self.trigger = trigger
        self.run_id = run_id
        self.run_url = run_url
        self.store = store if store is not None else ParentStore()
        self.history = history if history is not None else RunHistory()
        self.limits = limits or DeliveryLimits()
        self._notifications: list[dict[str, Any]] = []
        self._mode: str | None = None  # "api", "webhook" or "off", decided on first use
        self._secret: str | None = None
        self._scrub_values: list[str] = []
        self._client: Any = None
        self._progress: Progress | None = None
        self._parent: Delivered | None = None
        self._previous: dict[str, CheckHistory] | None = None
        self._previous_loaded = False
        self._replied: set[Phase] = set()
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

    # ---- the flow's events ----------------------------------------------------------------------------------------

    async def run_started(self, phases: list[Phase]) -> None:
        """Post the parent message (every phase queued), or, for a retried flow, take over the one already posted."""
        await self._guard("run_started", self._run_started(phases))

    async def phase_started(self, phase: Phase) -> None:
        await self._guard("phase_started", self._set_phase(phase, PhaseLine(PhaseState.running)))

    async def phase_finished(self, result: PhaseResult) -> None:
        """Update the parent; on failures or warnings, a thread reply, the team mentioned, a pointer in its channel."""
        await self._guard("phase_finished", self._phase_finished(result))

    async def run_finished(self, report: RunReport) -> None:
        """Final parent update (verdict, duration), the stakeholder summary, and the run recorded in the history."""
        await self._guard("run_finished", self._run_finished(report))

    async def approval_decided(self, words: str, approved: bool) -> None:
        """A thread reply with the redeploy decision (who, how, the note), approved or not."""
        await self._guard("approval_decided", self._approval_decided(words, approved))

    async def run_crashed(self, message: str, cancelled: bool = False) -> None:
        """Say on the parent message that the run crashed or was cancelled (works from a fresh process too)."""
        await self._guard("run_crashed", self._run_crashed(message, cancelled))

    # ---- what each event does -------------------------------------------------------------------------------------

    async def _run_started(self, phases: list[Phase]) -> None:
        if not await self._ready():
            return
        record = self._load_parent()
        self._progress = new_progress(self.config.name, self.trigger, phases, self.run_url, datetime.now(UTC))
        if record is not None:  # a retried flow: same message, its original start time, what it already posted
            earlier = Progress.from_dict(record.progress)
            self._progress.started_at = earlier.started_at or self._progress.started_at
            self._progress.stakeholder_posted = earlier.stakeholder_posted
        self._load_previous()
        if self._mode == "api":
            await self._show_parent("parent")

    async def _approval_decided(self, words: str, approved: bool) -> None:
        if not await self._ready() or self._mode != "api" or self._parent is None:
            return  # webhook mode: the run's one message carries the redeploy's result and its approval
        message = approval_note(words, approved)
        await self._deliver(
            "chat.postMessage", self._parent.channel, message, purpose="approval", thread_ts=self._parent.ts
        )

    async def _set_phase(self, phase: Phase, line: PhaseLine) -> None:
        if not await self._ready():
            return
        progress = self._current_progress()
        progress.phases[phase.value] = line
        if self._mode == "api":
            await self._show_parent("parent-update")

    async def _phase_finished(self, result: PhaseResult) -> None:
        if not await self._ready():
            return
        changes = compare(self._load_previous(), list(result.checks))
        line = PhaseLine(FROM_STATUS[result.status], phase_detail(result, changes.recovered))
        progress = self._current_progress()
        progress.phases[result.phase.value] = line
        if self._mode == "webhook":  # a webhook cannot update: the run's one message comes at its end
            return
        self._replied.add(result.phase)
        has_problems = any(c.problem for c in result.checks)
        mention, route = self._route(result)
        await self._show_parent("parent-update")
        if has_problems:
            await self._reply(result, changes, mention)
            if route is not None and route.channel and mention and self._parent is not None:
                await self._pointer(result, route)

    async def _run_finished(self, report: RunReport) -> None:
        if not await self._ready():
            return
        progress = self._current_progress()
        for result in report.phases:
            changes = compare(self._load_previous(), list(result.checks))
            progress.phases[result.phase.value] = PhaseLine(
                FROM_STATUS[result.status], phase_detail(result, changes.recovered)
            )
        progress.outcome = report.verdict.value
        progress.duration_s = report.duration_s
        handles = self._handles()
        progress.glance = glance(report, handles, "below" if self._mode == "webhook" else "in the thread")
        failed = [p.phase.value for p in report.phases if p.status == PhaseStatus.failed]
        if failed and self.slack.chatops is not None and self._mode == "api":  # a button the Slack bot answers
            progress.rerun_phase = failed[0]
        summary = stakeholder_summary(report)
        quiet_pass = self.slack.quiet and report.verdict.value != "failed"
        if self._mode == "webhook":
            words = markdown_to_mrkdwn(summary) if summary else None
            if words is None:  # stopped before phase 3: stakeholders still hear it (the run failed)
                words = stakeholder_stop_text(report, handles, self.slack.next_update)
            problems = []
            for result in report.phases:
                if any(c.problem for c in result.checks):
                    problems.append(
                        (result, compare(self._load_previous(), list(result.checks)), self._route(result)[0])
                    )
            message = webhook_run_message(progress, None if quiet_pass else words, problems)
            await self._webhook(message, "run-end")
        else:
            await self._show_parent("parent-final")
            for result in report.phases:  # problems the flow did not report phase by phase
                if result.phase not in self._replied and any(c.problem for c in result.checks):
                    self._replied.add(result.phase)
                    changes = compare(self._load_previous(), list(result.checks))
                    await self._reply(result, changes, self._route(result)[0])
            told: SlackMessage | None = None
            if summary:
                told = stakeholder_message(report.environment, summary, report.verdict.value, self.run_url)
            else:  # a failed run that never reached the stakeholder summary of phase 3
                told = stakeholder_stop_message(report, handles, self.slack.next_update, self.run_url)
            if told and self.slack.stakeholder_channel and not quiet_pass and not progress.stakeholder_posted:
                channel = self.slack.stakeholder_channel
                if await self._deliver("chat.postMessage", channel, told, purpose="stakeholder") is not None:
                    progress.stakeholder_posted = True  # a retried flow does not tell stakeholders twice
                    self._save()
        try:
            self.history.record(report, self.run_id)
        except OSError as error:
            self._note("history", f"run history not recorded: {type(error).__name__}")

    async def _run_crashed(self, message: str, cancelled: bool) -> None:
        if not await self._ready():
            return
        progress = self._current_progress()
        for line in progress.phases.values():
            if line.state == PhaseState.running:
                line.state = PhaseState.interrupted
        progress.outcome = "cancelled" if cancelled else "crashed"
        progress.outcome_detail = message
        if self._mode == "webhook":
            await self._webhook(webhook_run_message(progress, None), "run-crashed")
        else:
            await self._show_parent("parent-crashed")

    # ---- helpers --------------------------------------------------------------------------------------------------

    async def _guard(self, event: str, work: Awaitable[None]) -> None:
        """The reporter's promise: whatever happens here, the flow goes on."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug here must not fail the run
            logger.warning("Slack reporter: %s failed unexpectedly: %s", event, type(error).__name__)
            self._note(event, f"reporter error: {type(error).__name__}")

    def _current_progress(self) -> Progress:
        """The progress shown so far; for an event without run_started (a fresh process), the stored one."""
        if self._progress is None:
            record = self._load_parent()
            self._progress = (
                Progress.from_dict(record.progress)
                if record is not None
                else new_progress(self.config.name, self.trigger, list(Phase), self.run_url, datetime.now(UTC))
            )
        return self._progress

    def _load_parent(self) -> Any:
        try:
            record = self.store.get(self.run_id)
        except OSError:
            return None
        if record is not None and self._parent is None:
            self._parent = Delivered(record.channel, record.ts)
        return record

    def _load_previous(self) -> dict[str, CheckHistory] | None:
        if not self._previous_loaded:
            self._previous_loaded = True
            try:
                self._previous = self.history.previous(self.config.name, self.run_id)
            except OSError:
                self._previous = None
        return self._previous

    def _route(self, result: PhaseResult) -> tuple[str | None, TeamRoute | None]:
        """Who to mention for this phase's problems: nobody for warnings in quiet mode."""
        route: TeamRoute | None = getattr(self.slack, PHASE_TEAMS[result.phase], None)
        if route is None or (self.slack.quiet and result.status != PhaseStatus.failed):
            return None, None
        return route.mention, route

    def _handles(self) -> dict[Phase, str]:
        """Each phase's owning team as people read it (@infra-oncall): said where nobody should be pinged."""
        routes = {phase: getattr(self.slack, team, None) for phase, team in PHASE_TEAMS.items()}
        return {phase: route.handle for phase, route in routes.items() if isinstance(route, TeamRoute)}

    async def _show_parent(self, purpose: str) -> None:
        """Post the parent if there is none yet (or the first post failed), else update it in place."""
        progress = self._current_progress()
        message = parent_message(progress)
        if self._parent is None:
            self._load_parent()
        if self._parent is None:
            delivered = await self._deliver("chat.postMessage", self.slack.channel, message, purpose="parent")
            if delivered is not None:
                self._parent = delivered
        else:
            await self._deliver("chat.update", self._parent.channel, message, purpose=purpose, ts=self._parent.ts)
        self._save()

    def _save(self) -> None:
        """Remember the parent and its progress for a retried flow or a crash hook in another process."""
        if self._parent is None or self._progress is None:
            return
        try:
            self.store.put(self.run_id, self._parent.channel, self._parent.ts, self._progress.to_dict())
        except OSError as error:
            self._note("store", f"parent message not stored: {type(error).__name__}")

    async def _reply(self, result: PhaseResult, changes: Changes, mention: str | None) -> None:
        if self._parent is None:
            reason = self._skip_reason(self.slack.channel) or "skipped: no parent message to reply under"
            entry = {"method": "chat.postMessage", "channel": self.slack.channel, "purpose": "thread-reply"}
            self._notifications.append({**entry, "ok": False, "error": reason, "attempts": 0})
            return
        message = thread_reply(result, changes, mention)
        await self._deliver(
            "chat.postMessage", self._parent.channel, message, purpose="thread-reply", thread_ts=self._parent.ts
        )

    async def _pointer(self, result: PhaseResult, route: TeamRoute) -> None:
        assert self._parent is not None and route.channel is not None
        channel = self.slack.channel.removeprefix("#")
        if route.channel.removeprefix("#") in (channel, self._parent.channel):
            return  # the team reads the runbook channel already
        message = team_pointer(self.config.name, result, route.mention, self._parent.channel, self.run_url)
        await self._deliver("chat.postMessage", route.channel, message, purpose="team-pointer")

    async def _webhook(self, message: SlackMessage, purpose: str) -> None:
        await self._deliver("webhook", self.slack.channel, message, purpose=purpose)

    def _note(self, purpose: str, error: str) -> None:
        self._notifications.append(
            {"method": "none", "channel": None, "purpose": purpose, "ok": False, "error": error, "attempts": 0}
        )

    # ---- credentials ----------------------------------------------------------------------------------------------

    async def _ready(self) -> bool:
        """Decide once: bot token (Web API), else incoming webhook, else off (noted)."""
        if self._mode is None:
            self._mode = await self._resolve_mode()
        return self._mode != "off"

    async def _resolve_mode(self) -> str:
        if not self.slack.enabled:
            self._note("setup", "Slack disabled in the configuration ([slack] enabled = false)")
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
        where = [f"env {self.slack.token_env}"] if self.slack.token_env else []
        where += [f"Secret block {self.slack.token_block}"] if self.slack.token_block else []
        where += [f"env {self.slack.webhook_url_env}"] if self.slack.webhook_url_env else []
        self._note("setup", f"Slack off: no bot token or webhook URL found ({', '.join(where) or 'none configured'})")
        return "off"

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
            self._note("setup", f"Secret block {self.slack.token_block!r} not loaded: {type(error).__name__}")
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
        if isinstance(value, str):
            for secret in self._scrub_values:
                value = value.replace(secret, "[redacted]")
            value = _URL_PASSWORD.sub(r"\1[redacted]@", value)
            return _SECRET_PATTERNS.sub("[redacted]", value)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    # ---- the one choke point --------------------------------------------------------------------------------------

    async def _deliver(
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
        skip = self._skip_reason(channel)
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

    def _skip_reason(self, channel: str) -> str | None:
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
