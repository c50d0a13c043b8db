"""Running one check: its deadline, its API calls, and turning every failure into a CheckResult.

A check body fetches through `CheckContext.call` and hands what it got to a pure decision function. It may raise
`CheckAbort` anywhere to end with a given status. Whatever happens, `run_check` returns a CheckResult: never a
traceback as the only output, never a hang past the deadline.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runbook.catalog import CATALOG, CheckSpec
from runbook.config.models import RunbookConfig
from runbook.google.calls import CallCounter, Deadline, DeadlinePassed, call_api, http_status, is_transient
from runbook.google.clients import VIEWER_ROLES, GoogleClients
from runbook.interruption import ChecksStopped, stop_reason
from runbook.results import CheckResult, Status

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    """What a pure decision function concludes; the check's context turns it into a CheckResult."""

    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: str = ""


class CheckAbort(Exception):
    """End the check now with this status (raised by bodies and by `CheckContext.call`)."""

    def __init__(
        self,
        status: Status,
        summary: str,
        evidence: dict[str, Any] | None = None,
        remediation: str = "",
        http_status: int | None = None,
    ) -> None:
        super().__init__(summary)
        self.status = status
        self.summary = summary
        self.evidence = evidence or {}
        self.remediation = remediation
        self.http_status = http_status


def _short(error: BaseException, limit: int = 300) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


