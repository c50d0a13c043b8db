"""The Slack messages of a run, built from results: content, routing words, Slack's Block Kit limits, no secrets."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block

from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status
from runbook.slack_messages import (
    EVIDENCE_CHARS,
    MAX_BLOCKS,
    PhaseLine,
    PhaseState,
    Progress,
    SlackMessage,
    new_progress,
    parent_message,
    phase_detail,
    stakeholder_message,
    stakeholder_summary,
    team_pointer,
    thread_reply,
    webhook_phase_message,
)
from runbook.slack_store import Changes, CheckHistory

T0 = datetime(2025, 9, 18, 2, 0, tzinfo=UTC)
NO_CHANGES = Changes((), {}, ())


def check(check_id: str, status: Status, severity: Severity = Severity.P0, **fields: Any) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id.replace("-", " "),
        phase=fields.pop("phase", Phase.infrastructure),
        severity=severity,
        status=status,
        summary=fields.pop("summary", f"{check_id} {status.value.lower()}"),
        **fields,
    )


def validated(message: SlackMessage) -> list[dict[str, Any]]:
    """The payload's blocks, each parsed back and validated by slack_sdk; the fallback text is non-empty."""
    payload = message.payload()
    assert payload["text"].strip()
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for raw in payload["blocks"]:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    return list(payload["blocks"])


def all_text(message: SlackMessage) -> str:
    return message.text + json.dumps(message.payload()["blocks"], ensure_ascii=False)


def test_parent_shows_environment_trigger_link_and_every_phase_queued() -> None:
    progress = new_progress("staging", "nightly", list(Phase), "http://prefect.local/runs/flow-run/abc", T0)
    message = parent_message(progress, now=T0 + timedelta(seconds=5))
    blocks = validated(message)
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == "Staging handoff · staging"
    context = blocks[1]["elements"][0]["text"]
    assert "Trigger: nightly" in context and "Running for 5.0 s" in context
    assert "<http://prefect.local/runs/flow-run/abc|Prefect flow run>" in context
    lines = blocks[2]["text"]["text"].splitlines()
    assert lines == [
        "⚪ *Infrastructure validation*: queued",
        "⚪ *Service restoration*: queued",
        "⚪ *Business validation*: queued",
    ]
    assert message.text.startswith("Staging handoff · staging (nightly): infrastructure queued")


def test_parent_shows_running_warnings_skipped_reason_and_the_verdict() -> None:
    progress = new_progress("local", "cli", list(Phase), None, T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.passed_with_warnings, "7 checks · 2.0 s")
    progress.phases["restoration"] = PhaseLine(PhaseState.failed, "problems: health-endpoints")
    progress.phases["business"] = PhaseLine(PhaseState.skipped, "service restoration failed: health-endpoints")
    progress.outcome, progress.duration_s = "failed", 75.0
    blocks = validated(parent_message(progress))
    assert "Trigger: CLI" in blocks[1]["elements"][0]["text"]
    assert "Duration 1 min 15 s" in blocks[1]["elements"][0]["text"]
    assert "Prefect flow run" not in json.dumps(blocks)
    lines = blocks[2]["text"]["text"].splitlines()
    assert lines[0] == "⚠️ *Infrastructure validation*: passed with warnings · 7 checks · 2.0 s"
    assert lines[2] == "⏭️ *Business validation*: skipped (service restoration failed: health-endpoints)"
    assert blocks[3]["text"]["text"] == "❌ *Verdict: failed*"


def test_crashed_run_says_so_on_the_parent() -> None:
    progress = new_progress("local", "manual", list(Phase), None, T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.interrupted)
    progress.outcome, progress.outcome_detail = "crashed", "worker lost <heartbeat>"
    blocks = validated(parent_message(progress))
    assert blocks[-1]["text"]["text"] == "💥 *Run crashed*: worker lost &lt;heartbeat&gt;"
    assert "💥 *Infrastructure validation*: interrupted" in blocks[2]["text"]["text"]


def test_progress_round_trips_through_json() -> None:
    progress = new_progress("local", "manual", [Phase.infrastructure], "http://x", T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.failed, "problems: secrets")
    restored = Progress.from_dict(json.loads(json.dumps(progress.to_dict())))
    assert restored == progress


def test_thread_reply_mentions_the_team_and_gives_summary_evidence_and_fix_of_each_problem() -> None:
    result = PhaseResult(
        phase=Phase.infrastructure,
        status=PhaseStatus.failed,
        checks=(
            check("vpc-connector", Status.FAIL, evidence={"state": "ERROR"}, remediation="gcloud ... describe"),
            check("secrets", Status.WARN, Severity.P1, remediation="gcloud secrets versions enable ..."),
            check("monitoring", Status.PASS, Severity.P2),
        ),
    )
    changes = Changes(("secrets",), {"vpc-connector": CheckHistory("FAIL", T0.isoformat(), 2)}, ("load-balancer",))
    message = thread_reply(result, changes, "<!subteam^S0INFRA>")
    blocks = validated(message)
    assert blocks[0]["text"]["text"].startswith("<!subteam^S0INFRA> *Infrastructure validation failed*: 2 checks")
    text = json.dumps(blocks, ensure_ascii=False)
    assert "*vpc-connector* (P0, FAIL) · _still failing since 2025-09-18 02:00 UTC (3 runs)_" in text
    assert "*secrets* (P1, WARN) · _new_" in text
    assert '\\"state\\": \\"ERROR\\"' in text and "*Fix:* gcloud ... describe" in text
    assert "monitoring" not in text.replace("load-balancer", "")  # passing checks are not listed
    assert blocks[-1]["elements"][0]["text"] == "Recovered since the previous run: load-balancer"
    assert message.text.startswith("<!subteam^S0INFRA> Infrastructure validation failed: vpc-connector FAIL")


