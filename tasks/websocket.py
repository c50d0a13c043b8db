"""The golden path's client side: a token from the auth service, and a session on the backend's WebSocket `/ws`.

Token acquisition has two modes (`[golden_path] auth`): `login` posts the test user's email and password (from an
environment variable) to `/auth/login`; `e2e-bypass` posts to `/auth/e2e/test-auth` with the bypass key, read from
Secret Manager (the product's only secret payload read) or a Prefect Secret block. The key, the password and the
token are held as `SecretStr` and never logged, put in evidence, summaries or exception messages.

The WebSocket session records every frame as an `Event` (type, ms since a reference point, data), including
pseudo-events for a malformed frame, the connection closing, and the deadline passing in silence, so the
pure decision functions in `tasks/golden_path.py` see exactly what happened.
"""

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from runbook.checks import CheckAbort, CheckContext, Finding
from runbook.config.env_values import env_state
from runbook.config.models import GoldenPathConfig, RunbookConfig
from runbook.results import Status
from tasks.http_health import describe_transport_error, send_with_retries

# websockets logs handshake headers (the Authorization token) at DEBUG: give it a logger that never does.
_WIRE_LOGGER = logging.getLogger("runbook.websocket.wire")
_WIRE_LOGGER.setLevel(logging.INFO)

MALFORMED = "malformed_frame"  # a text frame that is not a JSON object
CLOSED = "connection_closed"  # the server closed the connection (data: code, reason)
SILENCE = "deadline_passed"  # nothing more arrived before the deadline
TEXT_SHOWN = 80
CLOSE_TIMEOUT_S = 0.5  # closing must not eat the check's deadline: the verdict is already known
E2E_USER_NAME = "Staging Runbook E2E"


@dataclass(frozen=True)
class Event:
    """One thing the WebSocket did: a server event, or one of the pseudo-events above."""

    type: str
    t_ms: float
    data: dict[str, Any]


@dataclass(frozen=True)
class Credentials:
    """What the auth service needs for a token. `secret` is the password or the bypass key."""

    mode: str  # login | e2e-bypass
    email: str
    secret: SecretStr
    source: str  # where the secret came from, for messages: env var, secret or block name


# --- URLs ------------------------------------------------------------------------------------------------------


def websocket_url(backend_url: str, path: str) -> str:
    """`https://host/base` + `/ws` -> `wss://host/base/ws` (http -> ws)."""
    base = backend_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + "/" + path.lstrip("/")


def service_url(config: RunbookConfig, role: str) -> str:
    service = config.service(role)
    if service is None:
        raise CheckAbort(
            Status.ERROR,
            f"no service with role {role!r} in the configuration; the golden path needs it",
            remediation=f"Add a [[services]] entry with role = {role!r} to the environment file.",
        )
    return service.url.rstrip("/")


# --- credentials -----------------------------------------------------------------------------------------------


async def read_credentials(ctx: CheckContext) -> Credentials:
    """The test user's password or the E2E bypass key, from wherever the configuration says."""
    golden = ctx.config.golden_path
    if golden.auth == "login":
        return _password_from_env(golden)
    if golden.bypass_key_block:
        return await _key_from_block(golden.bypass_key_block, golden.email, ctx.timeout)
    return await _key_from_secret_manager(ctx, golden)


class CredentialCache:
    """The test user's credentials, read once per phase and shared by its checks (golden path, then performance).

    So the E2E key's payload is read once per phase. Held in memory only (a SecretStr), never in a parameter that
    Prefect records, never printed: the repr says only whether it is filled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the checks run in different threads, each with its own event loop
        self._credentials: Credentials | None = None

    def __repr__(self) -> str:
        return f"CredentialCache({'filled' if self._credentials else 'empty'})"

    async def get(self, ctx: CheckContext) -> Credentials:
        with self._lock:
            if self._credentials is not None:
                return self._credentials
        credentials = await read_credentials(ctx)
        with self._lock:
            self._credentials = self._credentials or credentials
            return self._credentials


async def credentials_for(ctx: CheckContext, cache: CredentialCache | None) -> Credentials:
    """From the phase's cache when there is one, else read now."""
    return await cache.get(ctx) if cache is not None else await read_credentials(ctx)


