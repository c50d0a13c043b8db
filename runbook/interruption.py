"""A run stopped by a signal: its checks stop where they are, at once, in every thread of the process.

`runbook run`'s SIGINT/SIGTERM handler calls `stop_checks`. A check that has not started does not start, and one
under way is cancelled at its next tenth of a second (`runbook.checks.within_deadline` looks): no Google API call is
sent after that, and its task run ends Cancelled rather than going on to Completed. Checks that finished stay as
they ended: the interrupted report, Prefect and Slack list them.
"""

import threading

_stopped = threading.Event()
_reason = ["interrupted"]


class ChecksStopped(Exception):
    """The run was interrupted: this check stopped before it could decide (its task run ends Cancelled)."""


def stop_checks(reason: str) -> None:
    """From now on every check of this process stops (`reason`: what stopped them, e.g. "interrupted by SIGTERM")."""
    _reason[0] = reason
    _stopped.set()


def stop_reason() -> str | None:
    """Why checks stop, once `stop_checks` was called; None while they may run."""
    return _reason[0] if _stopped.is_set() else None


def allow_checks() -> None:
    """A new run in this process: checks run again (the CLI calls it before each run)."""
    _stopped.clear()
