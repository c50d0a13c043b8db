"""How every Google API call is made: explicit timeout, transient errors retried inside the check's deadline.

The client libraries' own retry defaults range from none to 600 s, so every call passes `retry=None` and an
explicit `timeout=`, and this module retries with exponential backoff and jitter (tenacity), honouring a 429's
Retry-After, never past the check's deadline. Permanent errors (400, 401, 403, 404) are never retried.

Why not Prefect task retries: they re-run a whole check (every call again), cannot honour Retry-After per call
and know nothing of the check's deadline.

Attempts are requests sent: an attempt counts when its thread hands it to the client library, not when it is
queued, and not the one the deadline refuses before it starts.
"""

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

T = TypeVar("T")

TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


class DaemonThreads(Executor):
    """A thread pool whose threads never hold the process at exit (concurrent.futures joins its own).

    A check that gives up (its deadline, a cancelled run) stops waiting for its call, but a thread cannot be
    interrupted: one blocked in a library that does not honour its timeout would keep the interpreter alive after
    the verdict. Calls queued and not yet started are cancelled with their future, as in ThreadPoolExecutor.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "Future[T]":
        future: Future[T] = Future()
        self._work.put((future, functools.partial(fn, *args, **kwargs)))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self._max_workers:
                    name = f"{self._prefix}_{self._threads}"
                    self._threads += 1
                    threading.Thread(target=self._serve, name=name, daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            future, work = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as error:  # handed to the caller, as ThreadPoolExecutor does
                    future.set_exception(error)
            del future, work  # drop the answer before waiting for more
            self._idle.release()


# Blocking client calls run here, not in each event loop's default executor (min(32, cores + 4) threads: six on
# this kind of machine, which serialises the calls of a check reading 100 services).
_CALLS = DaemonThreads(max_workers=64, thread_name_prefix="google-api")


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
    """Requests sent: by a check (it reports its attempts), by one call of it, or by a read checks share.

    A call's counter has the check's as `parent`: one request counts in both.
    """

    attempts: int = 0
    retried: int = 0
    parent: "CallCounter | None" = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # requests are counted in the threads that send them

    def sent(self, retry: bool = False) -> None:
        """One request went out (`retry`: not the call's first)."""
        counter: CallCounter | None = self
        while counter is not None:
            with counter._lock:
                counter.attempts += 1
                counter.retried += int(retry)
            counter = counter.parent

    def add(self, other: "CallCounter") -> None:
        """Count `other`'s requests here too (a read shared with another check, sent on this one's behalf too)."""
        counter: CallCounter | None = self
        while counter is not None:
            with counter._lock:
                counter.attempts += other.attempts
                counter.retried += other.retried
            counter = counter.parent


_ALSO_COUNTING: ContextVar[tuple[CallCounter, ...]] = ContextVar("also_counting", default=())


@contextlib.contextmanager
def also_counting(counter: CallCounter) -> Iterator[CallCounter]:
    """Requests sent inside (this asyncio task and the tasks it starts) count in `counter` too (a shared read)."""
    token = _ALSO_COUNTING.set((*_ALSO_COUNTING.get(), counter))
    try:
        yield counter
    finally:
        _ALSO_COUNTING.reset(token)


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

    counters = (counter, *_ALSO_COUNTING.get())

    def send(retry: bool, call: Callable[[], T]) -> T:
        for each in counters:  # in the thread, as the request goes out: a call cancelled in the queue is not sent
            each.sent(retry)
        return call()

    async for attempt in AsyncRetrying(retry=retry_if_exception(is_transient), wait=wait, stop=stop, reraise=True):
        with attempt:
            remaining = deadline.remaining
            if remaining <= 0:
                raise DeadlinePassed(f"deadline of {deadline.seconds:g} s passed")
            per_call = min(timeout, remaining)
            try:
                call = functools.partial(fn, *args, retry=None, timeout=per_call, **kwargs)
                answer = asyncio.wrap_future(_CALLS.submit(send, attempt.retry_state.attempt_number > 1, call))
                return await asyncio.wait_for(answer, timeout=per_call + 1.0)
            except TimeoutError:
                # asyncio's own cap: the library did not honour its timeout (e.g. a stalled stream).
                raise DeadlinePassed(f"no answer within {per_call:g} s") from None
    raise AssertionError("unreachable")  # pragma: no cover
