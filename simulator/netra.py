"""The simulated Netra platform on Cloud Run: backend, auth service and frontend, under `/services/{service}`.

Paths and payloads follow reference/netra-staging.md. The `[netra]` table of a scenario is a `NetraState`; its
defaults are the healthy staging platform and every fault is a field, so faults compose. The state is read on
every request, so a test may change it while the simulator runs.
"""

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from simulator.google.secret_manager import SIM_E2E_BYPASS_KEY  # the payload of e2e-oauth-simulation-key-staging
from simulator.netra_tokens import TokenIssuer
from simulator.netra_ws import GOLDEN_PATH_EVENTS, WebSocketState, websocket_endpoint
from simulator.requestlog import RecordedRequest, RequestLog

__all__ = [
    "GOLDEN_PATH_EVENTS",
    "SIM_E2E_BYPASS_KEY",
    "HealthFault",
    "InfrastructureState",
    "NetraState",
    "NetraUser",
    "WebSocketState",
    "netra_routes",
]


HealthStatus = Literal["ok", "degraded", "critical", "error"]
ACCESS_TOKEN_SECONDS = 900
REFRESH_TOKEN_SECONDS = 7 * 24 * 3600

BACKEND_HEALTH_PATHS = (
    "/health",
    "/health/ready",
    "/health/live",
    "/health/startup",
    "/api/health/ready",
    "/health/database",
    "/health/infrastructure",
    "/ws/health",
)
AUTH_HEALTH_PATHS = ("/health", "/health/ready")
FRONTEND_HEALTH_PATHS = ("/health",)


class NetraUser(BaseModel):
    """The E2E test user that `POST /auth/login` accepts."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field("e2e-tester@netrasystems.ai", description="Login email (compared case-insensitively).")
    password: str = Field("sim-test-password-not-a-secret", description="Login password (a simulator value).")
    name: str = Field("E2E Tester", description="Display name returned in `user`.")
    user_id: str = Field("e2e-user-0001", description="User id carried by tokens and WebSocket events.")


class HealthFault(BaseModel):
    """A health endpoint that answers an error (and/or slowly) instead of its healthy answer."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="Service name (e.g. netra-auth-service) or role: backend, auth or frontend.")
    path: str = Field("/health", description="Health path to break, e.g. /health/ready; '*' breaks all of them.")
    status_code: int = Field(503, ge=200, le=599, description="HTTP status to answer.")
    body: dict[str, Any] | None = Field(
        None, description="JSON body to answer; default: the platform's own unhealthy answer for that path."
    )
    delay_seconds: float = Field(0, ge=0, le=3600, description="Extra delay before answering (a hang when large).")


class InfrastructureState(BaseModel):
    """What the backend's infrastructure-aware health endpoints report about its database connections."""

    model_config = ConfigDict(extra="forbid")

    status: HealthStatus = Field("ok", description="ok and degraded answer 200; critical and error answer 503.")
    http_status: int | None = Field(
        None, ge=200, le=599, description="HTTP status of /health/infrastructure; default: from `status` (above)."
    )
    success_rate: float = Field(1.0, ge=0, le=1, description="diagnostics.database_connections.success_rate.")
    average_connection_time: float = Field(
        0.045, ge=0, description="diagnostics.database_connections.average_connection_time, in seconds."
    )
    timeout_violations: int = Field(0, ge=0, description="diagnostics.database_connections.timeout_violations.")


class NetraState(BaseModel):
    """The `[netra]` table of a scenario. Defaults are the healthy staging platform."""

    model_config = ConfigDict(extra="forbid")

    backend_service: str = Field("netra-backend-staging", description="Cloud Run service name of the backend.")
    auth_service: str = Field("netra-auth-service", description="Cloud Run service name of the auth service.")
    frontend_service: str = Field("netra-frontend-staging", description="Cloud Run service name of the frontend.")
    user: NetraUser = Field(default_factory=NetraUser, description="The E2E test user.")
    e2e_bypass_configured: bool = Field(
        True, description="False: POST /auth/e2e/test-auth answers 503 (key not configured on the service)."
    )
    health_latency_ms: int = Field(0, ge=0, le=600_000, description="Latency added to every health endpoint.")
    health_faults: dict[str, HealthFault] = Field(
        default_factory=dict, description="Broken health endpoints, keyed by a free name so scenarios compose."
    )
    infrastructure: InfrastructureState = Field(
        default_factory=InfrastructureState, description="Backend infrastructure health and DB diagnostics."
    )
    websocket: WebSocketState = Field(default_factory=WebSocketState, description="Behaviour of the backend /ws.")

    def role_of(self, service: str) -> str | None:
        """backend, auth or frontend for a configured service name, else None."""
        roles = {self.backend_service: "backend", self.auth_service: "auth", self.frontend_service: "frontend"}
        return roles.get(service)


def _default_fault_body(role: str, path: str) -> dict[str, Any]:
    if path.endswith("/ready"):
        return {"status": "not_ready", "database_status": "disconnected", "reason": "Database connectivity failed"}
    if role == "auth":
        return {"status": "unhealthy", "reason": "Database connectivity failed"}
    return {"status": "unhealthy", "reason": "Service unavailable"}