def _password_from_env(golden: GoldenPathConfig) -> Credentials:
    name = golden.password_env or ""
    value = os.environ.get(name, "")
    if not value:
        raise CheckAbort(
            Status.ERROR,
            f"environment variable {name} (the test user's password) {env_state(name)}",
            {"auth": "login", "password_env": name},
            f"Export {name} with the password of {golden.email} before running, or use auth = 'e2e-bypass'.",
        )
    return Credentials("login", golden.email, SecretStr(value), f"env {name}")


async def _key_from_block(block: str, email: str, timeout_s: float) -> Credentials:
    from prefect.blocks.system import Secret

    try:
        async with asyncio.timeout(timeout_s):
            loaded: Any = await Secret.aload(block)
        value = loaded.get()
    except TimeoutError:
        raise CheckAbort(
            Status.ERROR,
            f"Prefect did not return Secret block {block!r} within {timeout_s:g} s",
            {"auth": "e2e-bypass", "bypass_key_block": block},
            "Check that the Prefect API is reachable (PREFECT_API_URL) and rerun.",
        ) from None
    except (ValueError, KeyError) as error:  # Prefect raises ValueError for a missing block
        raise CheckAbort(
            Status.ERROR,
            f"Prefect Secret block {block!r} could not be loaded ({type(error).__name__})",
            {"auth": "e2e-bypass", "bypass_key_block": block},
            f"Create it: prefect block create secret (name {block!r}) holding the E2E bypass key.",
        ) from None
    if not isinstance(value, str) or not value:
        raise CheckAbort(
            Status.ERROR,
            f"Prefect Secret block {block!r} holds no text value",
            {"auth": "e2e-bypass", "bypass_key_block": block},
            f"Store the E2E bypass key as a string in the Secret block {block!r}.",
        )
    return Credentials("e2e-bypass", email, SecretStr(value), f"block {block}")


async def _key_from_secret_manager(ctx: CheckContext, golden: GoldenPathConfig) -> Credentials:
    secret_id = golden.bypass_key_secret or ""
    project = ctx.config.gcp.project
    name = f"projects/{project}/secrets/{secret_id}/versions/latest"
    try:
        response = await ctx.call(
            "secretmanager",
            f"secret {secret_id} (latest version)",
            ctx.clients.secretmanager.access_secret_version,
            name=name,
        )
    except CheckAbort as abort:
        if abort.http_status == 403:  # reading a payload needs more than the viewer role the generic message names
            raise CheckAbort(
                Status.ERROR,
                f"permission denied reading the payload of secret {secret_id} (the E2E bypass key)",
                {"api": "secretmanager", "resource": secret_id, "http_status": 403},
                f"gcloud secrets add-iam-policy-binding {secret_id} --project {project} "
                "--member=serviceAccount:RUNBOOK_SA --role=roles/secretmanager.secretAccessor",
                403,
            ) from None
        raise
    try:
        value = bytes(response.payload.data).decode("utf-8").strip()
    except (AttributeError, UnicodeDecodeError):
        value = ""
    if not value:
        raise CheckAbort(
            Status.FAIL,
            f"secret {secret_id} has an empty or non-text latest version; the E2E bypass key is missing",
            {"api": "secretmanager", "resource": secret_id},
            f"Add the key: gcloud secrets versions add {secret_id} --project {project} --data-file=FILE",
        )
    return Credentials("e2e-bypass", golden.email, SecretStr(value), f"secret {secret_id}")


# --- token -----------------------------------------------------------------------------------------------------


