"""The golden path, user login -> AI response: the `websocket-handshake` and `golden-path` checks.

A run gets a token from the auth service (`tasks/websocket.py`), opens the backend's `/ws`, waits for
`connection_established`, sends one `user_message` and records every event until agent_completed, agent_error,
the connection closing or the deadline. Pure functions decide: `decide_handshake` over the frames before the
message, `decide_golden_path` over the events after it (times in ms since the send).

Modes (`[golden_path] mode`): `strict` needs all five events in order; `lenient` is the platform's own staging
test: at least two of agent_started/agent_thinking/agent_completed, a final agent_completed and non-empty content.
"""

import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from tasks.websocket import (
    CLOSED,
    MALFORMED,
    SILENCE,
    CredentialCache,
    Credentials,
    Event,
    HandshakeRefused,
    credentials_for,
    open_websocket,
    read_credentials,
    request_token,
    websocket_url,
)

GOLDEN_PATH_EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
LENIENT_CORE = ("agent_started", "agent_thinking", "agent_completed")
TERMINAL = frozenset({"agent_completed", "agent_error", "error"})
POLICY_VIOLATION = 1008
DECIDE_MARGIN_S = 1.0  # stop waiting this long before the check's deadline: close, decide, report
Mode = Literal["strict", "lenient"]


# --- decision --------------------------------------------------------------------------------------------------


