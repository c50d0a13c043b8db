"""One handoff per environment at a time: a Prefect global concurrency limit per environment, held with a lease.

Every run that works on an environment (the handoff from any deployment, the CLI or Slack; phase 1 on demand) holds
the one slot of `runbook-env-<name>` while it runs. The slot is held with a lease that Prefect renews while the run's
process lives, so a run killed outright frees its environment within `LEASE_S` (plus Prefect's repossessor loop,
15 s). A second run asks every `POLL_S` until the slot is free or `RUNBOOK_LOCK_WAIT_S` (default `DEFAULT_WAIT_S`) has
passed, and is then refused. Who holds the environment is kept beside the limit, in the Prefect variable
`runbook-env-<name>-holder`, so that the waiting run says which run holds it (its log, Slack, the CLI, and the
refused run's state message).

Runs also carry the tag `env:<name>` (a deployment's tags are fixed; this one is added when the run starts), so a tag
filter in the UI finds every run of an environment, whichever deployment or command started it.
"""

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from runbook.phases import Listeners
from runbook.server_values import PrefectValues, ValuesUnavailable, prefect_client

LOCK_PREFIX = "runbook-env-"
HOLDER_SUFFIX = "-holder"
TAG_PREFIX = "env:"
LEASE_S = 60.0  # Prefect's shortest lease; renewed every 45 s while the holder's process lives
POLL_S = 2.0  # a waiting run asks this often: it starts within POLL_S of the slot being freed
WAIT_SETTING = "RUNBOOK_LOCK_WAIT_S"
DEFAULT_WAIT_S = 480.0  # within the Cloud Run job's timeout (deployments/prefect-cloud-run.yaml) with approval
CALL_TIMEOUT_S = 5.0
# A holder whose run ended this long ago but whose slot is still taken lost its lease (a server restart forgets
# leases kept in memory): its slot is freed, or the environment would stay locked forever.
LOST_LEASE_AFTER_S = LEASE_S + 60.0

logger = logging.getLogger("runbook.env_lock")

# What a waiting run says, as it starts waiting (the CLI prints it; the flow logs it and tells Slack itself).
_waiting = Listeners[str]()
add_wait_listener = _waiting.add


def lock_name(environment: str) -> str:
    return f"{LOCK_PREFIX}{environment}"


def env_tag(environment: str) -> str:
    return f"{TAG_PREFIX}{environment}"