class CheckContext:
    """What a check body gets: the config, the clients, the deadline, and a safe way to call an API."""

    def __init__(self, spec: CheckSpec, config: RunbookConfig, clients: GoogleClients | None) -> None:
        self.spec = spec
        self.config = config
        self._clients = clients
        self.deadline = Deadline(config.check_deadline(spec.id))
        self.timeout = config.call_timeout(spec.id)
        self.counter = CallCounter()
        self.started = time.monotonic()

    @property
    def clients(self) -> GoogleClients:
        if self._clients is None:
            raise RuntimeError(f"check {self.spec.id} needs Google clients but none were given")
        return self._clients

    async def call(
        self, api: str, what: str, fn: Callable[..., T], /, *args: Any, role: str | None = None, **kwargs: Any
    ) -> T:
        """Call `fn` (a Google client method) for `what` on `api`; API failures become CheckAbort.

        `role` names the IAM role a 403 should ask for when it is not `api`'s viewer role (e.g. a write).
        """
        sent = CallCounter(parent=self.counter)  # this call's requests: what its summary reports
        try:
            return await call_api(fn, *args, deadline=self.deadline, timeout=self.timeout, counter=sent, **kwargs)
        except DeadlinePassed as error:
            raise no_answer(api, what, f"{error} (after {sent.attempts} attempt(s))", sent.attempts) from None
        except Exception as error:  # every other failure is classified, never re-raised as a traceback
            raise classify_api_error(api, what, error, sent.attempts, self.config.gcp.project, role) from None

    def no_answer(self, api: str, what: str, detail: str, attempts: int | None = None) -> "CheckAbort":
        """ERROR: `api` gave no answer for `what` within this check's deadline (for reads shared between checks)."""
        return no_answer(api, what, detail, attempts)

    async def call_optional(self, api: str, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
        """Like `call`, but a 404 answers None (the caller decides what absence means)."""
        try:
            return await self.call(api, what, fn, *args, **kwargs)
        except CheckAbort as abort:
            if abort.http_status == 404:
                return None
            raise

    async def poll(
        self,
        current: T,
        fetch: Callable[[], Awaitable[T]],
        settled: Callable[[T], bool],
        *,
        first_s: float = 0.5,
        max_s: float = 5.0,
        reserve_s: float = 1.0,
    ) -> tuple[T, float]:
        """Re-read with exponential backoff until `settled(current)` or the deadline leaves no room for a call.

        `reserve_s` stays free after the last sleep for the last read. Returns the last answer and the time waited.
        """
        started = time.monotonic()
        delay = first_s
        while not settled(current):
            pause = min(delay, self.deadline.remaining - reserve_s)
            if pause <= 0.05:
                break
            await asyncio.sleep(pause)
            current = await fetch()
            delay = min(delay * 2, max_s)
        return current, time.monotonic() - started

    def result(
        self, status: Status, summary: str, evidence: dict[str, Any] | None = None, remediation: str = ""
    ) -> CheckResult:
        return CheckResult(
            id=self.spec.id,
            title=self.spec.title,
            phase=self.spec.phase,
            severity=self.spec.severity,
            status=status,
            summary=summary,
            evidence=evidence or {},
            remediation=remediation,
            attempts=max(self.counter.attempts, 1),
            duration_s=time.monotonic() - self.started,
        )

    def finish(self, finding: Finding) -> CheckResult:
        return self.result(finding.status, finding.summary, finding.evidence, finding.remediation)


def no_answer(api: str, what: str, detail: str, attempts: int | None = None) -> CheckAbort:
    """ERROR: `api` did not answer for `what` within the check's deadline (`detail` says how it ended).

    `attempts`: the requests sent for `what`, when known.
    """
    evidence: dict[str, Any] = {"api": api, "resource": what}
    if attempts is not None:
        evidence["attempts"] = attempts
    return CheckAbort(
        Status.ERROR,
        f"{api} gave no answer for {what}: {detail}",
        evidence,
        f"Check the {api} API's status and the network path to it; rerun when it answers.",
    )


def _unparseable(error: BaseException) -> bool:
    from google.protobuf.json_format import ParseError

    return isinstance(error, ValueError | json.JSONDecodeError | TypeError | KeyError | ParseError)


def classify_api_error(
    api: str, what: str, error: BaseException, attempts: int, project: str, role: str | None = None
) -> CheckAbort:
    """403 -> ERROR naming the role; 404 -> FAIL naming the resource; transient after retries -> ERROR."""
    status = http_status(error)
    detail = _short(error)
    evidence: dict[str, Any] = {"api": api, "resource": what, "http_status": status, "error": detail}
    if status == 403:
        role = role or VIEWER_ROLES.get(api, "a viewer role")
        return CheckAbort(
            Status.ERROR,
            f"permission denied reading {what} ({api}): {detail}",
            evidence,
            f"Grant the runbook's identity {role}: gcloud projects add-iam-policy-binding {project} "
            f"--member=serviceAccount:RUNBOOK_SA --role={role}",
            http_status=403,
        )
    if status == 404:
        return CheckAbort(Status.FAIL, f"{what} not found ({api})", evidence, f"Create {what} or fix its name.", 404)
    if status == 401:
        return CheckAbort(
            Status.ERROR,
            f"not authenticated to {api}: {detail}",
            evidence,
            "Refresh credentials: gcloud auth application-default login (or check the service account key).",
            401,
        )
    if is_transient(error):
        return CheckAbort(
            Status.ERROR,
            f"{api} kept failing for {what} after {attempts} attempt(s): {detail}",
            {**evidence, "attempts": attempts},
            f"Transient {api} errors outlasted the deadline; check https://status.cloud.google.com and rerun.",
            status,
        )
    if _unparseable(error):
        return CheckAbort(
            Status.ERROR,
            f"unparseable answer from {api} for {what}: {detail}",
            {**evidence, "error_type": type(error).__name__},
            f"The {api} API returned something the client cannot read; rerun, and report it if it persists.",
            status,
        )
    return CheckAbort(
        Status.ERROR,
        f"{api} call for {what} failed: {type(error).__name__}: {detail}",
        {**evidence, "error_type": type(error).__name__},
        f"Investigate the {api} error above; rerun when resolved.",
        status,
    )


STOP_POLL_S = 0.1  # how often a check under way looks whether the run was interrupted (`runbook.interruption`)


async def within_deadline(deadline: Deadline, work: Awaitable[T], grace_s: float = 0.5) -> T:
    """Await `work`, cancelling it once `deadline` (plus a grace for the last answer) has passed: TimeoutError.

    The cap moves with the deadline: time the check spent waiting for a client library to load is credited to it
    (`Deadline.exclude`, possibly from another thread), so the cap is checked again rather than fixed up front.
    A run interrupted meanwhile (`runbook.interruption.stop_checks`) cancels the work within STOP_POLL_S:
    ChecksStopped.
    """
    task = asyncio.ensure_future(work)
    try:
        while True:
            left = deadline.seconds + grace_s - deadline.elapsed
            done, _ = await asyncio.wait({task}, timeout=max(0.0, min(left, STOP_POLL_S)))
            if done:
                return task.result()
            reason = stop_reason()
            if reason is not None or deadline.seconds + grace_s - deadline.elapsed <= 0:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if reason is not None:
                    raise ChecksStopped(reason)
                raise TimeoutError(f"deadline of {deadline.seconds:g} s passed")
    finally:
        if not task.done():  # we were cancelled ourselves: do not leave the check running
            task.cancel()


def skipped(spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(
        id=spec.id,
        title=spec.title,
        phase=spec.phase,
        severity=spec.severity,
        status=Status.SKIPPED,
        summary=reason,
        attempts=0,
    )


async def run_check(
    check_id: str,
    config: RunbookConfig,
    clients: GoogleClients | None,
    body: Callable[[CheckContext], Awaitable[CheckResult]],
) -> CheckResult:
    """Run a check body under its hard deadline; always return a CheckResult."""
    spec = CATALOG[check_id]
    if not config.check_enabled(check_id):
        return skipped(spec, f"disabled in configuration ([checks.{check_id}] enabled = false)")
    reason = stop_reason()
    if reason is not None:  # the run was interrupted before this check started: it does not start
        raise ChecksStopped(reason)
    ctx = CheckContext(spec, config, clients)
    try:
        return await within_deadline(ctx.deadline, body(ctx))
    except ChecksStopped:
        raise  # not a result: the check did not decide, and its task run ends Cancelled (runbook.check_task)
    except CheckAbort as abort:
        return ctx.result(abort.status, abort.summary, abort.evidence, abort.remediation)
    except TimeoutError:
        return ctx.result(
            Status.ERROR,
            f"deadline of {ctx.deadline.seconds:g} s passed before the check could decide",
            {"deadline_s": ctx.deadline.seconds, "attempts": ctx.counter.attempts},
            f"Rerun; if it persists, find what is slow or raise [checks.{check_id}] deadline_s.",
        )
    except Exception as error:  # a bug or an unexpected answer: reported, not a traceback
        return ctx.result(
            Status.ERROR,
            f"unexpected {type(error).__name__}: {_short(error)}",
            {"error_type": type(error).__name__},
            "This is unexpected; rerun with --verbose and report it with the output.",
        )