def _healthy_answer(state: NetraState, role: str, path: str) -> tuple[int, dict[str, Any]]:
    if role == "auth":
        return 200, {"status": "ready", "database_status": "connected", "service": "auth-service"}
    if role == "frontend" or path == "/health":
        return 200, {"status": "ok"}
    if path == "/health/ready":
        return 200, {"status": "ready"}
    if path == "/ws/health":
        return 200, {"status": "ok", "websocket": "available", "golden_path_events": list(GOLDEN_PATH_EVENTS)}
    infra = state.infrastructure
    body = {
        "status": infra.status,
        "diagnostics": {
            "database_connections": {
                "success_rate": infra.success_rate,
                "average_connection_time": infra.average_connection_time,
                "timeout_violations": infra.timeout_violations,
            }
        },
    }
    default = 200 if infra.status in ("ok", "degraded") else 503
    return (infra.http_status or default), body


def _find_fault(state: NetraState, service: str, role: str, path: str) -> HealthFault | None:
    for fault in state.health_faults.values():
        if fault.service in (service, role) and fault.path in (path, "*"):
            return fault
    return None


def _user_id_for(email: str, state: NetraState) -> str:
    if email.lower() == state.user.email.lower():
        return state.user.user_id
    return "e2e-" + hashlib.sha256(email.lower().encode()).hexdigest()[:12]


class _NetraApp:
    """Request handlers sharing the state, the request log and the token issuer."""

    def __init__(self, state: NetraState, log: RequestLog, tokens: TokenIssuer) -> None:
        self.state = state
        self.log = log
        self.tokens = tokens

    async def dispatch(self, request: Request) -> Response:
        service = request.path_params["service"]
        path = "/" + request.path_params.get("path", "")
        body: Any = None
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"raw": raw[:200].decode("utf-8", errors="replace")}
        response = await self._answer(request, service, path, body)
        recorded = {k: ("***" if k == "password" else v) for k, v in body.items()} if isinstance(body, dict) else body
        self.log.record(
            RecordedRequest(
                api="netra",
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                body=recorded,
                status=response.status_code,
            )
        )
        return response

    async def _answer(self, request: Request, service: str, path: str, body: Any) -> Response:
        role = self.state.role_of(service)
        if role is None:
            return JSONResponse({"detail": f"Service {service!r} not found"}, status_code=404)
        health_paths = {"backend": BACKEND_HEALTH_PATHS, "auth": AUTH_HEALTH_PATHS}.get(role, FRONTEND_HEALTH_PATHS)
        if path in health_paths:
            if request.method != "GET":
                return JSONResponse({"detail": "Method Not Allowed"}, status_code=405)
            return await self._health(service, role, path)
        if role == "auth" and path in ("/auth/login", "/auth/e2e/test-auth"):
            if request.method != "POST":
                return JSONResponse({"detail": "Method Not Allowed"}, status_code=405)
            if not isinstance(body, dict) or "raw" in body:
                return JSONResponse({"detail": "Request body must be a JSON object"}, status_code=422)
            if path == "/auth/login":
                return self._login(body)
            return self._e2e_test_auth(request, body)
        if role == "frontend" and path == "/" and request.method == "GET":
            return HTMLResponse("<!doctype html><html><head><title>Netra</title></head><body>Netra AI</body></html>")
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    async def _health(self, service: str, role: str, path: str) -> Response:
        fault = _find_fault(self.state, service, role, path)
        delay = self.state.health_latency_ms / 1000 + (fault.delay_seconds if fault else 0)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            body = fault.body if fault.body is not None else _default_fault_body(role, path)
            return JSONResponse(body, status_code=fault.status_code)
        status, body = _healthy_answer(self.state, role, path)
        return JSONResponse(body, status_code=status)

    def _token_pair(self, user_id: str, email: str) -> dict[str, Any]:
        return {
            "access_token": self.tokens.issue(
                user_id=user_id, email=email, kind="access", ttl_seconds=ACCESS_TOKEN_SECONDS
            ),
            "refresh_token": self.tokens.issue(
                user_id=user_id, email=email, kind="refresh", ttl_seconds=REFRESH_TOKEN_SECONDS
            ),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }

    def _login(self, body: dict[str, Any]) -> Response:
        user = self.state.user
        email, password = str(body.get("email", "")), str(body.get("password", ""))
        if email.lower() != user.email.lower() or not hmac.compare_digest(password, user.password):
            return JSONResponse({"detail": "Invalid credentials"}, status_code=401)
        return JSONResponse(
            {
                **self._token_pair(user.user_id, user.email),
                "user": {"id": user.user_id, "email": user.email, "name": user.name},
            }
        )

    def _e2e_test_auth(self, request: Request, body: dict[str, Any]) -> Response:
        if not self.state.e2e_bypass_configured:
            return JSONResponse({"detail": "E2E bypass key is not configured on this service"}, status_code=503)
        offered = request.headers.get("x-e2e-bypass-key", "")
        if not offered or not hmac.compare_digest(offered, SIM_E2E_BYPASS_KEY):
            return JSONResponse({"detail": "Invalid E2E bypass key"}, status_code=401)
        email = str(body.get("email") or self.state.user.email)
        name = str(body.get("name") or self.state.user.name)
        permissions = body.get("permissions") or ["read", "write"]
        user_id = _user_id_for(email, self.state)
        return JSONResponse(
            {
                **self._token_pair(user_id, email),
                "user": {"id": user_id, "email": email, "name": name, "permissions": permissions},
                "issued_at": int(time.time()),
            }
        )


def netra_routes(state: NetraState, log: RequestLog) -> list[BaseRoute]:
    """Routes of the three Netra services under `/services/{service}`, recording each answer as api="netra"."""
    app = _NetraApp(state, log, TokenIssuer())
    return [
        WebSocketRoute("/services/{service}/ws", websocket_endpoint(state, app.tokens, log)),
        Route("/services/{service}", app.dispatch, methods=["GET", "POST"]),
        Route("/services/{service}/{path:path}", app.dispatch, methods=["GET", "POST"]),
    ]
