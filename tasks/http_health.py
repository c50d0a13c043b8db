"""Health endpoints of the Netra services over HTTP: the `health-endpoints` check of the service restoration phase.

Every configured health path of every service, and the contract paths of its role (`CONTRACT_PATHS`), is
requested concurrently with httpx, each with the profile's timeout (`health_s` for basic probes, `readiness_s` for
readiness and infrastructure probes, which ping the database). Connection errors, timeouts and 502/503/504 are
retried a few times inside the check's deadline; 4xx never. Each answer (HTTP status and the body's `status`) goes
to `decide_endpoint`, and `decide_health` folds the verdicts into one Finding.

`send_with_retries` is also the HTTP call of the golden path's token request.
"""

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from runbook.check_task import check_task
from runbook.checks import CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.calls import CallCounter, Deadline
from runbook.google.clients import GoogleClients
from runbook.health_contract import AUTH_READY_PATH, probed_paths
from runbook.results import CheckResult, Status

CHECK_ID = "health-endpoints"
RETRY_STATUS = frozenset({502, 503, 504})
MAX_ATTEMPTS = 3
BASIC_OK = frozenset({"ok", "healthy", "ready"})
DEGRADED = "degraded"  # the platform's word for "works, something is off": WARN when answered with 200
INFRASTRUCTURE_PATHS = frozenset({"/health/infrastructure", "/health/database"})
TEXT_SHOWN = 120  # characters of an unexpected body quoted in a summary


# --- HTTP with bounded retries ---------------------------------------------------------------------------------


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter before attempt `attempt + 1`: about 0.25 s, 0.5 s, 1 s ..."""
    return min(4.0, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)


async def send_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout_s: float,
    deadline: Deadline,
    counter: CallCounter,
    max_attempts: int = MAX_ATTEMPTS,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request, retrying connection errors, timeouts and 502/503/504 within `deadline`.

    Each attempt is capped at `timeout_s` (and at what is left of the deadline), as a whole, not per socket
    operation. Returns the last response (a 503 after the retries is an answer worth reporting); raises the last
    `httpx.TransportError` or `TimeoutError` when no attempt got an answer. 4xx answers are returned at once.
    """
    attempt = 0
    while True:
        attempt += 1
        counter.attempts += 1
        if attempt > 1:
            counter.retried += 1
        per_call = min(timeout_s, deadline.remaining)
        if per_call <= 0:
            raise TimeoutError(f"deadline of {deadline.seconds:g} s passed before {method} {url}")
        try:
            async with asyncio.timeout(per_call):
                response = await client.request(method, url, timeout=per_call, **kwargs)
        except (httpx.TransportError, TimeoutError):
            if attempt >= max_attempts or deadline.remaining <= backoff_s(attempt) + 0.05:
                raise
        else:
            if response.status_code not in RETRY_STATUS or attempt >= max_attempts:
                return response
            if deadline.remaining <= backoff_s(attempt) + 0.05:
                return response
        await asyncio.sleep(backoff_s(attempt))


def describe_transport_error(error: BaseException, timeout_s: float) -> str:
    """A one-line description of a failed request (never includes headers)."""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, httpx.ConnectError):
        return f"connection failed ({type(error).__name__}: {error})"
    return f"{type(error).__name__}: {error}"


# --- what was observed -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointAnswer:
    """What one health endpoint answered (or that it did not)."""

    service: str
    role: str
    path: str
    status_code: int | None = None
    latency_ms: float | None = None
    body: Any = None  # the parsed JSON body
    text: str | None = None  # the raw body when it was not JSON
    error: str | None = None  # why there is no answer: connection failed, timeout
    attempts: int = 1

    @property
    def key(self) -> str:
        return f"{self.service}{self.path}"


@dataclass(frozen=True)
class EndpointVerdict:
    """decide_endpoint's conclusion about one endpoint."""

    status: Status
    problem: str  # empty when PASS
    evidence: dict[str, Any] = field(default_factory=dict)


def probe_timeout(path: str, config: RunbookConfig) -> float:
    """Readiness and infrastructure probes ping the database: they get `readiness_s`; basic ones `health_s`."""
    if path.endswith("/ready") or path in INFRASTRUCTURE_PATHS or path.endswith("/startup"):
        return config.timeouts.readiness_s
    return config.timeouts.health_s


# --- decision --------------------------------------------------------------------------------------------------


def _status_field(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("status"), str):
        return str(body["status"])
    return None


def _expected(answer: EndpointAnswer) -> str:
    if answer.path in INFRASTRUCTURE_PATHS:
        return "200 with status ok (degraded warns)"
    if answer.role == "auth" and answer.path == AUTH_READY_PATH:
        return "200 with status ready and database_status connected"
    if answer.path.endswith("/ready"):
        return "200 with status ready"
    return "200 with status ok"


