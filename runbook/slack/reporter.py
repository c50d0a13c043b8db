"""The Slack reporter: one parent message per run, updated in place, details threaded, the owning team told.

The reporter turns the flow's events (run and phase started or finished, a redeploy decided, a crash) into messages
(`parent_message`, `thread_replies`, `stakeholder_messages`, `webhook_message`) and hands each to `SlackDelivery`
(`runbook.slack.delivery`), the one choke point that paces, retries, bounds, scrubs and records every Slack call.
Nothing here raises into the flow and nothing here changes the verdict: a failure is logged and recorded in
`notifications`, and the run goes on.
"""

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from runbook.config.models import RunbookConfig
from runbook.config.slack_models import TeamRoute
from runbook.results import PHASE_TEAMS, Phase, PhaseResult, PhaseStatus, RunReport
from runbook.server_values import ValuesUnavailable
from runbook.slack.block_kit import SlackMessage
from runbook.slack.delivery import Delivered, DeliveryLimits, SlackDelivery
from runbook.slack.missed_message import MissedNightly, missed_nightly_message
from runbook.slack.parent_message import (
    FROM_STATUS,
    PhaseLine,
    PhaseState,
    Progress,
    glance,
    new_progress,
    parent_message,
    phase_detail,
)
from runbook.slack.stakeholder_messages import (
    markdown_to_mrkdwn,
    stakeholder_message,
    stakeholder_stop_message,
    stakeholder_stop_text,
    stakeholder_summary,
)
from runbook.slack.store import Changes, CheckHistory, ParentRecord, ParentStore, RunHistory, compare
from runbook.slack.thread_replies import approval_note, team_pointer, thread_reply
from runbook.slack.webhook_message import webhook_run_message

