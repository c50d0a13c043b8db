"""The Slack messages of a run, built from results: content, routing words, Slack's Block Kit limits, no secrets.

Also the team routes of the config that the mentions come from (ids that ping, handles that people read).
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from runbook.config.files import ConfigError, load_config
from runbook.config.slack_models import TeamRoute
from runbook.results import CheckResult, Phase, PhaseResult, PhaseStatus, RunReport, Severity, Status
from runbook.slack.block_kit import MAX_BLOCKS, SlackMessage
from runbook.slack.evidence import EVIDENCE_CHARS, evidence_text, is_secret_key, redact
from runbook.slack.parent_message import (
    RERUN_ACTION,
    PhaseLine,
    PhaseState,
    Progress,
    glance,
    new_progress,
    parent_message,
    phase_detail,
)
from runbook.slack.stakeholder_messages import stakeholder_message, stakeholder_stop_message, stakeholder_summary
from runbook.slack.store import Changes, CheckHistory
from runbook.slack.thread_replies import approval_note, team_pointer, thread_reply
from runbook.slack.webhook_message import webhook_run_message

T0 = datetime(2025, 9, 18, 2, 0, tzinfo=UTC)
NO_CHANGES = Changes((), {}, ())
INFRA = TeamRoute(id="S0INFRA001", handle="@infra-oncall", channel="#staging-alerts")
PLATFORM = TeamRoute(id="S0PLATFORM1", handle="platform-oncall")
HANDLES = {Phase.infrastructure: "@infra-oncall", Phase.restoration: "@platform-oncall"}


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


def test_failed_run_with_chatops_offers_a_rerun_of_its_failed_phase_and_a_passing_run_does_not() -> None:
    progress = new_progress("staging", "nightly", list(Phase), None, T0)
    progress.outcome = "passed"
    assert all(block["type"] != "actions" for block in validated(parent_message(progress, now=T0)))
    progress.outcome, progress.rerun_phase = "failed", "restoration"
    actions = [block for block in validated(parent_message(progress, now=T0)) if block["type"] == "actions"]
    (button,) = actions[0]["elements"]
    assert button["action_id"] == RERUN_ACTION and button["text"]["text"] == "Rerun restoration"
    assert json.loads(button["value"]) == {"env": "staging", "phase": "restoration"}
    assert Progress.from_dict(json.loads(json.dumps(progress.to_dict()))).rerun_phase == "restoration"


def test_approval_note_keeps_who_decided_and_why_in_the_thread() -> None:
    approved = validated(approval_note("approved on the run's approval form by ops-bob: <fixed> & ready", True))
    assert approved[0]["text"]["text"] == (
        ":white_check_mark: *Redeploy* approved on the run's approval form by ops-bob: &lt;fixed&gt; &amp; ready"
    )
    rejected = approval_note("rejected in Slack by <@U123>: not now", False)
    assert rejected.text == "Redeploy rejected in Slack by <@U123>: not now" and ":no_entry:" in str(rejected.payload())


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


def test_long_evidence_is_truncated_with_a_note_and_the_failing_service_first() -> None:
    services = [{"name": f"svc-{i:02d}", "ready": True, "annotations": "x" * 200} for i in range(100)]
    services[87] = {**services[87], "ready": False}
    result = PhaseResult(
        phase=Phase.restoration,
        status=PhaseStatus.failed,
        checks=(check("cloud-run-ready", Status.FAIL, evidence={"services": services}),),
    )
    blocks = validated(thread_reply(result, NO_CHANGES, None))
    shown = next(b["text"]["text"] for b in blocks if "*Evidence*" in b.get("text", {}).get("text", ""))
    assert f"Evidence truncated: showing {EVIDENCE_CHARS} of" in shown and "failing entries first" in shown
    assert len(shown) <= 3000
    assert shown.index('"svc-87"') < shown.index('"svc-00"')  # the broken one survives the cut, first
    assert '"svc-99"' not in shown


def test_truncated_evidence_puts_entries_about_failing_services_first_not_alphabetically() -> None:
    healthy = {"http_status": 200, "status": "ok", "latency_ms": 12, "body": "y" * 300}
    evidence = {
        "netra-auth-service /health": healthy,
        "netra-backend-staging /health": healthy,
        "netra-frontend-staging /health": healthy,
        "zz-last-service /health": {"http_status": 503, "status": "unhealthy", "latency_ms": 9},
        "services": {"a-service": healthy, "b-service": "not found"},
    }
    text = evidence_text(evidence, limit=400)
    assert text.startswith('*Evidence*\n```{\n "zz-last-service /health": {\n  "http_status": 503')
    assert '"b-service": "not found"' in text  # nested: the missing service leads its own dict
    assert "netra-auth-service" not in text and "Evidence truncated" in text  # healthy ones are what is cut
    named = evidence_text(evidence, limit=300, summary="netra-frontend-staging /health: expected 200, found 404")
    assert named.startswith('*Evidence*\n```{\n "netra-frontend-staging /health"')
    timeline = {"frames": [{"type": "agent_started", "t_ms": 1}, {"type": "agent_error", "error": "boom"}]}
    assert evidence_text(timeline).index("agent_started") < evidence_text(timeline).index("agent_error")


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


@pytest.mark.parametrize(
    "key",
    ["password", "db_password", "access_token", "accessToken", "refresh-token", "Authorization", "X-E2E-Bypass-Key",
     "api_key", "openaiApiKey", "client_secret", "secret", "Cookie", "credentials", "tokens", "private_key",
     "secret_value"],
)  # fmt: skip
def test_keys_naming_a_secret_are_secret(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["token_ms", "tokens_used", "token_type", "password_env", "bypass_key_block",
     "secrets_referenced", "secrets_not_verified", "latency_ms", "missing", "keyboard", "monkey", "cache_key",
     "passwordless_login_enabled"],
)  # fmt: skip
def test_timings_counters_and_where_secrets_live_are_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redaction_keeps_timings_and_booleans_but_replaces_values_under_secret_keys_at_any_depth() -> None:
    evidence = {
        "token_ms": 41.5,
        "tokens_used": 1234,
        "password_env": "RUNBOOK_DB_PASSWORD",
        "password_set": True,
        "auth": {"token": None, "headers": {"Authorization": "Bearer abc.def.ghi"}},
        "tokens": ["t-one", "t-two"],
        "pin_password": 123456,
    }
    assert redact(evidence) == {
        "token_ms": 41.5,
        "tokens_used": 1234,
        "password_env": "RUNBOOK_DB_PASSWORD",
        "password_set": True,
        "auth": {"token": None, "headers": {"Authorization": "[redacted]"}},
        "tokens": ["[redacted]", "[redacted]"],
        "pin_password": "[redacted]",
    }


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
    message = team_pointer("staging", result, PLATFORM.mention, "C0STGDEPLOY", "http://prefect/run")
    blocks = validated(message)
    assert blocks[0]["text"]["text"].startswith(
        "<!subteam^S0PLATFORM1|@platform-oncall> Service restoration failed in staging: health-endpoints. Details"
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


def stopped_at_infrastructure() -> RunReport:
    infrastructure = PhaseResult(
        phase=Phase.infrastructure,
        status=PhaseStatus.failed,
        checks=(
            check(
                "vpc-connector",
                Status.FAIL,
                summary="connector staging-connector is in state ERROR",
                remediation="gcloud compute networks vpc-access connectors describe staging-connector\nthen recreate",
            ),
            check("secrets", Status.ERROR, Severity.P1, summary="permission denied", remediation="grant the role"),
            check("monitoring", Status.WARN, Severity.P2),
        ),
    )
    reason = infrastructure.failure_reason()
    skipped = [PhaseResult(phase=p, status=PhaseStatus.skipped, skip_reason=reason) for p in list(Phase)[1:]]
    return RunReport(environment="staging", started_at=T0, duration_s=3.0, phases=(infrastructure, *skipped))


def test_failed_run_glance_says_what_broke_the_fix_and_who_is_on_it_without_pinging() -> None:
    text = glance(stopped_at_infrastructure(), HANDLES, "in the thread")
    lines = text.splitlines()
    assert lines[0] == "❌ *vpc-connector* (P0 FAIL): connector staging-connector is in state ERROR"
    assert lines[1].strip() == "Fix: gcloud compute networks vpc-access connectors describe staging-connector …"
    assert lines[2].startswith("⛔ *secrets* (P1 ERROR): permission denied")
    assert "monitoring" not in text  # a P2 warning did not close the gate
    assert lines[-1] == "On it: @infra-oncall · Evidence and every fix in the thread."
    assert "<!subteam" not in text
    passed = RunReport(
        environment="staging", started_at=T0, phases=(PhaseResult(phase=Phase.business, status=PhaseStatus.passed),)
    )
    assert glance(passed, HANDLES, "in the thread") == ""
    progress = new_progress("staging", "manual", list(Phase), None, T0)
    progress.outcome, progress.glance = "failed", text
    blocks = validated(parent_message(progress))
    assert blocks[-1]["text"]["text"].startswith("❌ *Verdict: failed*\n❌ *vpc-connector* (P0 FAIL)")


def test_stakeholders_hear_in_plain_words_when_the_run_stops_before_business_validation() -> None:
    message = stakeholder_stop_message(
        stopped_at_infrastructure(), HANDLES, "when the runbook runs again after the fix.", "http://prefect/run"
    )
    assert message is not None
    blocks = validated(message)
    body = blocks[1]["text"]["text"].splitlines()
    assert body == [
        "*Staging (staging) is NOT usable right now.*",
        "The handoff runbook stopped at *infrastructure validation* (vpc connector, secrets failed). Not checked "
        "yet: service restoration, business validation (users logging in and getting AI responses).",
        "*Who is on it:* the infrastructure team (@infra-oncall).",
        "*Next update:* when the runbook runs again after the fix.",
    ]
    assert blocks[0]["text"]["text"] == "Staging status · staging"
    assert "<http://prefect/run|Prefect flow run>" in blocks[2]["elements"][0]["text"]
    assert message.text.startswith("Staging status (staging): Staging (staging) is NOT usable right now.")
    passed = RunReport(
        environment="staging", started_at=T0, phases=(PhaseResult(phase=Phase.business, status=PhaseStatus.passed),)
    )
    assert stakeholder_stop_message(passed, HANDLES, "soon", None) is None


def test_webhook_run_message_is_one_message_with_progress_stakeholder_words_and_every_phase_problems() -> None:
    report = stopped_at_infrastructure()
    progress = new_progress("staging", "nightly", list(Phase), None, T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.failed, phase_detail(report.phases[0]))
    progress.phases["restoration"] = PhaseLine(PhaseState.skipped, report.phases[1].skip_reason or "")
    progress.phases["business"] = PhaseLine(PhaseState.skipped, report.phases[2].skip_reason or "")
    progress.outcome, progress.glance = "failed", glance(report, HANDLES, "below")
    message = webhook_run_message(
        progress, "*Staging (staging) is NOT usable right now.*", [(report.phases[0], NO_CHANGES, INFRA.mention)]
    )
    blocks = validated(message)
    text = all_text(message)
    assert "⏭️ *Service restoration*: skipped" in text and "Evidence and every fix below." in text
    assert "<!subteam^S0INFRA001|@infra-oncall> *Infrastructure validation failed*: 3 checks" in text
    assert [b["type"] for b in blocks].count("divider") >= 2
    words = next(i for i, b in enumerate(blocks) if "NOT usable" in json.dumps(b))
    details = next(i for i, b in enumerate(blocks) if "3 checks to look at" in json.dumps(b))
    assert words < details  # the short words for stakeholders are never what gets cut


def test_progress_read_back_from_sorted_json_keeps_the_phases_in_plan_order() -> None:
    progress = new_progress("staging", "manual", list(Phase), None, T0)
    progress.phases["infrastructure"] = PhaseLine(PhaseState.passed)
    stored = json.loads(json.dumps(progress.to_dict(), sort_keys=True))  # what slack_store writes
    assert list(stored["phases"]) == ["business", "infrastructure", "restoration"]
    restored = Progress.from_dict(stored)
    assert list(restored.phases) == ["infrastructure", "restoration", "business"]
    lines = validated(parent_message(restored))[2]["text"]["text"].splitlines()
    assert [line.split("*")[1] for line in lines] == [
        "Infrastructure validation",
        "Service restoration",
        "Business validation",
    ]


def test_team_route_renders_a_group_or_member_mention_that_pings_with_a_readable_handle() -> None:
    assert INFRA.mention == "<!subteam^S0INFRA001|@infra-oncall>"
    assert PLATFORM.handle == "@platform-oncall"
    assert TeamRoute(id="U0JANEDOE1", handle="jane").mention == "<@U0JANEDOE1>"
    assert TeamRoute(id="W0ENTERPR1", handle="jane").mention == "<@W0ENTERPR1>"
    pasted = TeamRoute(id="<!subteam^S0INFRA001|@infra-oncall>", handle="@infra-oncall")
    assert pasted.id == "S0INFRA001"
    config = load_config("local")
    assert config.slack.infrastructure is not None
    assert config.slack.infrastructure.mention == "<!subteam^S0SIMINFRA1|@infra-oncall>"
    staging = load_config("staging").slack
    assert staging.platform is not None and staging.platform.mention.startswith("<!subteam^S")


@pytest.mark.parametrize(
    ("route", "key", "found"),
    [
        ({"id": "@infra-oncall", "handle": "@infra-oncall"}, "slack.infrastructure.id", "'@infra-oncall'"),
        ({"id": "s0infra001", "handle": "@infra-oncall"}, "slack.infrastructure.id", "'s0infra001'"),
        ({"id": "C0STGALERTS", "handle": "@infra-oncall"}, "slack.infrastructure.id", "'C0STGALERTS'"),
        ({"mention": "@infra-oncall"}, "slack.infrastructure", "mention = '@infra-oncall'"),
    ],
)
def test_a_literal_handle_or_malformed_id_is_a_config_error_saying_how_to_find_the_id(
    route: dict[str, str], key: str, found: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("local", {"slack": {"infrastructure": route}})
    message = str(raised.value)
    assert f"{key}: expected " in message and f"found {found}" in message
    assert "user-group id" in message and "member id" in message
    assert "a literal @handle notifies nobody" in message
    assert "Copy group ID" in message and "usergroups.list" in message and "Copy member ID" in message
