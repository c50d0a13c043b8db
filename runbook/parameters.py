"""The handoff's parameters: one validated model behind the flow's flat parameters (the Prefect UI's form).

The flow `staging-handoff` takes these fields as top-level parameters, so the Custom run form is one flat form and
`prefect deployment run staging-handoff/manual -p environment=local` works; inside, they become this one model.
"""

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator

from runbook.config.files import available_environments
from runbook.config.validators import HIDDEN_TEXT_EXPECTED, hidden_character
from runbook.results import Phase

# The environments a deployment may choose (a dropdown in the UI; the server refuses anything else). The CLI may also
# pass a path to a TOML file: flows called in-process are not held to the dropdown.
EnvironmentName = Annotated[
    str,
    Field(
        description="Environment to validate: a file in environments/ (staging is the real one, local the simulator).",
        json_schema_extra={"enum": list[JsonValue](available_environments() or ["staging"])},
    ),
]
PhaseList = Annotated[
    list[Phase],
    Field(
        min_length=1, description="Phases to run, always in the plan's order: infrastructure, restoration, business."
    ),
]
DryRun = Annotated[
    bool, Field(description="Only show the plan (phases, checks, dependencies, gates); no network call.")
]
Redeploy = Annotated[
    bool,
    Field(description="Roll a new revision of each Cloud Run service in phase 2. The run pauses for approval first."),
]
ApprovalTimeout = Annotated[
    int, Field(ge=30, le=86400, description="Seconds a redeploy waits for approval before the restoration phase fails.")
]
SlackQuiet = Annotated[
    bool,
    Field(description="Quiet Slack: a passing run updates one message and mentions nobody (off: the environment's)."),
]


def _one_line(value: str) -> str:
    """Text that goes into Slack and run names whole: a line break would forge a line, a bidi mark reorder it."""
    found = hidden_character(value)
    if found:
        raise ValueError(f"expected {HIDDEN_TEXT_EXPECTED}, found {found}")
    return value


SlackChannel = Annotated[
    str,
    Field(max_length=80, description="Slack channel for this run's parent message (empty: the environment's)."),
    AfterValidator(_one_line),
]
Trigger = Annotated[
    str,
    Field(min_length=1, max_length=120, description="What started the run (nightly, manual, cli, slack:<@U…>)."),
    AfterValidator(_one_line),
]


class HandoffParameters(BaseModel):
    """How to run the staging handoff: where, which phases, and whether a redeploy may happen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: EnvironmentName = "staging"
    phases: PhaseList = Field(default_factory=lambda: list(Phase))
    dry_run: DryRun = False
    redeploy: Redeploy = False
    approval_timeout_s: ApprovalTimeout = 3600
    slack_quiet: SlackQuiet = False
    slack_channel: SlackChannel = ""
    trigger: Trigger = "manual"

    @field_validator("phases")
    @classmethod
    def _plan_order(cls, phases: list[Phase]) -> list[Phase]:
        order = list(Phase)
        return sorted(set(phases), key=order.index)

    @property
    def target(self) -> str:
        """What `load_config` gets: an environment name or the path to a TOML file."""
        return self.environment

    def flow_kwargs(self) -> dict[str, Any]:
        """The flow's flat parameters."""
        return self.model_dump()


def run_name(environment: str, trigger: str, when: datetime) -> str:
    """A handoff run's name: `staging · nightly · 2026-12-01 10:00 UTC` (environment, what started it, when).

    The CLI may pass a path as the environment: its file name stands for it.
    """
    return f"{Path(environment).stem} · {trigger} · {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@functools.cache
def _slug_words() -> tuple[frozenset[str], frozenset[str]] | None:
    """The adjectives and animals Prefect draws a run's made-up name from (coolname's lists), or None without them."""
    try:
        import coolname

        data = Path(coolname.__file__).parent / "data"

        def words(*lists: str) -> frozenset[str]:
            lines = (line.strip() for name in lists for line in (data / f"{name}.txt").read_text().splitlines())
            return frozenset(line for line in lines if re.fullmatch("[a-z]+", line))

        adjectives = words("adjective", "adjective_near", "noun_adjective", "prefix", "size")
        return adjectives, words("animal", "animal_breed", "animal_legendary")
    except Exception:  # another coolname: any two lowercase words count as made up
        return None


def generated_name(name: str) -> bool:
    """A flow run name Prefect made up (`furious-jackalope`: a run created without one), not one somebody typed."""
    first, dash, second = name.partition("-")
    if not dash or not re.fullmatch("[a-z]+", first) or not re.fullmatch("[a-z]+", second):
        return False
    words = _slug_words()
    return words is None or (first in words[0] and second in words[1])
