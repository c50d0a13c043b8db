"""Reads shared by the checks of one phase: the first check to ask reads, the others wait for its answer.

Two checks of phase 1 need the same resource (secrets and service-drift the secret list; vpc-connector and
service-drift the configured VPC connector): reading it once keeps "no resource read twice in a phase" and one
request's latency off the phase. Only a successful answer is shared (a 404 read as None counts as one): when the
first reader fails, each waiting check reads on its own and reaches its own verdict. Checks run in different
threads, each with its own event loop, so the answer travels in a `concurrent.futures.Future`.
"""

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from runbook.google.calls import Deadline

T = TypeVar("T")


class ReadContext(Protocol):
    """What a shared read needs of the check that asks (the core's CheckContext is one)."""

    @property
    def deadline(self) -> Deadline: ...

    @property
    def clients(self) -> Any: ...

    async def call_optional(self, api: str, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        """A call whose 404 answers None."""
        ...

    def no_answer(self, api: str, what: str, detail: str) -> Exception:
        """The error a check ends with when `api` gave no answer for `what` in time."""
        ...


class SharedReads:
    """One answer per key for the checks that share this object (create one per phase or run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, concurrent.futures.Future[Any]] = {}

    async def read(self, ctx: ReadContext, key: str, fetch: Callable[[], Awaitable[Any]], api: str, what: str) -> Any:
        """The answer for `key`: fetched by the first check to ask, awaited by the others within their deadline."""
        with self._lock:
            answer = self._answers.get(key)
            owner = answer is None or (answer.done() and answer.exception() is not None)
            if owner:
                answer = self._answers[key] = concurrent.futures.Future()
        assert answer is not None
        if owner:
            try:
                value = await fetch()
            except BaseException as error:  # cancelled at the deadline too: waiters must not wait for nothing
                answer.set_exception(error if isinstance(error, Exception) else RuntimeError(f"{what}: cancelled"))
                raise
            answer.set_result(value)
            return value
        try:
            waiting = asyncio.shield(asyncio.wrap_future(answer))
            return await asyncio.wait_for(waiting, timeout=ctx.deadline.remaining)
        except TimeoutError:
            raise ctx.no_answer(api, what, f"not within the {ctx.deadline.seconds:g} s deadline") from None
        except Exception:  # the other check's read failed: read on our own, for our own verdict
            return await fetch()


class ConnectorReads(SharedReads):
    """The VPC connectors read in a phase (vpc-connector and service-drift), by full resource name."""

    async def connector(self, ctx: ReadContext, name: str) -> Any | None:
        """`connectors.get` of `name` (projects/P/locations/R/connectors/N), None when it does not exist (404)."""

        async def fetch() -> Any | None:
            client = await asyncio.to_thread(lambda: ctx.clients.vpcaccess)  # the first use imports the library
            return await ctx.call_optional("vpcaccess", f"connector {name}", client.get_connector, name=name)

        return await self.read(ctx, f"connector:{name}", fetch, "vpcaccess", f"connector {name}")
