"""The `[netra]` table of a scenario: the simulated Netra platform's state, every fault a field so faults compose.

Defaults are the healthy staging platform. The HTTP services (`simulator.netra`) and the backend's WebSocket
(`simulator.netra_ws`) read it on every request, so a test may change it while the simulator runs.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HealthStatus = Literal["ok", "degraded", "critical", "error"]
GoldenPathEvent = Literal["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
GOLDEN_PATH_EVENTS: tuple[GoldenPathEvent, ...] = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)


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


class WebSocketState(BaseModel):
    """The `[netra.websocket]` table: how the backend's `/ws` behaves. Defaults are the healthy platform."""

    model_config = ConfigDict(extra="forbid")

    auth_rejected: bool = Field(
        False, description="Reject every token (even valid ones) with AUTH_FAILED and close code 1008."
    )
    silent: bool = Field(False, description="Send connection_established, then never answer anything.")
    agent_name: str = Field("supervisor_agent", description="agent_name carried by every agent event.")
    tool_name: str = Field("cost_analyzer", description="Tool named by tool_executing and tool_completed.")
    omit_events: list[GoldenPathEvent] = Field(
        default_factory=list, description="Golden-path events the agent run does not send (e.g. tool_completed)."
    )
    outcome: Literal["completed", "error"] = Field(
        "completed", description="'error' ends the run with agent_error (data.error) instead of agent_completed."
    )
    error_after: GoldenPathEvent = Field(
        "tool_executing", description="With outcome 'error': the last golden-path event sent before agent_error."
    )
    error_message: str = Field(
        "Agent execution failed: LLM provider request timed out", description="data.error of agent_error."
    )
    result_text: str = Field(
        "Staging is healthy: the backend answered through the full agent pipeline. "
        "Top cost driver this week: LLM inference (62%); suggested action: enable response caching.",
        description="data.result of agent_completed; an empty string simulates an empty answer.",
    )
    first_event_delay_seconds: float = Field(
        0.1, ge=0, le=3600, description="Delay between the user message and the first event."
    )
    event_interval_seconds: float = Field(0.1, ge=0, le=3600, description="Delay between consecutive events.")
    malformed_event: GoldenPathEvent | None = Field(
        None, description="This event is sent as a truncated, non-JSON text frame instead of valid JSON."
    )


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
