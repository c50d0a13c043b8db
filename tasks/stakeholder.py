"""The stakeholder summary: the run in a few sentences a non-engineer can forward.

Produced at the end of business validation from every phase's results and attached to the run as a Prefect
markdown artifact; the Slack reporter posts it to the stakeholder channel.
"""

from runbook.check_task import check_task
from runbook.checks import CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig
from runbook.declined import what_failed, what_happened
from runbook.results import PHASE_TITLES, CheckResult, Phase, PhaseResult, Status, gate

CHECK_ID = "stakeholder-summary"


def _phase_line(title: str, checks: list[CheckResult] | tuple[CheckResult, ...], skip_reason: str | None) -> str:
    if skip_reason:
        return f"- {title}: not run ({skip_reason})."
    status = gate(checks)
    problems = [c for c in checks if c.problem]
    if not problems:
        return f"- {title}: {status.value.replace('_', ' ')}."
    listed = "; ".join(f"{what_happened(c)}: {c.summary}" for c in problems[:3])
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"- {title}: {status.value.replace('_', ' ')}: {listed}{more}."


def compose_summary(environment: str, earlier: list[PhaseResult], business: list[CheckResult]) -> str:
    """Markdown: a headline verdict, one line per phase, the golden path's timing when known."""
    lines = [_phase_line(PHASE_TITLES[p.phase], p.checks, p.skip_reason) for p in earlier]
    lines.append(_phase_line(PHASE_TITLES[Phase.business], business, None))
    blocking = [c for p in earlier for c in p.checks if c.blocking] + [c for c in business if c.blocking]
    headline = (
        f"Staging ({environment}) is ready for use: users can log in and get AI responses."
        if not blocking
        else f"Staging ({environment}) is NOT ready: {what_failed(blocking)}."
    )
    golden = next((c for c in business if c.id == "golden-path"), None)
    if golden and golden.status == Status.PASS and isinstance(golden.evidence.get("total_ms"), int | float):
        lines.append(f"- Golden path: login to AI response in {golden.evidence['total_ms'] / 1000:.1f} s.")
    return "\n".join([f"**{headline}**", "", *lines])


def decide_summary(text: str, published: bool, error: str | None) -> Finding:
    if published:
        return Finding(Status.PASS, "stakeholder summary attached to the run", {"summary": text})
    return Finding(
        Status.ERROR,
        f"stakeholder summary could not be attached: {error}",
        {"summary": text},
        "Check the Prefect API is reachable from the run; the summary is in this result's evidence.",
    )


@check_task(CHECK_ID)
async def stakeholder_summary(
    config: RunbookConfig, earlier: list[PhaseResult], business: list[CheckResult]
) -> CheckResult:
    """P2 `stakeholder-summary`: compose the run's summary for stakeholders and attach it as an artifact.

    Why it matters: the product team owes stakeholders a plain answer ("is staging usable?") after an incident;
    composing it from the results keeps it consistent with what the runbook actually found.
    """

    async def body(ctx: CheckContext) -> CheckResult:
        from prefect.artifacts import acreate_markdown_artifact

        text = compose_summary(config.name, earlier, business)
        try:
            await acreate_markdown_artifact(
                key=f"{config.name}-stakeholder-summary", markdown=text, description="Summary for stakeholders"
            )
        except Exception as error:  # the summary itself is still returned in the evidence
            return ctx.finish(decide_summary(text, False, f"{type(error).__name__}: {error}"))
        return ctx.finish(decide_summary(text, True, None))

    return await run_check(CHECK_ID, config, None, body)
