"""The message of a nightly run that did not finish in time (automation `runbook: nightly missed`). Pure.

For the on-call engineer who reads it at 04:00: which environment, when it was due, what the run and its work pool
look like now, the likeliest cause first, and the commands that check and fix it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from runbook.slack.block_kit import (
    FALLBACK_CHARS,
    SlackMessage,
    clip,
    context_block,
    escape,
    header_block,
    section_block,
)

NOT_STARTED = ("Late", "Scheduled", "AwaitingConcurrencySlot")
FINISHED = ("Completed", "Failed", "Crashed", "Cancelled", "Cancelling")


@dataclass(frozen=True)
class MissedNightly:
    """What the notice found on the Prefect server; None where a read did not answer (said as unknown)."""

    environment: str
    run_name: str
    run_id: str
    deployment: str  # staging-handoff/nightly
    within_s: float  # the automation's window; 0 when not given
    state: str  # the run's state now: Late, Pending, Running, or a final one when it finished since
    state_since: datetime | None = None
    scheduled: datetime | None = None
    timezone: str | None = None  # the schedule's, e.g. America/Los_Angeles
    pool: str | None = None
    pool_paused: bool | None = None
    queue: str | None = None
    queue_paused: bool | None = None
    workers_online: int | None = None  # workers polling the pool now
    last_worker_seen: datetime | None = None
    run_url: str | None = None
    unknown: tuple[str, ...] = field(default=())  # what could not be read (said, not guessed)


def _when(moment: datetime | None, zone: str | None) -> str:
    if moment is None:
        return "an unknown time"
    moment = moment.astimezone(UTC)
    utc = moment.strftime("%Y-%m-%d %H:%M UTC")
    if not zone or zone == "UTC":
        return utc
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        return utc
    return f"{local.strftime('%H:%M')} {zone} ({utc})"


def _window(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{minutes} min" if not hours else f"{hours} h" + (f" {minutes} min" if minutes else "")


def causes(missed: MissedNightly) -> list[str]:
    """The likely causes, most likely first, each with the command that checks or fixes it (mrkdwn lines)."""
    pool = escape(missed.pool or "its work pool")
    lines = []
    if missed.state in FINISHED:
        since = f" at {_when(missed.state_since, None)}" if missed.state_since else ""
        lines.append(f"It has finished since: *{escape(missed.state)}*{since}, later than the window allowed.")
    if missed.pool_paused:
        lines.append(f"Work pool `{pool}` is *paused*: none of its runs start. `prefect work-pool resume {pool}`")
    if missed.queue_paused:
        queue = escape(missed.queue or "default")
        lines.append(f"Work queue `{queue}` of `{pool}` is *paused*. `prefect work-queue resume {queue} --pool {pool}`")
    if missed.workers_online == 0:
        seen = f"last seen {_when(missed.last_worker_seen, None)}" if missed.last_worker_seen else "none ever"
        lines.append(
            f"*No worker polls* `{pool}` ({seen}): start it where it runs (its service, e.g. "
            f"`systemctl restart prefect-worker`, or `prefect worker start --pool {pool}` from the project directory)."
        )
    if missed.state in NOT_STARTED and not (missed.pool_paused or missed.queue_paused or missed.workers_online == 0):
        lines.append(
            f"Nobody took the run although `{pool}` looks ready: its concurrency limit "
            f"(`prefect work-pool inspect {pool}`), or the worker's log (it may fail to submit the run)."
        )
    if missed.state == "Pending":
        lines.append(
            "A worker took the run but it *never started*: the worker's log says why (the flow-run process, or the "
            "Cloud Run job, could not start)."
        )
    if missed.state in ("Running", "Paused"):
        lines.append(
            f"It started but *has not finished*: its logs in the Prefect UI show the last check it ran; "
            f"`prefect flow-run cancel {escape(missed.run_id)}` ends it and frees the environment."
        )
    return lines


def missed_nightly_message(missed: MissedNightly) -> SlackMessage:
    """Header, what was due and what it is now, the likely causes with their commands, then what to do next."""
    environment = escape(missed.environment)
    window = f"within {_window(missed.within_s)}" if missed.within_s > 0 else "in the configured time"
    title = f"Nightly run of {missed.environment} did not finish in time"
    run = f"<{missed.run_url}|{escape(missed.run_name)}>" if missed.run_url else f"`{escape(missed.run_name)}`"
    state = f"*{escape(missed.state)}*"
    if missed.state_since and missed.state not in FINISHED:
        state += f" since {_when(missed.state_since, None)}"
    due = (
        f"*{escape(missed.deployment)}* of *{environment}* was due at *{_when(missed.scheduled, missed.timezone)}* and "
        f"did not finish {window} of it. Run {run} is {state}"
        + (f" in work pool `{escape(missed.pool)}`." if missed.pool else ".")
    )
    found = causes(missed) or ["Nothing wrong found on the pool and its workers: see the run's logs in the UI."]
    if missed.unknown:
        found.append(f"Could not read: {escape(', '.join(missed.unknown))}.")
    then = _then(missed)
    blocks = [
        header_block(f":warning: {title}"),
        section_block(due),
        section_block("*Likely*\n" + "\n".join(f"• {line}" for line in found)),
        section_block(f"*Then*\n{then}"),
        context_block(f"Automation 'runbook: nightly missed' · flow run {escape(missed.run_id)}"),
    ]
    text = f"{title}: due at {_when(missed.scheduled, missed.timezone)}, {missed.state} now"
    return SlackMessage(clip(text, FALLBACK_CHARS), tuple(blocks))


def _then(missed: MissedNightly) -> str:
    again = (
        f"`prefect flow-run cancel {escape(missed.run_id)}`, then `prefect deployment run {escape(missed.deployment)}`"
    )
    if missed.state in FINISHED:
        return "Its own message in this channel has its verdict; nothing to run again for the missed time."
    if missed.state in NOT_STARTED:
        return (
            "The run starts by itself once a worker polls the pool again (waiting its turn if another run holds the "
            f"environment). To start a fresh one instead: {again}."
        )
    return f"Once the cause is fixed: {again}."
