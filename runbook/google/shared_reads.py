"""Reads shared by the checks of one phase: the first check to ask reads, the others wait for its answer.

Two checks of phase 1 need the same resource (secrets and service-drift the secret list; vpc-connector and
service-drift the configured VPC connector): reading it once keeps "no resource read twice in a phase" and one
request's latency off the phase. The answer is shared whatever it is: a value, a 404 read as None, or a failure
(permission denied, the API failing until the reader's deadline): a waiting check gets it the moment the reader
does, instead of spending its own deadline asking an API that has just failed. Only a read that ended without an
answer (the reading check was cancelled: its deadline, a sibling read failing) is not shared: a waiting check then
reads itself. Checks run in different threads, each with its own event loop, so the answer travels in a
`concurrent.futures.Future`; the requests the read sent count as attempts of every check that used its answer.
"""

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from runbook.google.calls import CallCounter, Deadline, also_counting

T = TypeVar("T")


class ReadContext(Protocol):
    """What a shared read needs of the check that asks (the core's CheckContext is one)."""

    @property
    def deadline(self) -> Deadline: ...

    @property
    def counter(self) -> CallCounter: ...

    @property
    def clients(self) -> Any: ...

    async def call_optional(self, api: str, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        """A call whose 404 answers None."""
        ...

    def no_answer(self, api: str, what: str, detail: str, attempts: int | None = None) -> Exception:
        """The error a check ends with when `api` gave no answer for `what` in time (`attempts`: requests sent)."""
        ...


class ReadAbandoned(Exception):
    """The check reading for the others stopped before the read ended: no answer to share, a waiter reads."""


class SharedReads:
    """One answer per key for the checks that share this object (create one per phase or run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[concurrent.futures.Future[Any], CallCounter]] = {}

    async def read(self, ctx: ReadContext, key: str, fetch: Callable[[], Awaitable[Any]], api: str, what: str) -> Any:
        """The answer for `key`: fetched by the first check to ask, awaited by the others within their deadline.

        A failed read raises its error in every check that asks; a read abandoned by its reader is taken over.
        """
        while True:
            with self._lock:
                entry = self._answers.get(key)
                owner = entry is None or (entry[0].done() and isinstance(entry[0].exception(), ReadAbandoned))
                if owner:
                    entry = self._answers[key] = (concurrent.futures.Future(), CallCounter())
            assert entry is not None
            answer, sent = entry
            if owner:
                return await _fetch(answer, sent, fetch, what)
            try:
                waiting = asyncio.shield(asyncio.wrap_future(answer))
                value = await asyncio.wait_for(waiting, timeout=ctx.deadline.remaining)
            except ReadAbandoned:
                continue  # its reader was cancelled before an answer: read it now (or wait for who does)
            except TimeoutError:
                ctx.counter.add(sent)
                detail = f"not within the {ctx.deadline.seconds:g} s deadline ({sent.attempts} request(s) sent so far)"
                raise ctx.no_answer(api, what, detail, sent.attempts) from None
            except Exception:  # the read failed: that is this check's answer too, at once
                ctx.counter.add(sent)
                raise
            ctx.counter.add(sent)
            return value


async def _fetch(
    answer: "concurrent.futures.Future[Any]", sent: CallCounter, fetch: Callable[[], Awaitable[Any]], what: str
) -> Any:
    """Read for every check waiting on `answer`, counting the requests in `sent`."""
    try:
        with also_counting(sent):
            value = await fetch()
    except Exception as error:
        answer.set_exception(error)
        raise
    except BaseException:  # cancelled (the reader's deadline, a sibling's failure): not an answer about the resource
        answer.set_exception(ReadAbandoned(f"the read of {what} was abandoned by the check reading it"))
        raise
    answer.set_result(value)
    return value


class ConnectorReads(SharedReads):
    """The VPC connectors read in a phase (vpc-connector and service-drift), by full resource name."""

    async def connector(self, ctx: ReadContext, name: str) -> Any | None:
        """`connectors.get` of `name` (projects/P/locations/R/connectors/N), None when it does not exist (404)."""

        async def fetch() -> Any | None:
            client = await asyncio.to_thread(lambda: ctx.clients.vpcaccess)  # the first use imports the library
            return await ctx.call_optional("vpcaccess", f"connector {name}", client.get_connector, name=name)

        return await self.read(ctx, f"connector:{name}", fetch, "vpcaccess", f"connector {name}")
