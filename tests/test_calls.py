"""The call policy: transient errors retried within the deadline (Retry-After honoured), permanent ones never."""

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc

from runbook.catalog import CATALOG
from runbook.checks import CheckAbort, CheckContext, classify_api_error
from runbook.config.files import load_config
from runbook.google.calls import CallCounter, Deadline, DeadlinePassed, call_api, is_transient, retry_after_seconds
from runbook.google.clients import GoogleClients, preload_in_background
from runbook.google.shared_reads import SharedReads
from runbook.results import Status

ROOT = Path(__file__).resolve().parent.parent


class Flaky:
    """A stand-in for a client method: raises the given errors in turn, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


class Response429:
    headers = {"Retry-After": "0.4"}


async def test_every_call_passes_explicit_timeout_and_no_library_retry() -> None:
    fn = Flaky()
    assert await call_api(fn, deadline=Deadline(5), timeout=2) == "answer"
    assert fn.calls == [{"retry": None, "timeout": 2}]


async def test_503_twice_then_success_is_retried_and_counted() -> None:
    fn, counter = Flaky(gexc.ServiceUnavailable("down"), gexc.ServiceUnavailable("down")), CallCounter()
    assert await call_api(fn, deadline=Deadline(10), timeout=1, counter=counter) == "answer"
    assert counter.attempts == 3 and counter.retried == 2


async def test_429_waits_for_retry_after() -> None:
    error = gexc.TooManyRequests("slow down", response=Response429())  # type: ignore[arg-type]
    assert retry_after_seconds(error) == 0.4
    started = time.monotonic()
    assert await call_api(Flaky(error), deadline=Deadline(10), timeout=1) == "answer"
    assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize(
    "error", [gexc.Forbidden("no"), gexc.NotFound("no"), gexc.BadRequest("no"), gexc.Unauthorized("no")]
)
async def test_permanent_errors_are_never_retried(error: BaseException) -> None:
    fn, counter = Flaky(error), CallCounter()
    with pytest.raises(type(error)):
        await call_api(fn, deadline=Deadline(10), timeout=1, counter=counter)
    assert counter.attempts == 1


async def test_transient_errors_stop_at_the_deadline_with_the_last_error() -> None:
    fn = Flaky(*[gexc.InternalServerError("boom")] * 100)
    started = time.monotonic()
    with pytest.raises(gexc.InternalServerError):
        await call_api(fn, deadline=Deadline(1.5), timeout=1)
    assert time.monotonic() - started < 2.0 and len(fn.calls) >= 2


async def test_a_call_that_never_returns_ends_at_the_deadline() -> None:
    def hang(**_: Any) -> None:
        time.sleep(4)

    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        await call_api(hang, deadline=Deadline(1), timeout=10)
    assert time.monotonic() - started < 2.5


def test_transient_classification_covers_rest_and_grpc_and_raw_requests_errors() -> None:
    for error in (
        gexc.TooManyRequests("x"),
        gexc.ResourceExhausted("x"),
        gexc.ServiceUnavailable("x"),
        gexc.GatewayTimeout("x"),
        gexc.BadGateway("x"),
        gexc.InternalServerError("x"),
        gexc.DeadlineExceeded("x"),
        requests.ConnectionError("x"),
        requests.ReadTimeout("x"),
    ):
        assert is_transient(error), error
    for error in (gexc.PermissionDenied("x"), gexc.Forbidden("x"), gexc.NotFound("x"), ValueError("x")):
        assert not is_transient(error), error


def test_403_becomes_error_naming_the_role_and_404_a_failure_naming_the_resource() -> None:
    forbidden = classify_api_error(
        "vpcaccess", "connector x", gexc.Forbidden("Permission 'vpcaccess.connectors.get' denied"), 1, "p"
    )
    assert isinstance(forbidden, CheckAbort) and forbidden.status == Status.ERROR
    assert "roles/vpcaccess.viewer" in forbidden.remediation and "vpcaccess.connectors.get" in forbidden.summary
    missing = classify_api_error("run", "service s", gexc.NotFound("nope"), 1, "p")
    assert missing.status == Status.FAIL and "service s not found" in missing.summary
    grpc_denied = classify_api_error("monitoring", "series", gexc.PermissionDenied("denied"), 1, "p")
    assert grpc_denied.status == Status.ERROR and "roles/monitoring.viewer" in grpc_denied.remediation


# --- clients ready per check: prepare in the background, each accessor waits for its own -------------------------


class SlowClients(GoogleClients):
    """GoogleClients whose builds take known times (compute as slow as its import, the connector's fast)."""

    def __init__(self, compute_s: float = 1.0, vpc_s: float = 0.05, fail: bool = False) -> None:
        super().__init__(load_config("local").gcp)
        self.builds: list[str] = []
        self.compute_s, self.vpc_s, self.fail = compute_s, vpc_s, fail

    def _slow(self, name: str, seconds: float) -> Any:
        def build() -> str:
            self.builds.append(name)
            time.sleep(seconds)
            if self.fail:
                raise ImportError(f"cannot import the {name} library")
            return f"{name} client"

        return self._get(name, build)

    @property
    def backend_services(self) -> Any:
        return self._slow("backend_services", self.compute_s)

    @property
    def vpcaccess(self) -> Any:
        return self._slow("vpcaccess", self.vpc_s)


def test_prepare_returns_at_once_and_a_check_waits_only_for_its_own_client() -> None:
    clients = SlowClients(compute_s=1.0)
    started = time.monotonic()
    thread = clients.prepare("backend_services", "vpcaccess")  # the slow one first: vpcaccess must not wait for it
    assert time.monotonic() - started < 0.1
    assert clients.vpcaccess == "vpcaccess client"
    assert time.monotonic() - started < 0.6  # built by the asking check while compute is still loading
    assert clients.backend_services == "backend_services client"  # waits for the build under way
    assert time.monotonic() - started >= 1.0
    thread.join(2)
    assert sorted(clients.builds) == ["backend_services", "vpcaccess"]  # each built once


def test_a_client_that_cannot_be_built_raises_where_it_is_used() -> None:
    clients = SlowClients(compute_s=0.01, fail=True)
    clients.prepare("backend_services").join(2)  # the background build swallows nothing for the check
    with pytest.raises(ImportError, match="backend_services library"):
        _ = clients.backend_services
    with pytest.raises(ValueError, match=r"unknown Google client.*'computer'.*expected some of"):
        clients.prepare("computer")


async def test_waiting_for_a_client_is_not_counted_against_the_waiting_checks_deadline() -> None:
    clients = SlowClients(compute_s=0.6)

    async def check(name: str) -> Deadline:
        deadline = Deadline(1.0)  # as CheckContext creates it, in the check's own task
        if name:
            await asyncio.to_thread(getattr, clients, name)
        else:
            await asyncio.sleep(0.6)  # a check that is simply slow: its time counts
        return deadline

    waiting, working = await asyncio.gather(check("backend_services"), check(""))
    assert waiting.excluded >= 0.55 and waiting.remaining > 0.85
    assert working.excluded == 0 and working.remaining < 0.45


def test_calls_in_many_threads_building_one_client_build_it_once() -> None:
    clients = SlowClients(compute_s=0.2)
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(clients.backend_services)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2)
    assert got == ["backend_services client"] * 8 and clients.builds == ["backend_services"]