def wait_limit_s() -> float:
    """How long a run waits for its environment: RUNBOOK_LOCK_WAIT_S seconds (0: refuse at once), else 480."""
    raw = os.environ.get(WAIT_SETTING, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_WAIT_S
    except ValueError:
        logger.warning("%s=%r is not a number of seconds: waiting %g s", WAIT_SETTING, raw, DEFAULT_WAIT_S)
        return DEFAULT_WAIT_S
    return max(0.0, value)


@dataclass(frozen=True)
class Holder:
    """The run holding an environment, as a waiting run names it."""

    flow_run_id: str
    run_name: str
    since: str  # ISO time it took the environment
    trigger: str = ""

    def describe(self) -> str:
        """ "run 'staging · manual · 2026-12-01 10:00 UTC' (flow run 3f2a…, trigger manual) since 10:02 UTC"."""
        try:
            since = datetime.fromisoformat(self.since).astimezone(UTC).strftime("%H:%M:%S UTC")
        except ValueError:
            since = self.since
        trigger = f", trigger {self.trigger}" if self.trigger else ""
        return f"run '{self.run_name}' (flow run {self.flow_run_id}{trigger}) since {since}"

    def to_value(self) -> dict[str, str]:
        return {
            "flow_run_id": self.flow_run_id,
            "run_name": self.run_name,
            "since": self.since,
            "trigger": self.trigger,
        }

    @classmethod
    def from_value(cls, value: Any) -> "Holder | None":
        if not isinstance(value, dict) or not isinstance(value.get("flow_run_id"), str):
            return None
        return cls(
            str(value["flow_run_id"]),
            str(value.get("run_name") or "?"),
            str(value.get("since") or ""),
            str(value.get("trigger") or ""),
        )


def in_use_text(environment: str, holder: Holder | None) -> str:
    """ "sim is in use by run '...' (flow run ...) since 10:02:03 UTC" (or by a run not known by name)."""
    who = holder.describe() if holder is not None else "another run (not known by name yet)"
    return f"{environment} is in use by {who}"


class EnvironmentBusy(Exception):
    """The environment stayed in use for the whole wait: this run is refused (the message names the holder)."""

    def __init__(self, environment: str, holder: Holder | None, waited_s: float) -> None:
        self.environment, self.holder, self.waited_s = environment, holder, waited_s
        super().__init__(
            f"not run: {in_use_text(environment, holder)}; waited {waited_s:.0f} s ({WAIT_SETTING}). "
            "Run again once it has finished, or cancel it in the Prefect UI."
        )


class LockUnavailable(Exception):
    """Prefect could not be asked for the environment's slot (not: the slot is taken)."""


async def tag_run(flow_run_id: str, environment: str, current: Iterable[str]) -> bool:
    """Add `env:<environment>` to the flow run's tags (bounded, best effort); False when it could not."""
    tag = env_tag(environment)
    tags = sorted({*current, tag})
    if tag in set(current):
        return True
    try:
        async with prefect_client() as client:
            await asyncio.wait_for(client.update_flow_run(UUID(flow_run_id), tags=tags), CALL_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        logger.warning("tag %s not added to flow run %s: %s", tag, flow_run_id, type(error).__name__)
        return False
    return True


async def read_holder(environment: str) -> Holder | None:
    try:
        return Holder.from_value(await PrefectValues(CALL_TIMEOUT_S).read(lock_name(environment) + HOLDER_SUFFIX))
    except ValuesUnavailable:
        return None


async def _ensure_limit(name: str) -> None:
    """The environment's limit (1 slot), created the first time any run asks for it."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with prefect_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another run created it meanwhile
                await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


def _slot_taken(error: BaseException) -> bool:
    """True when Prefect answered 423 Locked: the slot is held by another run."""
    cause: BaseException | None = error
    while cause is not None:
        if getattr(getattr(cause, "response", None), "status_code", None) == 423:
            return True
        cause = cause.__cause__
    return False


async def free_slot_of(environment: str, flow_run_id: str, why: str) -> bool:
    """Free the environment's slot when the holder on record is `flow_run_id`, a run known to be gone; True if freed.

    For a holder whose lease cannot expire by itself: its process was SIGKILLed together with the private server
    that kept the lease in memory (`runbook run`), or the server restarted and forgot it.
    """
    holder = await read_holder(environment)
    if holder is None or holder.flow_run_id != flow_run_id:
        return False
    name = lock_name(environment)
    try:
        async with prefect_client() as client:
            await asyncio.wait_for(
                client.release_concurrency_slots(names=[name], slots=1, occupancy_seconds=1.0), CALL_TIMEOUT_S
            )
        await PrefectValues(CALL_TIMEOUT_S).delete(name + HOLDER_SUFFIX)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        logger.warning("could not free %s held by the ended run %s: %s", name, flow_run_id, type(error).__name__)
        return False
    logger.warning("freed %s, held by flow run %s (%s)", name, flow_run_id, why)
    return True


async def _lost_lease(holder: Holder) -> bool:
    """The holder's run ended long ago while its slot is still taken: its lease was lost with a server restart."""
    try:
        async with prefect_client() as client:
            run = await asyncio.wait_for(client.read_flow_run(UUID(holder.flow_run_id)), CALL_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    state = run.state
    if state is None or not state.is_final() or state.timestamp is None:
        return False
    return (datetime.now(UTC) - state.timestamp).total_seconds() > LOST_LEASE_AFTER_S


@contextlib.asynccontextmanager
async def hold_environment(
    environment: str,
    *,
    flow_run_id: str,
    run_name: str,
    trigger: str = "",
    wait_s: float | None = None,
    on_wait: Callable[[str], Awaitable[None]] | None = None,
    required: bool = True,
) -> AsyncIterator[Holder | None]:
    """Hold the environment's slot for the block; wait up to `wait_s` (default RUNBOOK_LOCK_WAIT_S) for it.

    Raises EnvironmentBusy when it stayed taken. When Prefect cannot be asked at all (an error other than "taken"),
    a `required` run (one that may change the environment: a redeploy) raises LockUnavailable; any other run goes on
    unlocked, with a warning. Yields the holder record (None when unlocked). `on_wait` is told once, with words
    naming the holder, when the run starts waiting.
    """
    name = lock_name(environment)
    wait_s = wait_limit_s() if wait_s is None else wait_s
    started = time.monotonic()
    told = False
    next_lease_check = started
    async with contextlib.AsyncExitStack() as stack:
        try:
            await asyncio.wait_for(_ensure_limit(name), CALL_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            _go_unlocked(environment, required, error)
            yield None
            return
        while True:
            if not await _taken(name):  # asked first: Prefect's service logs every refused acquisition as an ERROR
                refused = await _acquire(stack, name, flow_run_id)
                if refused is None:
                    break
                if not _slot_taken(refused):
                    _go_unlocked(environment, required, refused)
                    yield None
                    return
            holder = await read_holder(environment)
            if not told:
                told = True
                words = f"{in_use_text(environment, holder)}; waiting up to {wait_s:.0f} s"
                logger.warning("%s", words)
                _waiting.tell(words)
                if on_wait is not None:
                    await on_wait(words)
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise EnvironmentBusy(environment, holder, waited)
            if holder is not None and time.monotonic() >= next_lease_check:
                next_lease_check = time.monotonic() + 30.0
                if await _lost_lease(holder):
                    await free_slot_of(environment, holder.flow_run_id, "its run ended but its lease was lost")
                    continue
            await asyncio.sleep(min(POLL_S, max(0.0, wait_s - waited)))
        me = Holder(flow_run_id, run_name, datetime.now(UTC).isoformat(), trigger)
        values = PrefectValues(CALL_TIMEOUT_S)
        with contextlib.suppress(ValuesUnavailable):  # only the words of a waiting run depend on it
            await values.write(name + HOLDER_SUFFIX, me.to_value(), tags=["runbook-env-holder"])
        try:
            yield me
        finally:
            # Cleared while still holding the slot: the next holder writes its own record only once it has it.
            with contextlib.suppress(ValuesUnavailable, asyncio.CancelledError):
                if (await read_holder(environment) or me).flow_run_id == flow_run_id:
                    await values.delete(name + HOLDER_SUFFIX)


async def _taken(name: str) -> bool:
    """True when the limit's one slot is held now (a failed read: False, and the acquisition says why)."""
    try:
        async with prefect_client() as client:
            limit = await asyncio.wait_for(client.read_global_concurrency_limit_by_name(name), CALL_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return bool(limit.active) and limit.active_slots >= limit.limit


async def _acquire(stack: contextlib.AsyncExitStack, name: str, flow_run_id: str) -> BaseException | None:
    """Take the slot with a lease renewed while this process lives; the error when it could not (None: held)."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.concurrency.asyncio import concurrency

    try:
        await stack.enter_async_context(
            concurrency(
                name,
                occupy=1,
                max_retries=0,  # one request: the caller waits, and says why
                lease_duration=LEASE_S,
                strict=True,
                holder=ConcurrencyLeaseHolder(type="flow_run", id=UUID(flow_run_id)),
                raise_on_lease_renewal_failure=False,  # a renewal hiccup never kills the run
            )
        )
    except asyncio.CancelledError:
        raise
    except Exception as error:
        return error
    return None


def _go_unlocked(environment: str, required: bool, error: BaseException) -> None:
    """Prefect could not be asked for the slot: a read-only run goes on unlocked (logged); a required one may not."""
    words = f"{type(error).__name__}: {error}"[:300]
    if required:
        raise LockUnavailable(f"the lock of {environment} could not be taken ({words})") from error
    logger.warning("running without the lock of %s: Prefect could not be asked (%s)", environment, words)
