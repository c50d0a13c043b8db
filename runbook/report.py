"""Rendering a RunReport for each audience: terminal, Prefect artifacts (markdown/table), JSON, JUnit XML."""

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runbook.results import PHASE_TITLES, CheckResult, PhaseResult, PhaseStatus, RunReport, Status

STATUS_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIPPED: "dim",
}
STATUS_ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "⛔", Status.SKIPPED: "⏭️"}
PHASE_WORDS = {
    PhaseStatus.passed: "passed",
    PhaseStatus.passed_with_warnings: "passed with warnings",
    PhaseStatus.failed: "FAILED",
    PhaseStatus.skipped: "skipped",
    PhaseStatus.interrupted: "interrupted",
}

# Verdicts in words, for people (titles, descriptions, log lines, the terminal); the JSON keeps the values.
VERDICT_WORDS = {
    "passed": "passed",
    "passed_with_warnings": "passed with warnings",
    "failed": "failed",
    "interrupted": "interrupted",
}

VERDICT_STYLE = {
    "passed": "bold green",
    "passed_with_warnings": "bold yellow",
    "failed": "bold red",
    "interrupted": "bold magenta",
}


def _performance(check: CheckResult) -> str:
    """The timing that matters for a check: its measured latency where it has one, else its duration."""
    for key in ("latency_ms", "p95_ms", "total_ms"):
        value = check.evidence.get(key)
        if isinstance(value, int | float):
            return f"{key.removesuffix('_ms')} {value:.0f} ms"
    return f"{check.duration_s:.2f} s"


def _readiness(check: CheckResult) -> str:
    return {
        Status.PASS: "ready",
        Status.WARN: "ready (warnings)",
        Status.FAIL: "not ready",
        Status.ERROR: "unknown",
        Status.SKIPPED: "not checked",
    }[check.status]


def check_line(check: CheckResult) -> str:
    """One progress line: `✅ vpc-connector PASS 0.31 s  connector staging-connector READY`."""
    return f"{STATUS_ICON[check.status]} {check.id} {check.status.value} {check.duration_s:.2f} s  {check.summary}"


