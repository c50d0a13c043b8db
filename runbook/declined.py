"""A problem check said as it is, for people: a redeploy that never ran is not a failed redeploy.

A redeploy that was rejected, whose approval expired, or that was never asked for is a FAIL (it closes the gate) whose
title already says what happened ("Redeploy rejected", "Redeploy approval expired"); "Approved redeploy failed" is
only said of a redeploy that was approved and then failed. Pure; the stakeholder summary (tasks/stakeholder.py) and
the stakeholder note in Slack (runbook/slack/stakeholder_messages.py) word their headlines with it.
"""

from collections.abc import Iterable

from runbook.results import CheckResult


def declined(check: CheckResult) -> bool:
    """A redeploy that did not run because it was not approved (its evidence says why: `approval.status`)."""
    approval = check.evidence.get("approval")
    return check.id == "redeploy" and isinstance(approval, dict) and "status" in approval


def what_happened(check: CheckResult) -> str:
    """ "Redeploy rejected" / "Redeploy approval expired" as they are; otherwise the title and the status."""
    return check.title if declined(check) else f"{check.title} {check.status.value}"


def what_failed(checks: Iterable[CheckResult]) -> str:
    """ "Vpc connector, Secrets failed; Redeploy rejected": the failed checks, then the redeploys that never ran."""
    checks = list(checks)
    failed = [c.title for c in checks if not declined(c)]
    parts = [f"{', '.join(failed)} failed"] if failed else []
    return "; ".join([*parts, *(c.title for c in checks if declined(c))])