def _found(answer: EndpointAnswer) -> str:
    parts = [f"HTTP {answer.status_code}"]
    status = _status_field(answer.body)
    if status:
        parts.append(f"status {status!r}")
    if isinstance(answer.body, dict):
        for key in ("database_status", "reason"):
            if key in answer.body:
                parts.append(f"{key} {answer.body[key]!r}")
    return ", ".join(parts)


def decide_endpoint(answer: EndpointAnswer) -> EndpointVerdict:
    """Decide one endpoint from its HTTP status *and* its body's `status` field.

    Rules: no answer -> ERROR; a non-JSON or non-object body -> FAIL naming expected vs found; `/health/infrastructure`
    (and `/health/database`): ok -> PASS, degraded -> WARN, critical/error -> FAIL, with the diagnostics as
    evidence; readiness paths need status "ready" (auth's also database_status "connected"); other paths need 200
    and status ok/healthy. On any path, 200 with status "degraded" is WARN (the service works, something is off)
    and any HTTP status other than 200 is FAIL whatever the body says.
    """
    evidence: dict[str, Any] = {"http_status": answer.status_code, "latency_ms": answer.latency_ms}
    if answer.attempts > 1:
        evidence["attempts"] = answer.attempts
    where = f"{answer.service} {answer.path}"
    if answer.status_code is None:
        evidence["error"] = answer.error
        return EndpointVerdict(Status.ERROR, f"{where}: {answer.error or 'no answer'}", evidence)
    if not isinstance(answer.body, dict):
        found = (answer.text or "")[:TEXT_SHOWN] if answer.body is None else json.dumps(answer.body)[:TEXT_SHOWN]
        evidence["body"] = found
        return EndpointVerdict(
            Status.FAIL,
            f"{where}: expected a JSON object ({_expected(answer)}), found HTTP {answer.status_code} {found!r}",
            evidence,
        )
    status = _status_field(answer.body)
    evidence["status"] = status
    status = status.strip().lower() if status else None  # "Degraded" and "DEGRADED" say the same thing
    if answer.path in INFRASTRUCTURE_PATHS:
        return _decide_infrastructure(answer, status, evidence)
    auth_ready = answer.role == "auth" and answer.path == AUTH_READY_PATH
    if auth_ready:
        evidence["database_status"] = answer.body.get("database_status")
    if answer.status_code == 200 and status == DEGRADED and answer.body.get("database_status") in (None, "connected"):
        return EndpointVerdict(Status.WARN, f"{where}: service reports status degraded ({_found(answer)})", evidence)
    if auth_ready:
        ok = answer.status_code == 200 and status == "ready" and answer.body.get("database_status") == "connected"
    elif answer.path.endswith("/ready"):
        ok = answer.status_code == 200 and status == "ready"
    else:
        ok = answer.status_code == 200 and status in BASIC_OK
    if ok:
        return EndpointVerdict(Status.PASS, "", evidence)
    return EndpointVerdict(Status.FAIL, f"{where}: expected {_expected(answer)}, found {_found(answer)}", evidence)


def _decide_infrastructure(answer: EndpointAnswer, status: str | None, evidence: dict[str, Any]) -> EndpointVerdict:
    diagnostics = answer.body.get("diagnostics") if isinstance(answer.body, dict) else None
    if diagnostics is not None:
        evidence["diagnostics"] = diagnostics
    where = f"{answer.service} {answer.path}"
    connections = diagnostics.get("database_connections", {}) if isinstance(diagnostics, dict) else {}
    detail = ", ".join(f"{k} {v}" for k, v in connections.items()) if isinstance(connections, dict) else ""
    detail = f" ({detail})" if detail else ""
    if status in ("critical", "error"):
        return EndpointVerdict(
            Status.FAIL, f"{where}: infrastructure {status}, HTTP {answer.status_code}{detail}", evidence
        )
    if answer.status_code != 200:
        return EndpointVerdict(Status.FAIL, f"{where}: expected {_expected(answer)}, found {_found(answer)}", evidence)
    if status == "ok":
        return EndpointVerdict(Status.PASS, "", evidence)
    if status == DEGRADED:
        return EndpointVerdict(Status.WARN, f"{where}: infrastructure degraded{detail}", evidence)
    return EndpointVerdict(
        Status.FAIL, f"{where}: expected status ok|degraded|critical|error, found {_found(answer)}", evidence
    )


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


