"""SIGINT and SIGTERM during `runbook run`: noted in the main thread, turned into a cancellation of the flow.

Exit codes follow the shell's convention for a process ended by a signal: 128 + its number (130 INT, 143 TERM).
"""

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from runbook.interruption import stop_checks

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupts:
    """SIGINT/SIGTERM handlers of the main thread, installed for the length of a `with` block.

    The first signal stops every check of the process where it is (`runbook.interruption`) and cancels the flow
    (through `cancel`, once the flow thread has set it; a signal that comes earlier cancels it as soon as it is set).
    A second signal means "stop waiting": `again` is set.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.again = False
        self._cancel: Callable[[], object] | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator["Interrupts"]:
        """Handle SIGINT/SIGTERM within the block (only the main thread can; elsewhere the defaults stay)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in EXIT_CODES}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def set_cancel(self, cancel: Callable[[], object] | None) -> None:
        """Called from the flow thread: how to cancel the flow (None: nothing to cancel any more)."""
        with self._lock:
            self._cancel = cancel
            pending = self.signum is not None
        if cancel is not None and pending:
            cancel()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            self.again = True
            return
        self.signum = signum
        stop_checks(f"interrupted by {signal.Signals(signum).name}")  # checks under way stop within 0.1 s
        with self._lock:
            cancel = self._cancel
        if cancel is not None:
            cancel()
