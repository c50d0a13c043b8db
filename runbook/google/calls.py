"""How every Google API call is made: explicit timeout, transient errors retried inside the check's deadline.

The client libraries' own retry defaults range from none to 600 s, so every call passes `retry=None` and an
explicit `timeout=`, and this module retries with exponential backoff and jitter (tenacity), honouring a 429's
Retry-After, never past the check's deadline. Permanent errors (400, 401, 403, 404) are never retried.

Why not Prefect task retries: they re-run a whole check (every call again), cannot honour Retry-After per call
and know nothing of the check's deadline.
"""

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

T = TypeVar("T")

TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


# Blocking client calls run here, not in each event loop's default executor (min(32, cores + 4) threads: six on
# this kind of machine, which serialises the calls of a check reading 100 services).
_CALLS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="google-api")


class DeadlinePassed(Exception):
    """The check's deadline passed before the API answered (after retries)."""


@dataclass
class Deadline:
    """A check's hard deadline, shared by its calls.

    Time spent waiting for a client library to load (`exclude`) is not the check's: a 2 s import must not eat a
    check's budget. Creating a Deadline makes it the current one of this context (the check's asyncio task and
    what it starts), which `exclude_from_deadline` credits.
    """

    seconds: float
    started: float = field(default_factory=time.monotonic)
    excluded: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0  # waits for a client library in progress (threads of one check may overlap)
        self._waiting_since = 0.0
        _CURRENT.set(self)

    def exclude(self, seconds: float) -> None:
        """Do not count these seconds (a wait for a client library) against the deadline."""
        with self._lock:
            self.excluded += max(0.0, seconds)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time inside is not the check's (a wait for a client library), already while it lasts: the check's hard
        cap (`runbook.checks.within_deadline`) sees the clock stopped, not only credited afterwards."""
        with self._lock:
            if self._waiting == 0:
                self._waiting_since = time.monotonic()
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
                if self._waiting == 0:
                    self.excluded += time.monotonic() - self._waiting_since

    @property
    def elapsed(self) -> float:
        """Seconds counted against the deadline so far."""
        now = time.monotonic()
        with self._lock:
            waiting = now - self._waiting_since if self._waiting else 0.0
            return now - self.started - self.excluded - waiting

    @property
    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed)


_CURRENT: ContextVar[Deadline | None] = ContextVar("check_deadline", default=None)


@contextlib.contextmanager
def deadline_paused() -> Iterator[None]:
    """The current check's deadline stands still inside (waiting for a client library); outside a check, nothing."""
    deadline = _CURRENT.get()
    if deadline is None:
        yield
        return
    with deadline.paused():
        yield


def http_status(error: BaseException) -> int | None:
    """The HTTP status an exception stands for (api_core REST and gRPC errors alike), or None."""
    code = getattr(error, "code", None)
    if isinstance(code, int):
        return code
    return None


def is_transient(error: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors: worth another try."""
    status = http_status(error)
    if status is not None:
        return status in TRANSIENT_HTTP
    import requests
    from google.api_core import exceptions as gexc

    if isinstance(error, gexc.RetryError):
        return True
    # REST timeouts and refused connections surface as raw `requests` exceptions.
    return isinstance(error, requests.ConnectionError | requests.Timeout | TimeoutError | ConnectionError)


def retry_after_seconds(error: BaseException) -> float | None:
    """Retry-After of a 429/503 answer, when the server sent one."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class CallCounter:
    """Counts attempts across a check's calls (a check reports its attempts)."""

    attempts: int = 0
    retried: int = 0


async def call_api(
    fn: Callable[..., T],
    /,
    *args: Any,
    deadline: Deadline,
    timeout: float,  # noqa: ASYNC109 -- the per-call timeout handed to the Google client
    counter: CallCounter | None = None,
    max_backoff: float = 8.0,
    **kwargs: Any,
) -> T:
    """Call a sync Google client method in a thread with `timeout=` and `retry=None`, retrying transient errors.

    Raises the last error when the deadline leaves no room for another attempt, DeadlinePassed when the
    deadline ends a hanging call.
    """
    counter = counter if counter is not None else CallCounter()
    backoff = wait_exponential_jitter(multiplier=0.25, max=max_backoff, jitter=0.25)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(error) if error else None
        return hinted if hinted is not None else backoff(state)

    def stop(state: RetryCallState) -> bool:
        # tenacity computes the wait first: stop when sleeping would leave no time for another call.
        return deadline.remaining <= state.upcoming_sleep + 0.05

    async for attempt in AsyncRetrying(retry=retry_if_exception(is_transient), wait=wait, stop=stop, reraise=True):
        with attempt:
            counter.attempts += 1
            if attempt.retry_state.attempt_number > 1:
                counter.retried += 1
            remaining = deadline.remaining
            if remaining <= 0:
                raise DeadlinePassed(f"deadline of {deadline.seconds:g} s passed")
            per_call = min(timeout, remaining)
            try:
                call = functools.partial(fn, *args, retry=None, timeout=per_call, **kwargs)
                answer = asyncio.get_running_loop().run_in_executor(_CALLS, call)
                return await asyncio.wait_for(answer, timeout=per_call + 1.0)
            except TimeoutError:
                # asyncio's own cap: the library did not honour its timeout (e.g. a stalled stream).
                raise DeadlinePassed(f"no answer within {per_call:g} s") from None
    raise AssertionError("unreachable")  # pragma: no cover