def timeline(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Events as evidence: type and time, plus what matters for pseudo-events and errors (never tokens)."""
    rows: list[dict[str, Any]] = []
    for event in events:
        row: dict[str, Any] = {"type": event.type, "t_ms": event.t_ms}
        for key in ("code", "reason", "text", "error", "error_code", "waited_s"):
            if key in event.data:
                row[key] = event.data[key]
        rows.append(row)
    return rows


def _names(events: Sequence[Event]) -> str:
    return ", ".join(f"{e.type} @{e.t_ms:.0f} ms" for e in events) or "nothing"


def _rejection(events: Sequence[Event]) -> str | None:
    """`AUTH_FAILED (message), close 1008` when the server rejected the token, else None."""
    auth_error = next((e for e in events if e.type == "error" and e.data.get("error_code") == "AUTH_FAILED"), None)
    closed = next((e for e in events if e.type == CLOSED), None)
    if auth_error is None and (closed is None or closed.data.get("code") != POLICY_VIOLATION):
        return None
    parts = []
    if auth_error is not None:
        parts.append(f"AUTH_FAILED ({auth_error.data.get('message', '')})")
    if closed is not None:
        parts.append(f"close {closed.data.get('code')}")
    return ", ".join(parts)


def _auth_remediation(backend: str) -> str:
    return (
        "The backend rejected a token its own auth service issued: backend and auth must share the JWT secret "
        f"(jwt-secret-staging, same version). Compare: gcloud run services describe {backend} and the auth service; "
        "redeploy the one that is behind."
    )


def decide_handshake(events: Sequence[Event], wait_s: float, logs: str, backend: str) -> Finding:
    """Decide `websocket-handshake` from the frames received after the WebSocket opened (ms since opening).

    PASS when connection_established arrived; FAIL for AUTH_FAILED / close 1008 (token rejected), any other close,
    a malformed frame, or silence for `wait_s`.
    """
    evidence: dict[str, Any] = {"frames": timeline(events), "wait_s": round(wait_s, 1)}
    established = next((e for e in events if e.type == "connection_established"), None)
    if established is not None:
        evidence["connection_established_ms"] = established.t_ms
        advertised = established.data.get("golden_path_events")
        if isinstance(advertised, list):
            evidence["golden_path_events"] = advertised
        return Finding(
            Status.PASS, f"/ws accepted the token: connection_established after {established.t_ms:.0f} ms", evidence
        )
    rejection = _rejection(events)
    if rejection:
        return Finding(Status.FAIL, f"/ws rejected a valid token: {rejection}", evidence, _auth_remediation(backend))
    malformed = next((e for e in events if e.type == MALFORMED), None)
    if malformed is not None:
        return Finding(
            Status.FAIL,
            f"/ws sent a malformed (non-JSON) frame instead of connection_established: {malformed.data.get('text')!r}",
            evidence,
            f"The backend's WebSocket sends broken frames; look for serialization errors: {logs}",
        )
    closed = next((e for e in events if e.type == CLOSED), None)
    if closed is not None:
        return Finding(
            Status.FAIL,
            f"/ws closed with code {closed.data.get('code')} before connection_established (seen: {_names(events)})",
            evidence,
            f"Check the backend's WebSocket errors: {logs}",
        )
    return Finding(
        Status.FAIL,
        f"no connection_established within {wait_s:.1f} s (seen: {_names(events[:-1])}, then silence)",
        evidence,
        f"The backend accepted the connection but never greeted it; check its WebSocket handler: {logs}",
    )


def result_text(data: dict[str, Any]) -> str:
    """The answer carried by agent_completed: `data.result` (or `content`/`response`), as text; '' when empty."""
    for key in ("result", "content", "response"):
        value = data.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else ("" if not value else str(value))
        if text.strip():
            return text
    return ""


def _order_problem(names: Sequence[str]) -> str | None:
    """`tool_completed before tool_executing` when the golden-path events came out of order, else None."""
    firsts = [name for i, name in enumerate(names) if name in GOLDEN_PATH_EVENTS and name not in names[:i]]
    for earlier, later in itertools.pairwise(firsts):
        if GOLDEN_PATH_EVENTS.index(earlier) > GOLDEN_PATH_EVENTS.index(later):
            return f"{later} arrived after {earlier}"
    return None


def decide_golden_path(
    events: Sequence[Event], mode: Mode, wait_s: float, logs: str, backend: str = "the backend"
) -> Finding:
    """Decide `golden-path` from the events received after the user_message (ms since the send).

    FAIL, each naming what was seen: agent_error (with its error), a token rejected (AUTH_FAILED / close 1008), any
    other close, a malformed (non-JSON) frame, no agent_completed within `wait_s` (silence or missing events),
    an empty result; in strict mode also a missing event or one out of order; in lenient mode fewer than two of
    agent_started/agent_thinking/agent_completed. Otherwise PASS.
    """
    agent = [e for e in events if e.type not in (SILENCE, CLOSED, MALFORMED)]
    names = [e.type for e in agent]
    missing = [name for name in GOLDEN_PATH_EVENTS if name not in names]
    first = agent[0].t_ms if agent else None
    evidence: dict[str, Any] = {
        "mode": mode,
        "events": timeline(events),
        "time_to_first_event_ms": first,
        "total_ms": events[-1].t_ms if events else 0.0,
        "missing": missing,
        "wait_s": round(wait_s, 1),
    }
    seen = f"seen: {_names([e for e in events if e.type != SILENCE])}"

    def fail(summary: str, remediation: str) -> Finding:
        return Finding(Status.FAIL, summary, evidence, remediation)

    error = next((e for e in agent if e.type == "agent_error"), None)
    if error is not None:
        message = error.data.get("error") or error.data.get("message") or "no error text"
        return fail(
            f"agent_error after {error.t_ms:.0f} ms: {message} ({seen})",
            f"The agent run failed; find it in the backend logs and check its LLM provider keys: {logs}",
        )
    rejection = _rejection(events)
    if rejection:
        return fail(f"the WebSocket rejected the token: {rejection} ({seen})", _auth_remediation(backend))
    server_error = next((e for e in agent if e.type == "error"), None)
    if server_error is not None:
        code = server_error.data.get("error_code", "error")
        return fail(
            f"the backend answered the user_message with {code}: {server_error.data.get('message', '')} ({seen})",
            f"The backend did not accept the message format; check its WebSocket protocol version: {logs}",
        )
    malformed = next((e for e in events if e.type == MALFORMED), None)
    if malformed is not None:
        return fail(
            f"malformed (non-JSON) frame at {malformed.t_ms:.0f} ms: {malformed.data.get('text')!r} ({seen})",
            f"The backend sent a frame no client can parse; look for serialization errors: {logs}",
        )
    completed = next((e for e in agent if e.type == "agent_completed"), None)
    closed = next((e for e in events if e.type == CLOSED), None)
    if completed is None and closed is not None:
        return fail(
            f"the WebSocket closed with code {closed.data.get('code')} before agent_completed ({seen})",
            f"The backend dropped the connection mid-run; check its logs and the load balancer's /ws timeout: {logs}",
        )
    if completed is None and not agent:
        return fail(
            f"silence: no agent event within {wait_s:.1f} s after the user_message",
            f"The backend accepted the message but no agent ran: check its agent workers, the LLM provider and {logs}",
        )
    if completed is None:
        return fail(
            f"no agent_completed within {wait_s:.1f} s ({seen}, then silence); missing {', '.join(missing)}",
            f"The agent is stuck or slow; find where it stopped in the backend logs: {logs}",
        )
    answer = result_text(completed.data)
    evidence["result_chars"] = len(answer)
    if answer:
        evidence["result_preview"] = answer[:120]
    else:
        return fail(
            f"agent_completed after {completed.t_ms:.0f} ms with an empty result ({seen})",
            f"The agent completed without an answer: check the LLM provider keys and the agent's output: {logs}",
        )
    if mode == "strict":
        if missing:
            return fail(
                f"{', '.join(missing)} missing from the golden path ({seen})",
                "The backend does not emit every golden-path event (the UI shows no progress without them); "
                f"check the agent's WebSocket notifications: {logs}",
            )
        disorder = _order_problem(names)
        if disorder:
            return fail(
                f"golden-path events out of order: {disorder} ({seen})",
                f"The backend emits agent events out of order; check its event notifier: {logs}",
            )
    else:
        core = [name for name in LENIENT_CORE if name in names]
        if len(core) < 2 or names[-1] != "agent_completed":
            return fail(
                f"lenient: expected at least two of {', '.join(LENIENT_CORE)} ending in agent_completed ({seen})",
                f"The backend emits too few agent events; check its agent notifications: {logs}",
            )
    tolerated = f" (lenient: {', '.join(missing)} not seen)" if missing else ""
    return Finding(
        Status.PASS,
        f"{len(agent)} golden-path events in {completed.t_ms:.0f} ms (first after {first:.0f} ms), "
        f"result of {len(answer)} characters{tolerated}",
        evidence,
    )


# --- I/O -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenPathRun:
    """One run of the golden path: the verdict and how long it took from the token request to the last event."""

    finding: Finding
    total_ms: float


def logs_command(config: RunbookConfig) -> str:
    backend = config.service("backend")
    name = backend.name if backend else "BACKEND_SERVICE"
    return (
        f"gcloud run services logs read {name} --region {config.gcp.region} --project {config.gcp.project} --limit 100"
    )


def _budget(ctx: CheckContext, end: float, cap_s: float) -> float:
    """Seconds a wait may take: at most `cap_s`, within the golden path's `end`, and before the check's deadline."""
    return max(0.0, min(cap_s, end - time.monotonic(), ctx.deadline.remaining - DECIDE_MARGIN_S))


async def run_golden_path(ctx: CheckContext, client: httpx.AsyncClient, credentials: Credentials) -> GoldenPathRun:
    """Token, WebSocket, user_message, events: one golden-path run within `golden_path_s` and the check's deadline.

    Raises CheckAbort when no token can be had (that is the auth service's verdict, not the golden path's).
    """
    config = ctx.config
    started = time.monotonic()
    end = started + config.timeouts.golden_path_s
    backend = config.service("backend")
    if backend is None:
        raise CheckAbort(Status.ERROR, "no service with role 'backend' in the configuration")
    logs = logs_command(config)
    token = await request_token(ctx, client, credentials)
    url = websocket_url(backend.url, config.golden_path.websocket_path)
    e2e_s = config.timeouts.e2e_s
    evidence: dict[str, Any] = {"websocket": url, "auth": credentials.mode}
    try:
        async with open_websocket(url, token, max(0.1, _budget(ctx, end, e2e_s))) as session:
            evidence["token_ms"] = round((session.t0 - started) * 1000, 1)
            hello_s = _budget(ctx, end, e2e_s)
            hello = await session.collect(hello_s, lambda e: e.type == "connection_established")
            handshake = decide_handshake(hello, hello_s, logs, backend.name)
            if handshake.status != Status.PASS:
                finding = Finding(
                    handshake.status,
                    f"handshake: {handshake.summary}",
                    {**evidence, **handshake.evidence},
                    handshake.remediation,
                )
                return GoldenPathRun(finding, (time.monotonic() - started) * 1000)
            evidence["connection_established_ms"] = round((time.monotonic() - started) * 1000, 1)
            thread_id = str(uuid.uuid4())
            message = {"type": "user_message", "data": {"message": config.golden_path.message, "thread_id": thread_id}}
            await session.send_json(message)
            wait_s = _budget(ctx, end, config.timeouts.golden_path_s)
            events = await session.collect(wait_s, lambda e: e.type in TERMINAL)
            total_ms = round((time.monotonic() - started) * 1000, 1)
    except HandshakeRefused as refused:
        finding = Finding(
            refused.status,
            f"handshake: {refused}",
            {**evidence, "http_status": refused.http_status},
            f"Check the backend's /ws route and the load balancer in front of it: {logs}",
        )
        return GoldenPathRun(finding, (time.monotonic() - started) * 1000)
    decided = decide_golden_path(events, config.golden_path.mode, wait_s, logs, backend.name)
    evidence |= {**decided.evidence, "thread_id": thread_id, "run_total_ms": total_ms}
    return GoldenPathRun(Finding(decided.status, decided.summary, evidence, decided.remediation), total_ms)


async def _golden_path(ctx: CheckContext, cache: CredentialCache | None) -> CheckResult:
    async with httpx.AsyncClient(follow_redirects=False) as client:
        credentials = await credentials_for(ctx, cache)
        run = await run_golden_path(ctx, client, credentials)
    return ctx.finish(run.finding)


async def _websocket_handshake(ctx: CheckContext) -> CheckResult:
    config = ctx.config
    backend = config.service("backend")
    if backend is None:
        raise CheckAbort(Status.ERROR, "no service with role 'backend' in the configuration")
    logs = logs_command(config)
    end = time.monotonic() + config.timeouts.e2e_s
    url = websocket_url(backend.url, config.golden_path.websocket_path)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        token = await request_token(ctx, client, await read_credentials(ctx))
    evidence: dict[str, Any] = {"websocket": url}
    try:
        async with open_websocket(url, token, max(0.1, _budget(ctx, end, config.timeouts.e2e_s))) as session:
            wait_s = _budget(ctx, end, config.timeouts.e2e_s)
            frames = await session.collect(wait_s, lambda e: e.type == "connection_established")
    except HandshakeRefused as refused:
        raise CheckAbort(
            refused.status,
            str(refused),
            {**evidence, "http_status": refused.http_status},
            f"Check the backend's /ws route and the load balancer's WebSocket support (timeout >= 600 s): {logs}",
        ) from None
    finding = decide_handshake(frames, wait_s, logs, backend.name)
    return ctx.finish(Finding(finding.status, finding.summary, {**evidence, **finding.evidence}, finding.remediation))


@check_task("websocket-handshake")
async def websocket_handshake(config: RunbookConfig, clients: GoogleClients) -> CheckResult:
    """P1 `websocket-handshake`: the backend's `/ws` accepts a valid token and greets with connection_established.

    Gets a token the way the golden path does, opens `/ws` (wss:// for an https backend) with it in
    `Authorization: Bearer` and the `jwt.TOKEN` subprotocol, and waits up to `e2e_s` for `connection_established`.
    Every AI response travels over this connection: a backend that rejects its own auth service's tokens (close
    1008) or never greets is down for users even when its health endpoints are green.

    Args:
        config: The environment (backend and auth services, golden_path credentials source, `e2e_s`).
        clients: Google clients; Secret Manager is read only when the bypass key comes from there.

    Returns:
        The CheckResult; evidence has the frames received with their times and connection_established_ms.

    Example:
        >>> result = await websocket_handshake.fn(load_config("local"), GoogleClients(config.gcp))  # doctest: +SKIP
    """
    return await run_check("websocket-handshake", config, clients, _websocket_handshake)


@check_task("golden-path")
async def golden_path(
    config: RunbookConfig, clients: GoogleClients, credentials: CredentialCache | None = None
) -> CheckResult:
    """P0 `golden-path`: a user logs in and gets an AI response over the WebSocket, with every agent event.

    Obtains a token (`/auth/login` or `/auth/e2e/test-auth` with the bypass key from Secret Manager or a Prefect
    Secret block, never logged), opens `/ws`, sends a `user_message` and requires agent_started, agent_thinking,
    tool_executing, tool_completed and agent_completed with a non-empty `data.result` within `golden_path_s`
    (`strict`: all five in order; `lenient`: the platform's own staging test). This is the product: the handoff
    is not done until it works end to end.

    Args:
        config: The environment (services, `[golden_path]`, `golden_path_s`, `e2e_s`).
        clients: Google clients; Secret Manager is read only when the bypass key comes from there.
        credentials: The phase's credential cache, shared with `performance` so the key is read once.

    Returns:
        The CheckResult; evidence has the events with their ms since the message, time to first event and total.

    Example:
        >>> result = await golden_path.fn(load_config("local"), GoogleClients(config.gcp))  # doctest: +SKIP
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _golden_path(ctx, credentials)

    return await run_check("golden-path", config, clients, body)