def decide_token_answer(credentials: Credentials, status_code: int, body: Any, auth_service: str) -> str | Finding:
    """The access token from the auth service's answer, or the Finding explaining why there is none.

    401 -> FAIL (credentials rejected); 403 -> FAIL (test login disabled); 503 -> FAIL for the bypass (key not
    configured on the service) and ERROR for login (service unavailable); any other non-200 or a body without a
    token -> ERROR. No message contains the credentials or the token.
    """
    endpoint = "/auth/login" if credentials.mode == "login" else "/auth/e2e/test-auth"
    evidence = {"endpoint": endpoint, "http_status": status_code, "auth": credentials.mode}
    detail = body.get("detail") if isinstance(body, dict) and isinstance(body.get("detail"), str) else None
    said = f" ({detail[:TEXT_SHOWN]})" if detail else ""
    logs = f"gcloud run services logs read {auth_service} --limit 50"
    if status_code == 200:
        token = body.get("access_token") if isinstance(body, dict) else None
        if isinstance(token, str) and token:
            return token
        return Finding(
            Status.ERROR,
            f"{endpoint} answered 200 without an access_token",
            evidence,
            f"The auth service's answer changed shape; check its version and {logs}",
        )
    if status_code == 401:
        if credentials.mode == "login":
            fix = f"Check the test user {credentials.email} exists with the password in {credentials.source}."
        else:
            fix = (
                f"The key in {credentials.source} does not match the auth service's E2E_OAUTH_SIMULATION_KEY: "
                "make the service mount the same secret version (gcloud run services describe "
                f"{auth_service}) and redeploy."
            )
        return Finding(
            Status.FAIL, f"{endpoint} rejected the credentials from {credentials.source}: 401{said}", evidence, fix
        )
    if status_code == 403:
        return Finding(
            Status.FAIL,
            f"{endpoint} refused the test login: 403{said} (is the service running with ENVIRONMENT=production?)",
            evidence,
            f"Test logins are disabled in production; check ENVIRONMENT of {auth_service} and {logs}",
        )
    if status_code == 503 and credentials.mode == "e2e-bypass":
        return Finding(
            Status.FAIL,
            f"{endpoint} answered 503{said}: the auth service has no E2E bypass key configured (or is down)",
            evidence,
            f"Mount the key: gcloud run services update {auth_service} "
            "--update-secrets=E2E_OAUTH_SIMULATION_KEY=e2e-oauth-simulation-key-staging:latest; then " + logs,
        )
    return Finding(
        Status.ERROR,
        f"{endpoint} answered HTTP {status_code}{said}; expected 200 with an access_token",
        evidence,
        f"Check the auth service: {logs}",
    )


async def request_token(ctx: CheckContext, client: httpx.AsyncClient, credentials: Credentials) -> SecretStr:
    """One token from the auth service (retrying connection errors and 502/503/504 within the deadline)."""
    auth_url = service_url(ctx.config, "auth")
    auth = ctx.config.service("auth")
    auth_name = auth.name if auth else "AUTH_SERVICE"
    timeout_s = ctx.config.timeouts.e2e_s
    if credentials.mode == "login":
        url = auth_url + "/auth/login"
        kwargs: dict[str, Any] = {
            "json": {"email": credentials.email, "password": credentials.secret.get_secret_value()}
        }
    else:
        url = auth_url + "/auth/e2e/test-auth"
        kwargs = {
            "json": {"email": credentials.email, "name": E2E_USER_NAME, "permissions": ["read", "write"]},
            "headers": {"X-E2E-Bypass-Key": credentials.secret.get_secret_value()},
        }
    try:
        response = await send_with_retries(
            client, "POST", url, timeout_s=timeout_s, deadline=ctx.deadline, counter=ctx.counter, **kwargs
        )
    except (httpx.TransportError, TimeoutError) as error:
        raise CheckAbort(
            Status.ERROR,
            f"auth service {auth_name} gave no token: {describe_transport_error(error, timeout_s)}",
            {"endpoint": url.removeprefix(auth_url), "auth": credentials.mode},
            f"Check that {auth_name} is up: gcloud run services logs read {auth_name} --limit 50",
        ) from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    outcome = decide_token_answer(credentials, response.status_code, body, auth_name)
    if isinstance(outcome, Finding):
        raise CheckAbort(outcome.status, outcome.summary, outcome.evidence, outcome.remediation)
    return SecretStr(outcome)