def print_report(report: RunReport, console: Console) -> None:
    """The component status matrix in the terminal, then the remedies of what failed."""
    for phase in report.phases:
        title = f"{PHASE_TITLES[phase.phase]}: {PHASE_WORDS[phase.status]}"
        if phase.skip_reason:
            title += f" ({phase.skip_reason})"
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        with_fixes = any(c.problem for c in phase.checks)
        table.add_column("check", no_wrap=True)
        table.add_column("sev", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("duration", no_wrap=True, justify="right")
        table.add_column("summary", overflow="fold", ratio=3)
        if with_fixes:
            table.add_column("remediation", overflow="fold", ratio=2)
        for check in phase.checks:
            row = [
                check.id,
                check.severity.value,
                f"[{STATUS_STYLE[check.status]}]{check.status.value}[/]",
                f"{check.duration_s:.2f} s",
                escape(check.summary),
            ]
            if with_fixes:
                row.append(escape(check.remediation) if check.problem else "")
            table.add_row(*row)
        console.print(table)
    style = VERDICT_STYLE[report.verdict.value]
    why = f", by {report.interrupted_by}, {len(report.phases)} phase(s) finished" if report.interrupted else ""
    console.print(
        f"[{style}]verdict: {VERDICT_WORDS[report.verdict.value]}[/] ({report.environment}, "
        f"{report.duration_s:.1f} s{why})",
        highlight=False,
    )


def status_matrix_markdown(report: RunReport) -> str:
    """The table people used to paste into issues: component, status, performance, readiness."""
    lines = [
        f"# Staging handoff: {report.environment}: {VERDICT_WORDS[report.verdict.value]}",
        "",
        f"Started {report.started_at:%Y-%m-%d %H:%M:%S %Z}, took {report.duration_s:.1f} s.",
        "",
    ]
    for phase in report.phases:
        lines.append(f"## {PHASE_TITLES[phase.phase]}: {PHASE_WORDS[phase.status]}")
        if phase.skip_reason:
            lines += ["", f"Skipped: {phase.skip_reason}"]
        lines += ["", "| component | status | performance | readiness |", "|---|---|---|---|"]
        for check in phase.checks:
            status = f"{STATUS_ICON[check.status]} {check.status.value}"
            lines.append(
                f"| {check.title} (`{check.id}`, {check.severity.value}) | {status} | "
                f"{_performance(check)} | {_readiness(check)} |"
            )
        lines += _approvals(phase)
        problems = [c for c in phase.checks if c.problem]
        if problems:
            lines += ["", "### What to fix", ""]
            for check in problems:
                lines.append(f"- **{check.id}** ({check.status.value}): {_md(check.summary)}")
                if check.remediation:
                    lines.append(f"  - fix: `{check.remediation}`")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _approvals(phase: PhaseResult) -> list[str]:
    """The decision behind an approved (or declined) redeploy: how, who and the note, as the checks table has it."""
    lines = []
    for check in phase.checks:
        approval = check.evidence.get("approval")
        if not isinstance(approval, dict) or not approval:
            continue
        who = f" by {approval['approved_by']}" if approval.get("approved_by") else ""
        note = f"; note: {approval['note']}" if approval.get("note") else ""
        said = " ".join((str(approval.get("decision", "")) + who + note).split())  # one line, whatever was typed
        lines.append(f"- **{check.title}** (`{check.id}`): {_md(said)}")
    return ["", *lines] if lines else []


def checks_table(phases: list[PhaseResult] | tuple[PhaseResult, ...]) -> list[dict[str, Any]]:
    """Rows of the table artifact: every check of every phase."""
    return [
        {
            "phase": phase.phase.value,
            "check": check.id,
            "severity": check.severity.value,
            "status": check.status.value,
            "summary": check.summary,
            "remediation": check.remediation,
            "attempts": check.attempts,
            "duration_s": round(check.duration_s, 3),
        }
        for phase in phases
        for check in phase.checks
    ]


def write_json(report: RunReport, path: Path) -> None:
    """The JSON report (`RunReport.to_json`), indented, to `path`."""
    path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")


def _passes_with_warning(check: CheckResult) -> bool:
    """A FAIL or ERROR that does not close the gate (P2): the run passes with warnings and exits 0."""
    return check.status in (Status.FAIL, Status.ERROR) and not check.blocking


def junit_xml(report: RunReport) -> str:
    """JUnit XML for CI systems: one testsuite per phase, one testcase per check.

    CI shows red exactly when `runbook run` exits non-zero: a blocking problem (P0/P1 FAIL or ERROR) is a
    `<failure>`/`<error>`; a P2 FAIL or ERROR, which passes the run with warnings, is `<skipped>` with a message
    saying so; a WARN and every problem's detail (remediation, evidence) go to `<system-out>`.
    """
    suites = ET.Element("testsuites", name=f"staging-runbook {report.environment}")
    for phase in report.phases:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=phase.phase.value,
            tests=str(len(phase.checks)),
            failures=str(sum(c.blocking and c.status == Status.FAIL for c in phase.checks)),
            errors=str(sum(c.blocking and c.status == Status.ERROR for c in phase.checks)),
            skipped=str(sum(c.status == Status.SKIPPED or _passes_with_warning(c) for c in phase.checks)),
            time=f"{phase.duration_s:.3f}",
        )
        for check in phase.checks:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{report.environment}.{phase.phase.value}",
                name=check.id,
                time=f"{check.duration_s:.3f}",
            )
            evidence = json.dumps(check.evidence, default=str)
            detail = f"{check.summary}\nremediation: {check.remediation}\nevidence: {evidence}"
            if check.blocking and check.status == Status.FAIL:
                ET.SubElement(case, "failure", message=check.summary, type=check.severity.value).text = detail
            elif check.blocking:
                ET.SubElement(case, "error", message=check.summary, type=check.severity.value).text = detail
            elif _passes_with_warning(check):
                message = f"{check.severity.value} {check.status.value} (does not fail the run): {check.summary}"
                ET.SubElement(case, "skipped", message=message)
                ET.SubElement(case, "system-out").text = f"{check.status.value}: {detail}"
            elif check.status == Status.SKIPPED:
                ET.SubElement(case, "skipped", message=check.summary)
            elif check.status == Status.WARN:
                ET.SubElement(case, "system-out").text = f"WARN: {detail}"
    if report.interrupted:  # CI shows an interrupted run as an error, not as a run that had fewer checks
        suite = ET.SubElement(suites, "testsuite", name="run", tests="1", failures="0", errors="1", skipped="0")
        case = ET.SubElement(suite, "testcase", classname=f"{report.environment}.run", name="completed")
        message = f"interrupted by {report.interrupted_by or 'a signal'}: {len(report.phases)} phase(s) finished"
        ET.SubElement(case, "error", message=message, type="interrupted").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