def test_long_evidence_is_truncated_with_a_note_and_stays_within_the_section_limit() -> None:
    evidence = {"services": [{"name": f"svc-{i}", "annotations": "x" * 200} for i in range(100)]}
    result = PhaseResult(
        phase=Phase.restoration,
        status=PhaseStatus.failed,
        checks=(check("cloud-run-ready", Status.FAIL, evidence=evidence),),
    )
    blocks = validated(thread_reply(result, NO_CHANGES, None))
    evidence_text = next(b["text"]["text"] for b in blocks if "*Evidence*" in b.get("text", {}).get("text", ""))
    assert f"Evidence truncated: showing {EVIDENCE_CHARS} of" in evidence_text
    assert len(evidence_text) <= 3000


def test_many_problems_fit_in_fifty_blocks_with_a_note() -> None:
    checks = tuple(check(f"check-{i}", Status.FAIL, evidence={"i": i}, remediation="fix") for i in range(30))
    result = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.failed, checks=checks)
    blocks = validated(thread_reply(result, NO_CHANGES, "@infra"))
    assert len(blocks) == MAX_BLOCKS
    assert "the run report lists every check" in blocks[-1]["elements"][0]["text"]


def test_long_header_and_remediation_are_clipped_to_slack_limits() -> None:
    progress = new_progress("x" * 200, "cli", list(Phase), None, T0)
    assert len(validated(parent_message(progress))[0]["text"]["text"]) <= 150
    result = PhaseResult(
        phase=Phase.business,
        status=PhaseStatus.failed,
        checks=(check("golden-path", Status.FAIL, remediation="r" * 5000),),
    )
    validated(thread_reply(result, NO_CHANGES, None))


def test_check_content_cannot_mention_everyone_or_inject_links() -> None:
    result = PhaseResult(
        phase=Phase.business,
        status=PhaseStatus.failed,
        checks=(check("golden-path", Status.FAIL, summary="agent said <!channel> & <http://evil|click>"),),
    )
    text = all_text(thread_reply(result, NO_CHANGES, None))
    assert "<!channel>" not in text and "<http://evil" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text


def test_evidence_under_secret_looking_keys_is_redacted() -> None:
    evidence = {
        "headers": {"X-E2E-Bypass-Key": "sim-e2e-bypass-key-not-a-secret"},
        "db_password": "netra-app-test-password",
        "access_token": "eyJhbGciOi",
        "missing": ["postgres-password-staging"],
    }
    result = PhaseResult(
        phase=Phase.business, status=PhaseStatus.failed, checks=(check("golden-path", Status.FAIL, evidence=evidence),)
    )
    text = all_text(thread_reply(result, NO_CHANGES, None))
    for secret in ("sim-e2e-bypass-key-not-a-secret", "netra-app-test-password", "eyJhbGciOi"):
        assert secret not in text
    assert "postgres-password-staging" in text  # a secret's name is not its value


def test_phase_detail_lists_problems_and_recoveries_or_the_skip_reason() -> None:
    result = PhaseResult(
        phase=Phase.infrastructure,
        status=PhaseStatus.passed_with_warnings,
        checks=(check("monitoring", Status.WARN, Severity.P2), check("secrets", Status.PASS, Severity.P1)),
        duration_s=2.25,
    )
    assert phase_detail(result, ("secrets",)) == "2 checks · 2.2 s · problems: monitoring · recovered: secrets"
    skipped = PhaseResult(phase=Phase.business, status=PhaseStatus.skipped, skip_reason="gate closed")
    assert phase_detail(skipped) == "gate closed"


def test_team_pointer_names_the_problems_and_where_the_thread_is() -> None:
    result = PhaseResult(
        phase=Phase.restoration,
        status=PhaseStatus.failed,
        checks=(check("health-endpoints", Status.FAIL, phase=Phase.restoration),),
    )
    message = team_pointer("staging", result, "@platform-oncall", "C0STGDEPLOY", "http://prefect/run")
    blocks = validated(message)
    assert blocks[0]["text"]["text"].startswith(
        "@platform-oncall Service restoration failed in staging: health-endpoints. Details in the thread"
    )
    assert (
        "<#C0STGDEPLOY>" in blocks[0]["text"]["text"]
        and "<http://prefect/run|Prefect flow run>" in message.payload()["blocks"][0]["text"]["text"]
    )


def test_stakeholder_summary_comes_from_the_check_evidence_and_is_slack_markdown() -> None:
    summary = "**Staging (local) is ready for use.**\n\n- Infrastructure validation: passed."
    business = PhaseResult(
        phase=Phase.business,
        status=PhaseStatus.passed,
        checks=(check("stakeholder-summary", Status.PASS, Severity.P2, evidence={"summary": summary}),),
    )
    report = RunReport(environment="local", started_at=T0, phases=(business,))
    assert stakeholder_summary(report) == summary
    assert stakeholder_summary(RunReport(environment="local", started_at=T0)) is None
    blocks = validated(stakeholder_message("local", summary, "passed", None))
    assert blocks[1]["text"]["text"].startswith("*Staging (local) is ready for use.*")


def test_webhook_phase_message_carries_progress_and_problems_in_one_message() -> None:
    progress = new_progress("local", "nightly", list(Phase), None, T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.failed)
    result = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.failed, checks=(check("secrets", Status.FAIL),))
    message = webhook_phase_message(progress, result, NO_CHANGES, "@infra-oncall", now=T0)
    text = all_text(message)
    assert (
        "❌ *Infrastructure validation*: failed" in text and "@infra-oncall *Infrastructure validation failed*" in text
    )
    validated(message)