def test_client_libraries_are_preloaded_once_per_process() -> None:
    first = preload_in_background()
    assert preload_in_background() is first  # the CLI, the handoff flow and a flow module share one import thread


# --- attempts are requests sent -------------------------------------------------------------------------------


def _context(deadline_s: float = 2, timeout_s: float = 1) -> CheckContext:
    config = load_config("local", overrides={"checks": {"secrets": {"deadline_s": deadline_s, "timeout_s": timeout_s}}})
    return CheckContext(CATALOG["secrets"], config, None)


class Response429Soon:
    headers = {"Retry-After": "0.2"}


async def test_a_call_that_keeps_failing_reports_the_requests_sent_for_it_not_the_checks_other_calls() -> None:
    ctx = _context(deadline_s=1.5)
    assert await ctx.call("secretmanager", "secret a", Flaky()) == "answer"
    assert await ctx.call("secretmanager", "secret b", Flaky()) == "answer"
    limited = Flaky(*[gexc.TooManyRequests("quota", response=Response429Soon())] * 100)
    with pytest.raises(CheckAbort) as caught:
        await ctx.call("secretmanager", "the secret list", limited)
    sent = len(limited.calls)
    assert sent >= 3  # retried after each Retry-After until the deadline
    assert f"secretmanager kept failing for the secret list after {sent} attempt(s)" in caught.value.summary
    assert caught.value.evidence["attempts"] == sent
    assert ctx.counter.attempts == sent + 2  # the check's attempts: every request it sent