logger = logging.getLogger("runbook.slack.reporter")


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
        self.delivery = SlackDelivery(config, limits)
        self._progress: Progress | None = None
        self._parent: Delivered | None = None
        self._previous: dict[str, CheckHistory] | None = None
        self._previous_loaded = False
        self._record: ParentRecord | None = None
        self._memory_noted: set[str] = set()
        self._parent_loaded = False
        self._replied: set[Phase] = set()

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Every delivery attempt's outcome (method, channel, purpose, ok, error, attempts), for the report."""
        return self.delivery.notifications

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

    async def approval_requested(self, url: str) -> None:
        """The redeploy's approval request was posted in Slack (`url`, its permalink): the parent links to it."""
        await self._guard("approval_requested", self._approval_requested(url))

    async def run_crashed(self, message: str, cancelled: bool = False) -> None:
        """Say on the parent message that the run crashed or was cancelled (works from a fresh process too)."""
        await self._guard("run_crashed", self._run_crashed(message, cancelled))

    async def nightly_missed(self, missed: MissedNightly) -> None:
        """A nightly run did not finish in time (automation `runbook: nightly missed`): one message in the runbook
        channel, on its own (the run's parent, if it ever runs, is its own message)."""
        await self._guard("nightly_missed", self._nightly_missed(missed))

    async def run_waiting(self, holder: str) -> None:
        """Before run_started: the environment is in use (`holder` says by which run); the parent says it waits."""
        await self._guard("run_waiting", self._run_waiting(holder))

    async def run_refused(self, reason: str, phases: list[Phase]) -> None:
        """The run gave up waiting for its environment: the parent says it did not run, and why (no history)."""
        await self._guard("run_refused", self._run_refused(reason, phases))

    # ---- what each event does -------------------------------------------------------------------------------------

    async def _run_started(self, phases: list[Phase]) -> None:
        if not await self.delivery.ready():
            return
        record = await self._load_parent()
        self._progress = new_progress(self.config.name, self.trigger, phases, self.run_url, datetime.now(UTC))
        if record is not None:  # a retried flow: same message, its original start time, what it already posted
            earlier = Progress.from_dict(record.progress)
            self._progress.started_at = earlier.started_at or self._progress.started_at
            self._progress.stakeholder_posted = earlier.stakeholder_posted
        await self._load_previous()
        if self.delivery.mode == "api":
            await self._show_parent("parent")

    async def _approval_decided(self, words: str, approved: bool) -> None:
        if not await self.delivery.ready() or self.delivery.mode != "api" or self._parent is None:
            return  # webhook mode: the run's one message carries the redeploy's result and its approval
        message = approval_note(words, approved)
        await self.delivery.deliver(
            "chat.postMessage", self._parent.channel, message, purpose="approval", thread_ts=self._parent.ts
        )

    async def _approval_requested(self, url: str) -> None:
        if not await self.delivery.ready() or self.delivery.mode != "api":
            return
        (await self._current_progress()).approval_url = url
        await self._show_parent("parent-update")

    async def _set_phase(self, phase: Phase, line: PhaseLine) -> None:
        if not await self.delivery.ready():
            return
        progress = await self._current_progress()
        progress.phases[phase.value] = line
        if self.delivery.mode == "api":
            await self._show_parent("parent-update")

    async def _phase_finished(self, result: PhaseResult) -> None:
        if not await self.delivery.ready():
            return
        changes = compare(await self._load_previous(), list(result.checks))
        line = PhaseLine(FROM_STATUS[result.status], phase_detail(result, changes.recovered))
        progress = await self._current_progress()
        progress.phases[result.phase.value] = line
        if self.delivery.mode == "webhook":  # a webhook cannot update: the run's one message comes at its end
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
        if not await self.delivery.ready():
            return
        progress = await self._current_progress()
        previous = await self._load_previous()
        for result in report.phases:
            changes = compare(previous, list(result.checks))
            progress.phases[result.phase.value] = PhaseLine(
                FROM_STATUS[result.status], phase_detail(result, changes.recovered)
            )
        progress.outcome = report.verdict.value
        progress.duration_s = report.duration_s
        handles = self._handles()
        progress.glance = glance(report, handles, "below" if self.delivery.mode == "webhook" else "in the thread")
        failed = [p.phase.value for p in report.phases if p.status == PhaseStatus.failed]
        if failed and self.slack.chatops is not None and self.delivery.mode == "api":  # a button the Slack bot answers
            progress.rerun_phase = failed[0]
        summary = stakeholder_summary(report)
        quiet_pass = self.slack.quiet and report.verdict.value != "failed"
        if self.delivery.mode == "webhook":
            words = markdown_to_mrkdwn(summary) if summary else None
            if words is None:  # stopped before phase 3: stakeholders still hear it (the run failed)
                words = stakeholder_stop_text(report, handles, self.slack.next_update)
            problems = []
            for result in report.phases:
                if any(c.problem for c in result.checks):
                    problems.append((result, compare(previous, list(result.checks)), self._route(result)[0]))
            message = webhook_run_message(progress, None if quiet_pass else words, problems)
            await self._webhook(message, "run-end")
        else:
            await self._show_parent("parent-final")
            for result in report.phases:  # problems the flow did not report phase by phase
                if result.phase not in self._replied and any(c.problem for c in result.checks):
                    self._replied.add(result.phase)
                    changes = compare(previous, list(result.checks))
                    await self._reply(result, changes, self._route(result)[0])
            told: SlackMessage | None = None
            if summary:
                told = stakeholder_message(report.environment, summary, report.verdict.value, self.run_url)
            else:  # a failed run that never reached the stakeholder summary of phase 3
                told = stakeholder_stop_message(report, handles, self.slack.next_update, self.run_url)
            if told and self.slack.stakeholder_channel and not quiet_pass and not progress.stakeholder_posted:
                channel = self.slack.stakeholder_channel
                if await self.delivery.deliver("chat.postMessage", channel, told, purpose="stakeholder") is not None:
                    progress.stakeholder_posted = True  # a retried flow does not tell stakeholders twice
                    await self._save()
        try:
            await self.history.record(report, self.run_id)
        except Exception as error:  # the server's memory is best effort: logged and listed, the run goes on
            self._memory_failed("history", "run history not recorded", error)

    async def _run_crashed(self, message: str, cancelled: bool) -> None:
        if not await self.delivery.ready():
            return
        progress = await self._current_progress()
        for line in progress.phases.values():
            if line.state == PhaseState.running:
                line.state = PhaseState.interrupted
        progress.waiting = ""
        progress.outcome = "cancelled" if cancelled else "crashed"
        progress.outcome_detail = message
        if self.delivery.mode == "webhook":
            await self._webhook(webhook_run_message(progress, None), "run-crashed")
            await self._save(webhook=True)  # a crash notice from elsewhere knows this one was told
        else:
            await self._show_parent("parent-crashed")

    async def _nightly_missed(self, missed: MissedNightly) -> None:
        if not await self.delivery.ready():
            return
        method = "webhook" if self.delivery.mode == "webhook" else "chat.postMessage"
        await self.delivery.deliver(
            method, self.slack.channel, missed_nightly_message(missed), purpose="nightly-missed"
        )

    async def _run_waiting(self, holder: str) -> None:
        if not await self.delivery.ready():
            return
        if self._progress is None:
            record = await self._load_parent()  # a retried run that waits again keeps its message
            self._progress = (
                Progress.from_dict(record.progress)
                if record is not None
                else new_progress(self.config.name, self.trigger, [], self.run_url, datetime.now(UTC))
            )
        self._progress.waiting = holder
        if self.delivery.mode == "api":
            await self._show_parent("parent-waiting")

    async def _run_refused(self, reason: str, phases: list[Phase]) -> None:
        if not await self.delivery.ready():
            return
        progress = await self._current_progress()
        progress.waiting = ""
        progress.phases = {p.value: PhaseLine(PhaseState.skipped, "not run") for p in phases}
        progress.outcome = "not_run"
        progress.outcome_detail = reason
        if self.delivery.mode == "webhook":
            await self._webhook(webhook_run_message(progress, None), "run-refused")
        else:
            await self._show_parent("parent-refused")

    # ---- helpers --------------------------------------------------------------------------------------------------

    async def _guard(self, event: str, work: Awaitable[None]) -> None:
        """The reporter's promise: whatever happens here, the flow goes on."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug here must not fail the run
            logger.warning("Slack reporter: %s failed unexpectedly: %s", event, type(error).__name__)
            self.delivery.note(event, f"reporter error: {type(error).__name__}")

    async def _current_progress(self) -> Progress:
        """The progress shown so far; for an event without run_started (a fresh process), the stored one."""
        if self._progress is None:
            record = await self._load_parent()
            self._progress = (
                Progress.from_dict(record.progress)
                if record is not None and record.progress
                else new_progress(self.config.name, self.trigger, list(Phase), self.run_url, datetime.now(UTC))
            )
        return self._progress

    def _memory_failed(self, what: str, words: str, error: Exception) -> None:
        """The server's memory (parent ids, history) could not be reached: logged and listed, never raised."""
        detail = str(error) if isinstance(error, ValuesUnavailable) else type(error).__name__
        logger.warning("Slack reporter: %s: %s", words, detail)
        if words not in self._memory_noted:  # once per kind: a server that is down fails every call alike
            self._memory_noted.add(words)
            self.delivery.note(what, f"{words}: {detail}")

    async def _load_parent(self) -> ParentRecord | None:
        """The stored parent of this run (read once per reporter), or None (none yet, or the server did not answer)."""
        if not self._parent_loaded:
            self._parent_loaded = True
            try:
                self._record = await self.store.get(self.run_id)
            except Exception as error:
                self._memory_failed("store", "parent message not read", error)
                self._record = None
        if self._record is not None and self._parent is None and self._record.ts:
            self._parent = Delivered(self._record.channel, self._record.ts)
        return self._record

    async def _load_previous(self) -> dict[str, CheckHistory] | None:
        if not self._previous_loaded:
            self._previous_loaded = True
            try:
                self._previous = await self.history.previous(self.config.name, self.run_id)
            except Exception as error:
                self._memory_failed("history", "run history not read (every problem shows as new)", error)
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
        progress = await self._current_progress()
        message = parent_message(progress)
        if self._parent is None:
            await self._load_parent()
        if self._parent is None:
            delivered = await self.delivery.deliver("chat.postMessage", self.slack.channel, message, purpose="parent")
            if delivered is not None:
                self._parent = delivered
        else:
            await self.delivery.deliver(
                "chat.update", self._parent.channel, message, purpose=purpose, ts=self._parent.ts
            )
        await self._save()

    async def _save(self, webhook: bool = False) -> None:
        """Remember the parent and its progress on the server, for a retried flow or a crash notice elsewhere.

        `webhook`: a webhook run has no parent to update; its progress is kept so that a crash notice from another
        process knows the crash was told already.
        """
        if self._progress is None or (self._parent is None and not webhook):
            return
        channel, ts = (self._parent.channel, self._parent.ts) if self._parent is not None else ("", "")
        try:
            await self.store.put(self.run_id, channel, ts, self._progress.to_dict())
        except Exception as error:
            self._memory_failed("store", "parent message not stored", error)

    async def _reply(self, result: PhaseResult, changes: Changes, mention: str | None) -> None:
        if self._parent is None:
            reason = self.delivery.skip_reason(self.slack.channel) or "skipped: no parent message to reply under"
            self.delivery.note("thread-reply", reason, method="chat.postMessage", channel=self.slack.channel)
            return
        message = thread_reply(result, changes, mention)
        await self.delivery.deliver(
            "chat.postMessage", self._parent.channel, message, purpose="thread-reply", thread_ts=self._parent.ts
        )

    async def _pointer(self, result: PhaseResult, route: TeamRoute) -> None:
        assert self._parent is not None and route.channel is not None
        channel = self.slack.channel.removeprefix("#")
        if route.channel.removeprefix("#") in (channel, self._parent.channel):
            return  # the team reads the runbook channel already
        message = team_pointer(self.config.name, result, route.mention, self._parent.channel, self.run_url)
        await self.delivery.deliver("chat.postMessage", route.channel, message, purpose="team-pointer")

    async def _webhook(self, message: SlackMessage, purpose: str) -> None:
        await self.delivery.deliver("webhook", self.slack.channel, message, purpose=purpose)
