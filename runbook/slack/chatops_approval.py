"""What an approver's click does once the bot knows they may decide: check the run in Prefect, resume it, and say so.

The approval message shows "Resuming…" at once; then Prefect is asked, within `PrefectGateway.answer_within_s`:

1. the run must exist, validate this environment (its own `environment` parameter, not the button's word), and have
   recorded this very message (channel, ts) as its approval message; with `require_second_person`, whoever started
   the run from Slack cannot approve it. A click that fails a check is refused and changes nothing;
2. the bot records its decision with the run (`runbook.approval.SLACK_DECISION_PREFIX`), then resumes the run with
   the Prefect UI form's input: the run credits Slack only for an answer the bot recorded;
3. the message shows the decision, or why nothing changed (already decided, expired, the run is over).

When Prefect does not answer in time, the clicker and the message are told that the state is unknown, with the
run's link, and the request goes on in the background: when it ends, the message says how (resumed, or not and why,
with the buttons back). An unreachable Prefect, or a run that does not exist, gets an answer at once.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook.slack.approval import (
    Decision,
    already_decided,
    resuming_text,
)
from runbook.slack.prefect_gateway import PAUSE_KEY

logger = logging.getLogger("runbook.slack.chatops")

FOLLOW_UP_S = 600.0  # how long a request Prefect did not answer in time is still waited for


@dataclass(frozen=True)
class Click:
    """An approver's decision from Slack: a button (Approve) or the note modal's submission."""

    user: str
    value: Any  # runbook.slack.approval.ButtonValue: which run and environment the button claims
    approve: bool
    note: str
    channel: str
    ts: str  # the approval message
    thread_ts: str  # the thread's parent: where private answers go


@dataclass(frozen=True)
class Answer:
    """What came of asking Prefect: resumed, or what the clicker is told and what the message shows."""

    resumed: bool
    told: str = ""  # the ephemeral answer
    status: str = ""  # the message's status line ("" : none)
    buttons: bool = False  # the buttons back (nothing changed and the run still waits)


class ApprovalDesk:
    """The approval clicks of one bot: at most one request per run on its way to Prefect at a time."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot  # runbook.slack.chatops.ChatOpsBot: Slack calls, environments, the gateway, background work
        self._pending: dict[str, str] = {}  # run id -> who is waiting for Prefect

    @property
    def prefect(self) -> Any:
        return self.bot.prefect

    def run_link(self, flow_run_id: str, words: str = "the run in Prefect") -> str:
        url = self.prefect.run_url(flow_run_id)
        return f"<{url}|{words}>" if url else f"run `{flow_run_id}` in Prefect"

    async def decide(self, click: Click) -> None:
        """Resume the run with the click's decision, or say clearly why nothing changed (never silence)."""
        run_id = click.value.flow_run_id
        if (other := self._pending.get(run_id)) is not None:
            await self.bot.ephemeral(
                click.channel,
                click.user,
                f"⏳ A decision by <@{other}> is on its way to Prefect; this message shows the outcome when Prefect "
                "answers.",
                click.thread_ts,
            )
            return
        self._pending[run_id] = click.user
        await self.bot.show_status(click.channel, click.ts, resuming_text(click.user, click.approve), buttons=False)
        work = asyncio.ensure_future(self.ask_prefect(click))
        done, _ = await asyncio.wait({work}, timeout=self.prefect.answer_within_s)
        if done:
            try:
                await self.settle(click, work.result())
            finally:
                self._pending.pop(run_id, None)
            return
        unknown = (
            f"⚠️ Prefect did not answer within {self.prefect.answer_within_s:.0f} s; the state is unknown: the run "
            f"may or may not resume. See {self.run_link(run_id)}; this message changes when Prefect answers."
        )
        await self.bot.show_status(click.channel, click.ts, unknown, buttons=False)
        await self.bot.ephemeral(click.channel, click.user, unknown, click.thread_ts)
        self.bot.spawn(self.follow_up(click, work))

    async def follow_up(self, click: Click, work: "asyncio.Future[Answer]") -> None:
        """Wait on for the request Prefect did not answer in time, and show how it ended."""
        try:
            done, _ = await asyncio.wait({work}, timeout=FOLLOW_UP_S)
            if done:
                answer = work.result()
                if answer.resumed:
                    answer = Answer(True, told="Prefect answered late: the run resumed with your decision.")
                await self.settle(click, answer)
                return
            work.cancel()
            never = (
                f"⚠️ Prefect never answered ({FOLLOW_UP_S / 60:.0f} min): whether the run resumed is unknown. "
                f"Check {self.run_link(click.value.flow_run_id)}, or press a button again."
            )
            await self.settle(click, Answer(False, never, never, buttons=True))
        finally:
            self._pending.pop(click.value.flow_run_id, None)

    async def settle(self, click: Click, answer: Answer) -> None:
        if answer.resumed:
            decision = Decision(click.approve, f"<@{click.user}>", datetime.now(UTC), click.note, "slack")
            await self.bot.show_decision(click.channel, click.ts, click.value, decision)
        else:
            await self.bot.show_status(click.channel, click.ts, answer.status, buttons=answer.buttons)
        if answer.told:
            await self.bot.ephemeral(click.channel, click.user, answer.told, click.thread_ts)

    async def ask_prefect(self, click: Click) -> Answer:
        """Check the run, record the decision, resume; every failure becomes an answer to the clicker."""
        import httpx
        from prefect.exceptions import ObjectNotFound

        run_id = click.value.flow_run_id
        try:
            return await self._resume(click)
        except ObjectNotFound:
            told = f"🚫 Run `{run_id}` does not exist in Prefect (deleted, or on another server): nothing to approve."
            return Answer(False, told, told)
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as error:
            told = (
                f"⚠️ Prefect is unreachable ({type(error).__name__}): nothing changed and the run still waits. "
                "Try again when Prefect is back."
            )
            return Answer(False, told, told, buttons=True)
        except (TimeoutError, httpx.TimeoutException, httpx.TransportError) as error:
            told = (
                f"⚠️ Prefect did not answer ({type(error).__name__}); the state is unknown. "
                f"See {self.run_link(run_id)}, or press a button again."
            )
            return Answer(False, told, told, buttons=True)
        except Exception as error:  # an error answer from Prefect: said, not swallowed
            logger.warning("approval of run %s failed: %s: %s", run_id, type(error).__name__, error)
            told = f"⚠️ Prefect answered with an error ({type(error).__name__}): nothing changed. Try again."
            return Answer(False, told, told, buttons=True)

    async def _resume(self, click: Click) -> Answer:
        run_id = click.value.flow_run_id
        run, recorded = await asyncio.gather(self.prefect.flow_run(run_id), self.prefect.approval_message(run_id))
        refusal = self.refusal(click, run, recorded)
        if refusal is not None:
            told, why = refusal
            await self.bot.record_refused(run_id, click.user, "approve" if click.approve else "reject", why)
            return Answer(False, told, "", buttons=True)
        assert recorded is not None
        deadline = datetime.fromtimestamp(float(recorded.get("deadline") or 0), UTC)
        state = run.state
        paused = state is not None and state.is_paused() and state.state_details.pause_key == PAUSE_KEY
        if not paused or datetime.now(UTC) >= deadline:
            told, waiting = await self.why_not_waiting(run_id, state, deadline)
            return Answer(False, told, "" if waiting else told, buttons=waiting)
        run_input = {"approve": click.approve, "note": click.note, "approved_by": f"<@{click.user}>"}
        record = {**run_input, "user": click.user, "channel": click.channel, "ts": click.ts}
        await self.prefect.record_decision(run_id, {**record, "at": datetime.now(UTC).isoformat()})
        accepted, reason = await self.prefect.resume(run_id, run_input)
        if not accepted:  # resumed meanwhile (the UI), or the pause just expired
            logger.info("resume of %s refused: %s", run_id, reason)
            told, waiting = await self.why_not_waiting(run_id, None, deadline)
            return Answer(False, told, "" if waiting else told, buttons=waiting)
        return Answer(True)

    def refusal(self, click: Click, run: Any, recorded: dict[str, Any] | None) -> tuple[str, str] | None:
        """(what the clicker is told, why, for the record) when this click may not decide this run; else None."""
        environment = self.bot.environments[click.value.environment]
        run_id = click.value.flow_run_id
        given = str((run.parameters or {}).get("environment") or "")
        if Path(given).stem != environment.config.name and given != environment.target:
            told = (
                f"🚫 This button names {click.value.environment}, but run `{run_id}` validates "
                f"{given or 'no environment'}: nothing changed."
            )
            return told, "button names another environment"
        if recorded is None:
            told = (
                f"🚫 Run `{run_id}` recorded no approval message in Prefect, so this click cannot be checked: "
                f"decide on {self.run_link(run_id, 'its page in Prefect')} (Resume)."
            )
            return told, "run recorded no approval message"
        if (str(recorded.get("channel")), str(recorded.get("ts"))) != (click.channel, click.ts):
            return f"🚫 This is not the approval message of run `{run_id}`: nothing changed.", "not the run's message"
        trigger = str((run.parameters or {}).get("trigger") or "")
        if click.approve and environment.chatops.require_second_person and trigger == f"slack:<@{click.user}>":
            told = (
                "🚫 You started this run, and this environment requires a second person "
                "([slack.chatops] require_second_person): another approver must approve it. You may still reject it."
            )
            return told, "started the run (require_second_person)"
        return None

    async def why_not_waiting(self, run_id: str, state: Any, deadline: datetime) -> tuple[str, bool]:
        """Why the run takes no decision now, said as it is; and whether it may still wait (try again)."""
        from runbook.approval import classify_answer

        outcome = await self.prefect.outcome(run_id)
        if outcome is None and (answer := await self.prefect.decided(run_id)) is not None:
            outcome = classify_answer(answer, await self.prefect.slack_decisions(run_id)).model_dump()
        if outcome is not None:
            return already_decided(outcome, self.bot.secrets), False
        now = datetime.now(UTC)
        if now >= deadline:
            return f"⌛ This approval expired {ago(deadline)}: nothing changed.", False
        if state is None:
            state = (await self.prefect.flow_run(run_id)).state
        name = state.name if state is not None else "unknown"
        if state is not None and state.is_final():
            return f"The run is over ({name}): nothing to approve.", False
        return f"The run is not waiting for approval right now ({name}); try again in a moment.", True


def ago(moment: datetime) -> str:
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 0:
        return f"in {int(-seconds)} s"
    if seconds < 120:
        return f"{int(seconds)} s ago"
    return f"{int(seconds // 60)} min ago"
