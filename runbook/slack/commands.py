"""The `/runbook` slash command: parse what was typed into one `Command`, or a usage message. Pure, no I/O.

/runbook run staging                      every phase, in order
/runbook run staging infrastructure       only phase 1 (several phases may be named)
/runbook run staging restoration redeploy phase 2 with a redeploy (pauses for an approver)
/runbook status staging                   the last run of staging
/runbook plan staging                     phases, checks, dependencies and gates; nothing runs
/runbook cancel staging                   cancel staging's scheduled, running or paused handoff run
/runbook help
"""

from dataclasses import dataclass, field

from runbook.results import Phase

VERBS = ("run", "status", "plan", "cancel", "help")
PHASE_WORDS = {"infrastructure": Phase.infrastructure, "restoration": Phase.restoration, "business": Phase.business}


def usage(command: str = "/runbook") -> str:
    """The help text, with the command name the app defines."""
    return (
        f"*{command}* — the staging handoff runbook from Slack\n"
        f"• `{command} run ENV [infrastructure|restoration|business ...] [redeploy]`: start a run; its message "
        "lands in this channel\n"
        f"• `{command} status ENV`: the last run of ENV\n"
        f"• `{command} plan ENV`: phases, checks, dependencies and gates (nothing runs)\n"
        f"• `{command} cancel ENV`: cancel ENV's active run (scheduled, running or paused for approval)\n"
        f"• `{command} help`"
    )


@dataclass(frozen=True)
class Command:
    """What was asked: the verb, the environment, and for `run` the phases and whether to redeploy."""

    verb: str
    environment: str = ""
    phases: tuple[Phase, ...] = field(default_factory=lambda: tuple(Phase))
    redeploy: bool = False


class UsageError(ValueError):
    """The text is not a command this bot understands; the message says what was expected and what was found."""


def parse(text: str, environments: tuple[str, ...]) -> Command:
    """`run staging infrastructure` -> Command("run", "staging", (infrastructure,)); raises UsageError."""
    words = text.split()
    if not words or words[0].lower() == "help":
        return Command("help")
    verb = words[0].lower()
    if verb not in VERBS:
        raise UsageError(f"expected one of {', '.join(VERBS)}, found `{words[0]}`")
    if len(words) < 2:
        raise UsageError(f"expected an environment after `{verb}` ({', '.join(environments) or 'none configured'})")
    environment = words[1]
    if environment not in environments:
        known = ", ".join(environments) or "none: no environment has [slack.chatops]"
        raise UsageError(f"expected an environment this bot serves ({known}), found `{environment}`")
    rest = [word.lower() for word in words[2:]]
    if verb != "run":
        if rest:
            raise UsageError(f"`{verb}` takes only the environment, found extra `{' '.join(words[2:])}`")
        return Command(verb, environment)
    redeploy = "redeploy" in rest
    names = [word for word in rest if word != "redeploy"]
    unknown = [name for name in names if name not in PHASE_WORDS and name != "all"]
    if unknown:
        raise UsageError(f"expected phases from {', '.join(PHASE_WORDS)} (or all), found `{' '.join(unknown)}`")
    phases = tuple(Phase) if not names or "all" in names else tuple(p for p in Phase if p.value in names)
    if redeploy and Phase.restoration not in phases:
        raise UsageError("`redeploy` happens in the restoration phase: name it too (or no phase: all of them)")
    return Command("run", environment, phases, redeploy)
