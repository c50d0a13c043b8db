"""The handoff flow's parameters: what the Prefect UI renders as a form and the CLI fills in."""

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from runbook.config_file import available_environments
from runbook.results import Phase


class HandoffParameters(BaseModel):
    """How to run the staging handoff: where, which phases, and whether a redeploy may happen."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"title": "Staging handoff"})

    environment: str = Field(
        default="staging",
        description="Environment to validate: a file in environments/ (staging is the real one, local the simulator).",
        json_schema_extra={"enum": list[JsonValue](available_environments() or ["staging"])},
    )
    environment_file: str | None = Field(
        default=None, description="Advanced: path to an environment TOML file; overrides `environment` when set."
    )
    phases: list[Phase] = Field(
        default_factory=lambda: list(Phase),
        min_length=1,
        description="Phases to run, always in the plan's order: infrastructure, restoration, business.",
    )
    dry_run: bool = Field(
        default=False, description="Only show the plan (phases, checks, dependencies, gates); no network call."
    )
    redeploy: bool = Field(
        default=False,
        description="Roll a new revision of each Cloud Run service in phase 2. Pauses for approval before mutating.",
    )
    approval_timeout_s: int = Field(
        default=3600, ge=30, le=86400, description="How long a redeploy waits for approval before the phase fails."
    )
    preapproved: bool = Field(
        default=False,
        description="Approve the redeploy up front (the CLI's --approve). Otherwise the run pauses in the UI.",
    )
    slack_quiet: bool | None = Field(
        default=None,
        description="Quiet Slack mode: a passing run updates one message and mentions nobody. Unset: the config's.",
    )
    trigger: str = Field(
        default="manual", description="What started the run (nightly, manual, cli): shown in reports and Slack."
    )

    @model_validator(mode="after")
    def _order_phases(self) -> "HandoffParameters":
        order = list(Phase)
        self.phases = sorted(set(self.phases), key=order.index)
        return self

    @property
    def target(self) -> str:
        """What `load_config` gets: the file when given, else the environment name."""
        return self.environment_file or self.environment
