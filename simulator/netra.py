"""The simulated Netra platform on Cloud Run: backend, auth service and frontend, under `/services/{service}`.

Paths and payloads follow reference/netra-staging.md. The `[netra]` table of a scenario is a `NetraState`
(`simulator.netra_state`); its defaults are the healthy staging platform and every fault is a field, so faults
compose. The state is read on every request, so a test may change it while the simulator runs.
"""

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from simulator.google.secret_manager import SIM_E2E_BYPASS_KEY  # the payload of e2e-oauth-simulation-key-staging
from simulator.netra_state import GOLDEN_PATH_EVENTS, HealthFault, NetraState
from simulator.netra_tokens import TokenIssuer
from simulator.netra_ws import websocket_endpoint
from simulator.requestlog import RecordedRequest, RequestLog

__all__ = ["SIM_E2E_BYPASS_KEY", "netra_routes"]

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