# --- WebSocket -------------------------------------------------------------------------------------------------


def parse_frame(frame: str | bytes, t_ms: float) -> Event:
    """A server frame as an Event; a non-JSON or non-object frame becomes a MALFORMED event quoting its start."""
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return Event(MALFORMED, t_ms, {"text": text[:TEXT_SHOWN]})
    data = message.get("data")
    if isinstance(data, dict):
        payload = dict(data)
        for key in ("error_code", "message", "error"):  # error frames carry these at the top level
            if key in message and key not in payload:
                payload[key] = message[key]
    else:  # connection_established and error frames keep their fields at the top level
        payload = {key: value for key, value in message.items() if key != "type"}
    return Event(message["type"], t_ms, payload)


class WebSocketSession:
    """An open `/ws` connection that records what the server sends, with times relative to `t0`."""

    def __init__(self, connection: ClientConnection, opened: float) -> None:
        self.connection = connection
        self.t0 = opened

    def now_ms(self) -> float:
        return round((time.monotonic() - self.t0) * 1000, 1)

    async def send_json(self, message: dict[str, Any]) -> None:
        """Send one JSON message; from now on event times count from this send."""
        await self.connection.send(json.dumps(message))
        self.t0 = time.monotonic()

    async def collect(self, wait_s: float, done: Callable[[Event], bool]) -> list[Event]:
        """Events until `done(event)`, the connection closes, or `wait_s` passes (then a SILENCE event ends it).

        Times are ms since the connection was opened, or since the last `send_json`.
        """
        events: list[Event] = []
        end = time.monotonic() + max(0.0, wait_s)
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                events.append(Event(SILENCE, self.now_ms(), {"waited_s": round(wait_s, 1)}))
                return events
            try:
                async with asyncio.timeout(remaining):
                    frame = await self.connection.recv()
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                reason = closed.rcvd.reason if closed.rcvd else ""
                events.append(Event(CLOSED, self.now_ms(), {"code": code, "reason": reason[:TEXT_SHOWN]}))
                return events
            event = parse_frame(frame, self.now_ms())
            events.append(event)
            if done(event):
                return events


class HandshakeRefused(Exception):
    """The WebSocket upgrade failed; the message says how (never with the token)."""

    def __init__(self, message: str, status: Status, http_status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = http_status


@asynccontextmanager
async def open_websocket(url: str, token: SecretStr, open_timeout_s: float) -> AsyncIterator[WebSocketSession]:
    """Open `/ws` with the token in `Authorization: Bearer` and the `jwt.TOKEN` subprotocol.

    Raises HandshakeRefused when the server refuses the upgrade or cannot be reached within `open_timeout_s`.
    """
    value = token.get_secret_value()
    started = time.monotonic()
    try:
        connection = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {value}"},
            subprotocols=[Subprotocol(f"jwt.{value}")],
            open_timeout=open_timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
            logger=_WIRE_LOGGER,
        )
    except InvalidStatus as error:
        code = error.response.status_code
        raise HandshakeRefused(f"the backend refused the WebSocket upgrade: HTTP {code}", Status.FAIL, code) from None
    except TimeoutError:
        raise HandshakeRefused(f"no WebSocket handshake within {open_timeout_s:g} s", Status.FAIL) from None
    except (InvalidURI, InvalidHandshake, OSError) as error:
        raise HandshakeRefused(f"could not open the WebSocket: {type(error).__name__}", Status.ERROR) from None
    try:
        yield WebSocketSession(connection, started)
    finally:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S + 0.2):
                await connection.close()
        except (TimeoutError, OSError, ConnectionClosed):
            pass
