"""How long the runbook waits: the timeout profiles (staging, dev), their timeouts, and per-check overrides.

A profile fills `[timeouts]`; the file may override any of its fields, and `[checks.<check-id>]` one check's
deadline, per-call timeout or whether it runs at all.
"""

from enum import StrEnum

from pydantic import Field, model_validator

from runbook.config.validators import Frozen, Seconds, raise_rule_errors, rule_error

# Every check id, in plan order (the catalog, runbook/catalog.py, says what each is).
CHECK_IDS = (
    "vpc-connector",
    "cloud-sql-instance",
    "database-connectivity",
    "secrets",
    "load-balancer",
    "service-drift",
    "monitoring",
    "cloud-run-ready",
    "health-endpoints",
    "websocket-handshake",
    "redeploy",
    "post-restore-monitoring",
    "golden-path",
    "performance",
    "stakeholder-summary",
)
# The checks of each phase that look at something (the redeploy runs only when asked for, the stakeholder summary
# only tells): a phase with all of them disabled would report `passed` having checked nothing.
PHASE_CHECKS = {
    "infrastructure": CHECK_IDS[:7],
    "restoration": ("cloud-run-ready", "health-endpoints", "websocket-handshake", "post-restore-monitoring"),
    "business": ("golden-path", "performance"),
}


class Profile(StrEnum):
    """Infrastructure-aware timeout profiles of the handoff plan."""

    staging = "staging"
    dev = "dev"


class Timeouts(Frozen):
    """How long the runbook waits. Defaults come from the profile; any field can be overridden."""

    database_connect_s: Seconds = Field(description="Connect plus `SELECT 1` on the database (staging 10 s, dev 5 s).")
    readiness_s: Seconds = Field(description="Readiness probes of the services (staging 60 s, dev 30 s).")
    e2e_s: Seconds = Field(description="End-to-end steps such as the WebSocket handshake (staging 60 s, dev 30 s).")
    golden_path_s: Seconds = Field(description="Whole golden path: login, WebSocket, every agent event (staging 90 s).")
    api_call_s: Seconds = Field(description="One Google API call (each retry attempt gets this much).")
    check_deadline_s: Seconds = Field(description="Hard deadline of one check, retries and polling included.")
    health_s: Seconds = Field(description="One basic health request (`/health`, expected under 2 s).")

    @model_validator(mode="after")
    def _call_within_deadline(self) -> "Timeouts":
        if self.api_call_s > self.check_deadline_s:
            expected = f"at most check_deadline_s ({self.check_deadline_s:g} s): one call must fit in a check"
            raise_rule_errors("Timeouts", [rule_error(("api_call_s",), expected, f"{self.api_call_s:g}")])
        return self


PROFILE_TIMEOUTS: dict[Profile, dict[str, float]] = {
    Profile.staging: {
        "database_connect_s": 10,
        "readiness_s": 60,
        "e2e_s": 60,
        "golden_path_s": 90,
        "api_call_s": 10,
        "check_deadline_s": 120,
        "health_s": 10,
    },
    Profile.dev: {
        "database_connect_s": 5,
        "readiness_s": 30,
        "e2e_s": 30,
        "golden_path_s": 45,
        "api_call_s": 5,
        "check_deadline_s": 60,
        "health_s": 5,
    },
}


class CheckOverride(Frozen):
    """Per-check overrides under `[checks.<check-id>]`."""

    enabled: bool = Field(default=True, description="Run this check at all (a disabled check is reported SKIPPED).")
    deadline_s: Seconds | None = Field(default=None, description="This check's hard deadline instead of the profile's.")
    timeout_s: Seconds | None = Field(default=None, description="Per-call timeout instead of the profile's.")

    @model_validator(mode="after")
    def _call_within_deadline(self) -> "CheckOverride":
        if self.timeout_s is not None and self.deadline_s is not None and self.timeout_s > self.deadline_s:
            expected = f"at most deadline_s ({self.deadline_s:g} s): one call must fit in the check"
            raise_rule_errors("CheckOverride", [rule_error(("timeout_s",), expected, f"{self.timeout_s:g}")])
        return self