def remediation_for(
    answers: Sequence[EndpointAnswer], verdicts: Sequence[EndpointVerdict], config: RunbookConfig
) -> str:
    """Concrete next steps for every service with a problem: its logs, and the database path when it is at fault."""
    steps: list[str] = []
    gcp = config.gcp
    for answer, verdict in zip(answers, verdicts, strict=True):
        if verdict.status == Status.PASS:
            continue
        logs = (
            f"gcloud run services logs read {answer.service} --region {gcp.region} --project {gcp.project} --limit 50"
        )
        if logs not in steps:
            steps.append(logs)
        database_at_fault = answer.path in INFRASTRUCTURE_PATHS or (
            isinstance(answer.body, dict) and answer.body.get("database_status") not in (None, "connected")
        )
        if database_at_fault:
            step = (
                f"check Cloud SQL and the connector path of {answer.service}: gcloud sql instances describe "
                f"{config.cloud_sql.instance} --project {gcp.project} (state, settings.activationPolicy), "
                f"gcloud compute networks vpc-access connectors describe {config.vpc_connector.name} "
                f"--region {gcp.region} --project {gcp.project}"
            )
            if step not in steps:
                steps.append(step)
    return "; ".join(steps)


def decide_health(answers: Sequence[EndpointAnswer], config: RunbookConfig) -> Finding:
    """Fold every endpoint's verdict into the check's Finding: the worst status, every problem in the summary.

    Evidence has one entry per endpoint (`service/path`): its HTTP status, latency_ms and status field.
    """
    if not answers:
        return Finding(Status.ERROR, "no health endpoints configured for any backend, auth or frontend service")
    verdicts = [decide_endpoint(answer) for answer in answers]
    evidence = {answer.key: verdict.evidence for answer, verdict in zip(answers, verdicts, strict=True)}
    worst = max((v.status for v in verdicts), key=lambda s: _RANK[s])
    problems = [v.problem for v in verdicts if v.status != Status.PASS]
    if worst == Status.PASS:
        slowest = max((a.latency_ms or 0.0) for a in answers)
        return Finding(Status.PASS, f"all {len(answers)} health endpoints healthy (slowest {slowest:.0f} ms)", evidence)
    summary = f"{len(problems)} of {len(answers)} health endpoints unhealthy: " + "; ".join(problems)
    return Finding(worst, summary, evidence, remediation_for(answers, verdicts, config))


# --- I/O -------------------------------------------------------------------------------------------------------


async def probe(client: httpx.AsyncClient, service: ServiceConfig, path: str, ctx: CheckContext) -> EndpointAnswer:
    """GET one health endpoint with retries; never raises for network failures (they become the answer)."""
    timeout_s = probe_timeout(path, ctx.config)
    counter = CallCounter()
    url = service.url.rstrip("/") + path
    try:
        response = await send_with_retries(
            client, "GET", url, timeout_s=timeout_s, deadline=ctx.deadline, counter=counter
        )
    except (httpx.TransportError, TimeoutError) as error:
        return EndpointAnswer(
            service.name,
            service.role,
            path,
            error=describe_transport_error(error, timeout_s),
            attempts=counter.attempts,
        )
    finally:
        ctx.counter.attempts += counter.attempts
        ctx.counter.retried += counter.retried
    latency_ms = round(response.elapsed.total_seconds() * 1000, 1)  # the answering attempt, not the retries
    try:
        body: Any = response.json()
        text = None
    except ValueError:
        body, text = None, response.text
    return EndpointAnswer(
        service.name, service.role, path, response.status_code, latency_ms, body, text, attempts=counter.attempts
    )


async def _health_endpoints(ctx: CheckContext) -> CheckResult:
    services = [s for s in ctx.config.services if s.role in ("backend", "auth", "frontend")]
    async with httpx.AsyncClient(follow_redirects=False) as client:
        answers = await asyncio.gather(
            *(probe(client, service, path, ctx) for service in services for path in probed_paths(service))
        )
    return ctx.finish(decide_health(answers, ctx.config))


@check_task(CHECK_ID)
async def health_endpoints(config: RunbookConfig, clients: GoogleClients | None = None) -> CheckResult:
    """P0 `health-endpoints`: the platform's services answer their health endpoints as healthy.

    Verifies every configured health path plus the Netra contract's (`CONTRACT_PATHS`, probed even when not
    configured), reading each body's `status`, not only the HTTP code: the backend's `/health` (ok), `/health/ready`
    (ready) and `/health/infrastructure` (degraded warns, critical/error fails, with the database diagnostics as
    evidence), the auth service's `/health` and `/health/ready` with `database_status` connected, and the
    frontend's `/health`. A 200 whose status says degraded warns on any path. This is the first sign of life
    after a restoration: the golden path and the WebSocket handshake depend on it, and a database the auth service
    cannot reach shows up here before any user does.

    Args:
        config: The environment; services, health paths and timeouts (`health_s`, `readiness_s`) come from it.
        clients: Unused (no Google API is read); accepted so every check task has the same signature.

    Returns:
        The CheckResult; evidence has each endpoint's HTTP status, latency_ms and status field.

    Example:
        >>> result = await health_endpoints.fn(load_config("local"), None)  # doctest: +SKIP
    """
    return await run_check(CHECK_ID, config, clients, _health_endpoints)
