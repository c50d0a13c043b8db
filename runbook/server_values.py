"""Small JSON values kept on the Prefect server (Prefect Variables): the run's memory, whichever worker ran it.

A flow run may land on any worker, in a fresh container each time, so what a later run or another process needs (an
environment's check history, a run's Slack parent message, who holds an environment) is kept here, never on a
worker's disk. Every call is bounded (`TIMEOUT_S`); any failure (no answer in time, an HTTP error, a value the server
refuses) raises `ValuesUnavailable`, for the caller to log and carry on: the memory never breaks a run.

`PrefectValues` talks to the server of the current Prefect settings (PREFECT_API_URL) through Prefect's client.
A value is at most `MAX_VALUE_CHARS` characters of JSON (Prefect's limit is 5000).
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

TIMEOUT_S = 5.0
MAX_VALUE_CHARS = 4900  # Prefect refuses a variable whose JSON is 5000 characters or more


class ValuesUnavailable(RuntimeError):
    """The server's values could not be read or written (the message says why, never a value)."""


class ValueStore(Protocol):
    """Named JSON values that outlive every process (Prefect Variables, or a dict in tests)."""

    async def read(self, name: str) -> Any:
        """The value, or None when there is none."""
        ...

    async def write(self, name: str, value: Any, tags: Iterable[str] = ()) -> None:
        """Create or replace the value."""
        ...

    async def delete(self, name: str) -> None:
        """Remove the value; nothing when there is none."""
        ...

    async def names_beyond(self, tag: str, keep: int) -> list[str]:
        """The names of the values tagged `tag`, newest first, after the first `keep`: the ones to prune."""
        ...


@contextlib.asynccontextmanager
async def prefect_client() -> AsyncIterator[Any]:
    """The running flow's own Prefect client when there is one on this event loop (no set-up: ~6 ms a call instead of
    ~30), else a new one for the block."""
    from prefect.client.utilities import get_or_create_client

    client, inferred = get_or_create_client()
    if inferred:
        yield client
    else:
        async with client:
            yield client


def json_size(value: Any) -> int:
    """How many characters the value takes as compact JSON (what Prefect measures)."""
    return len(json.dumps(value, separators=(",", ":"), default=str))


class PrefectValues:
    """Prefect Variables on the configured server; one short-lived client per call, each call bounded."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s

    async def _bounded(self, what: str, work: Any) -> Any:
        try:
            return await asyncio.wait_for(work, self.timeout_s)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            raise ValuesUnavailable(f"Prefect did not answer within {self.timeout_s:g} s ({what})") from None
        except Exception as error:
            raise ValuesUnavailable(f"Prefect {what} failed: {type(error).__name__}") from error

    async def read(self, name: str) -> Any:
        async def work() -> Any:
            async with prefect_client() as client:
                variable = await client.read_variable_by_name(name)
            return None if variable is None else variable.value

        return await self._bounded(f"read of {name}", work())

    async def write(self, name: str, value: Any, tags: Iterable[str] = ()) -> None:
        if json_size(value) > MAX_VALUE_CHARS:
            raise ValuesUnavailable(f"value of {name} too large for a Prefect variable ({json_size(value)} chars)")

        async def work() -> None:
            from prefect.client.schemas.actions import VariableCreate, VariableUpdate
            from prefect.exceptions import ObjectAlreadyExists

            async with prefect_client() as client:
                try:  # one call when it exists (the usual case): PATCH, 404 when missing
                    await client.update_variable(VariableUpdate(name=name, value=value, tags=list(tags)))
                    return
                except Exception as error:
                    if getattr(getattr(error, "response", None), "status_code", None) != 404:
                        raise
                try:
                    await client.create_variable(VariableCreate(name=name, value=value, tags=list(tags)))
                except ObjectAlreadyExists:  # created meanwhile by another process: replace it
                    await client.update_variable(VariableUpdate(name=name, value=value, tags=list(tags)))

        await self._bounded(f"write of {name}", work())

    async def delete(self, name: str) -> None:
        async def work() -> None:
            from prefect.exceptions import ObjectNotFound

            async with prefect_client() as client:
                with contextlib.suppress(ObjectNotFound):
                    await client.delete_variable_by_name(name)

        await self._bounded(f"delete of {name}", work())

    async def names_beyond(self, tag: str, keep: int) -> list[str]:
        async def work() -> list[str]:
            body = {
                "variables": {"tags": {"all_": [tag]}},
                "sort": "CREATED_DESC",
                "offset": keep,
                "limit": 200,
            }
            async with prefect_client() as client:
                response = await client.request("POST", "/variables/filter", json=body)
            return [str(item["name"]) for item in response.json()]

        found: list[str] = await self._bounded(f"listing of {tag}", work())
        return found