async def test_a_call_refused_by_the_deadline_before_it_starts_is_not_an_attempt() -> None:
    ctx = _context(deadline_s=0.2, timeout_s=0.2)
    await asyncio.sleep(0.3)
    fn = Flaky()
    with pytest.raises(CheckAbort, match=r"gave no answer for secret a: deadline of 0\.2 s passed \(after 0 attempt"):
        await ctx.call("secretmanager", "secret a", fn)
    assert fn.calls == [] and ctx.counter.attempts == 0


def test_a_call_blocked_past_its_checks_deadline_does_not_keep_the_process_alive() -> None:
    """The library ignores its timeout (a stalled stream): the check gives up at its deadline, the process exits."""
    script = (
        "import asyncio, time\n"
        "from runbook.google.calls import Deadline, DeadlinePassed, call_api\n"
        "def stalled(**_): time.sleep(30)\n"
        "try:\n"
        "    asyncio.run(call_api(stalled, deadline=Deadline(0.3), timeout=0.2))\n"
        "except DeadlinePassed:\n"
        "    print('gave up', flush=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout == "gave up\n", done.stderr
    assert time.monotonic() - started < 10  # python starts in ~1 s here; the stalled call would hold it 30 s


# --- reads shared by checks: one answer, a failure included ---------------------------------------------------


class Reader:
    """A check as a shared read sees it: its deadline and its attempt counter."""

    def __init__(self, deadline_s: float = 5) -> None:
        self.deadline = Deadline(deadline_s)
        self.counter = CallCounter()
        self.clients = None
        self.fetched = 0

    async def call_optional(self, api: str, what: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def no_answer(self, api: str, what: str, detail: str, attempts: int | None = None) -> Exception:
        return TimeoutError(f"{what}: {detail}")

    async def read(self, shared: SharedReads, fn: Any, after_s: float = 0) -> Any:
        await asyncio.sleep(after_s)

        async def fetch() -> Any:
            self.fetched += 1
            return await call_api(fn, deadline=self.deadline, timeout=1, counter=self.counter)

        return await shared.read(self, "key", fetch, "vpcaccess", "connector c")


async def test_a_failed_shared_read_fails_every_check_that_shares_it_at_once_without_reading_again() -> None:
    shared, owner, waiter, later = SharedReads(), Reader(), Reader(deadline_s=30), Reader()
    denied = Flaky(gexc.Forbidden("vpcaccess.connectors.get denied"))
    started = time.monotonic()
    results = await asyncio.gather(
        owner.read(shared, lambda **kw: time.sleep(0.3) or denied(**kw)),
        waiter.read(shared, Flaky(), after_s=0.1),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [gexc.Forbidden, gexc.Forbidden]
    assert time.monotonic() - started < 1.0  # the waiter did not spend its 30 s deadline on it
    with pytest.raises(gexc.Forbidden):  # a check asking after the failure gets it too
        await later.read(shared, Flaky())
    assert (owner.fetched, waiter.fetched, later.fetched) == (1, 0, 0)
    assert owner.counter.attempts == waiter.counter.attempts == later.counter.attempts == 1  # the one request sent


async def test_a_read_abandoned_by_its_checks_cancellation_is_read_by_a_waiting_check() -> None:
    shared, owner, waiter = SharedReads(), Reader(), Reader()
    reading = asyncio.ensure_future(owner.read(shared, lambda **_: time.sleep(0.5) or "late"))
    waiting = asyncio.ensure_future(waiter.read(shared, Flaky(), after_s=0.1))
    await asyncio.sleep(0.2)
    reading.cancel()  # the owner's check hit its deadline: that says nothing about the connector
    assert await waiting == "answer"
    assert (owner.fetched, waiter.fetched) == (1, 1)


async def test_a_shared_answer_counts_its_requests_for_every_check_that_used_it() -> None:
    shared, owner, waiter = SharedReads(), Reader(), Reader()
    flaky = Flaky(gexc.ServiceUnavailable("blip"))
    answers = await asyncio.gather(
        owner.read(shared, lambda **kw: time.sleep(0.2) or flaky(**kw)), waiter.read(shared, Flaky(), after_s=0.05)
    )
    assert answers == ["answer", "answer"] and (owner.fetched, waiter.fetched) == (1, 0)
    assert owner.counter.attempts == waiter.counter.attempts == len(flaky.calls) == 2
