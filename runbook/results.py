"""What a check found, what a phase concluded, and the gate between phases."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    """PASS; WARN works but something is off; FAIL the system is wrong; ERROR could not be determined."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


class Severity(StrEnum):
    """Priority the handoff plan assigns: P0 and P1 block the next phase, P2 only warns."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"


class Phase(StrEnum):
    """The three phases of the handoff plan, in order."""

    infrastructure = "infrastructure"
    restoration = "restoration"
    business = "business"


PHASE_TITLES = {
    Phase.infrastructure: "Infrastructure validation",
    Phase.restoration: "Service restoration",
    Phase.business: "Business validation",
}
PHASE_TEAMS = {Phase.infrastructure: "infrastructure", Phase.restoration: "platform", Phase.business: "product"}


class PhaseStatus(StrEnum):
    """A phase's outcome; `interrupted`: a signal stopped the run during it (its finished checks are kept)."""

    passed = "passed"
    passed_with_warnings = "passed_with_warnings"
    failed = "failed"
    skipped = "skipped"
    interrupted = "interrupted"


class CheckResult(BaseModel):
    """One check's verdict with the evidence behind it and the fix."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Check id, kebab-case, the same in code, reports and Slack.")
    title: str
    phase: Phase
    severity: Severity
    status: Status
    summary: str = Field(description="One line a person reads first.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="The observed values that matter.")
    remediation: str = Field(default="", description="A concrete gcloud command or console step.")
    attempts: int = Field(default=1, ge=0)
    duration_s: float = Field(default=0.0, ge=0)

    @property
    def blocking(self) -> bool:
        """A P0/P1 problem: the gate does not open."""
        return self.severity in (Severity.P0, Severity.P1) and self.status in (Status.FAIL, Status.ERROR)

    @property
    def problem(self) -> bool:
        return self.status in (Status.WARN, Status.FAIL, Status.ERROR)

    def __repr__(self) -> str:  # short: Prefect logs a failed task's state with its data's repr
        return f"CheckResult(id={self.id!r}, status={self.status.value}, severity={self.severity.value})"


class PhaseResult(BaseModel):
    """A phase's checks and the gate's decision."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    status: PhaseStatus
    checks: tuple[CheckResult, ...] = ()
    skip_reason: str | None = None
    started_at: datetime | None = None
    duration_s: float = 0.0

    @property
    def blocking_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def passed(self) -> bool:
        return self.status in (PhaseStatus.passed, PhaseStatus.passed_with_warnings)

    def failure_reason(self) -> str:
        """ "infrastructure validation failed: vpc-connector, secrets" -- the reason later phases are skipped."""
        ids = ", ".join(c.id for c in self.blocking_checks) or "gate closed"
        return f"{PHASE_TITLES[self.phase].lower()} failed: {ids}"


def gate(checks: list[CheckResult] | tuple[CheckResult, ...]) -> PhaseStatus:
    """A phase passes when no P0/P1 check is FAIL or ERROR; other problems make it pass with warnings."""
    if any(c.blocking for c in checks):
        return PhaseStatus.failed
    if any(c.problem for c in checks):
        return PhaseStatus.passed_with_warnings
    return PhaseStatus.passed


class Verdict(StrEnum):
    """The run's outcome. `interrupted`: stopped by a signal (SIGINT/SIGTERM) before it could decide; the phases
    it did finish are in the report as they ended, but an interrupted run never counts as passed or failed."""

    passed = "passed"
    passed_with_warnings = "passed_with_warnings"
    failed = "failed"
    interrupted = "interrupted"


class RunReport(BaseModel):
    """Everything a run found, rendered once per audience (terminal, Prefect artifacts, JSON, Slack)."""

    environment: str
    started_at: datetime
    duration_s: float = 0.0
    trigger: str = "cli"
    phases: tuple[PhaseResult, ...] = ()
    notifications: tuple[dict[str, Any], ...] = ()
    interrupted: bool = Field(default=False, description="Stopped by a signal: `phases` holds those finished so far.")
    interrupted_by: str | None = Field(default=None, description="The signal that stopped the run (SIGTERM, SIGINT).")

    @property
    def verdict(self) -> Verdict:
        if self.interrupted:
            return Verdict.interrupted
        if not self.phases or any(p.status == PhaseStatus.failed for p in self.phases):
            return Verdict.failed
        if any(p.status == PhaseStatus.passed_with_warnings for p in self.phases):
            return Verdict.passed_with_warnings
        return Verdict.passed

    def to_json(self) -> dict[str, Any]:
        """The JSON report: {environment, verdict, interrupted, started_at, duration_s, phases: [...]}."""
        return {
            "environment": self.environment,
            "trigger": self.trigger,
            "verdict": self.verdict.value,
            "interrupted": self.interrupted,
            "interrupted_by": self.interrupted_by,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "phases": [
                {
                    "id": p.phase.value,
                    "status": p.status.value,
                    "skip_reason": p.skip_reason,
                    "duration_s": round(p.duration_s, 3),
                    "checks": [
                        {
                            "id": c.id,
                            "title": c.title,
                            "severity": c.severity.value,
                            "status": c.status.value,
                            "summary": c.summary,
                            "evidence": c.evidence,
                            "remediation": c.remediation,
                            "attempts": c.attempts,
                            "duration_s": round(c.duration_s, 3),
                        }
                        for c in p.checks
                    ],
                }
                for p in self.phases
            ],
            "notifications": list(self.notifications),
        }
