"""The Slack reporter against the simulator's Slack, with the real slack-sdk over HTTP on 127.0.0.1.

Each test drives the reporter the way the handoff flow does (run start, phase start/end, run end) with results built
directly, then reads the requests the simulated workspace recorded. Every test also checks, on teardown, that no
recorded body holds a secret value and that every message passes slack_sdk's Block Kit validation.
"""

import itertools
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.models.blocks import Block

from runbook.config.models import RunbookConfig
from runbook.results import (
    PHASE_TITLES,
    CheckResult,
    Phase,
    PhaseResult,
    PhaseStatus,
    RunReport,
    Severity,
    Status,
    gate,
)
from runbook.slack.reporter import DeliveryLimits, SlackReporter
from runbook.slack.store import ParentStore, RunHistory
from simulator.scenario import Scenario, load_scenario
from simulator.server import Simulator
from simulator.slack import conversation, render_conversation
from tests.memory_values import MemoryValues
from tests.support import config_for

pytestmark = pytest.mark.timeout(60)

TOKEN = "xoxb-sim-token-not-a-secret"
HOOK_SECRET = "sim-webhook-not-a-secret"
DB_PASSWORD = "netra-app-test-password"
E2E_KEY = "sim-e2e-bypass-key-not-a-secret"
SECRETS = (TOKEN, HOOK_SECRET, DB_PASSWORD, E2E_KEY)
FAST = DeliveryLimits(post_interval_s=0.05, backoff_s=0.01)  # the pacing and down tests use the real limits
RUN_URL = "http://127.0.0.1:4200/runs/flow-run/run-1"
# What pings each team (environments/local.toml's ids); the plain handles may be shown anywhere, these may not.
MENTIONS = ("<!subteam^S0SIMINFRA1|", "<!subteam^S0SIMPLATF1|", "<!subteam^S0SIMPRODT1|")
POST, UPDATE, HOOK = "chat.postMessage", "chat.update", "webhook"
DEPLOYS, ALERTS, HEALTH = "staging-deploys", "staging-alerts", "staging-health"


# ---- results, built directly ----------------------------------------------------------------------------------------


def check(check_id: str, phase: Phase, status: Status = Status.PASS, **fields: Any) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=check_id.replace("-", " ").capitalize(),
        phase=phase,
        severity=fields.pop("severity", Severity.P0),
        status=status,
        summary=fields.pop("summary", f"{check_id} {status.value.lower()}"),
        remediation=fields.pop("remediation", f"runbook fix {check_id}" if status != Status.PASS else ""),
        **fields,
    )


SUMMARY = "**Staging (local) is ready for use: users can log in and get AI responses.**\n\n- Golden path: 2.1 s."
CHECKS = {
    Phase.infrastructure: ("vpc-connector", "cloud-sql-instance", "secrets"),
    Phase.restoration: ("cloud-run-ready", "health-endpoints"),
    Phase.business: ("golden-path", "performance"),
}


def phase_result(phase: Phase, problems: dict[str, Status] | None = None, **fields: Any) -> PhaseResult:
    problems = problems or {}
    checks = [check(c, phase, problems.get(c, Status.PASS), **fields) for c in CHECKS[phase]]
    if phase == Phase.business:
        checks.append(check("stakeholder-summary", phase, severity=Severity.P2, evidence={"summary": SUMMARY}))
    return PhaseResult(phase=phase, status=gate(checks), checks=tuple(checks), duration_s=1.5)


def run_results(failing: Phase | None = None, problems: dict[str, Status] | None = None) -> list[PhaseResult]:
    """Three phases; the first `failing` one gets `problems` (or its first check FAIL), later phases skipped."""
    results: list[PhaseResult] = []
    for phase in Phase:
        if results and not results[-1].passed:
            results.append(
                PhaseResult(phase=phase, status=PhaseStatus.skipped, skip_reason=results[-1].failure_reason())
            )
        elif phase == failing:
            results.append(phase_result(phase, problems or {CHECKS[phase][0]: Status.FAIL}))
        else:
            results.append(phase_result(phase))
    return results


def report_of(results: list[PhaseResult]) -> RunReport:
    return RunReport(
        environment="local", started_at=datetime(2025, 9, 18, 2, tzinfo=UTC), duration_s=12.5, phases=tuple(results)
    )


async def drive(reporter: SlackReporter, results: list[PhaseResult]) -> RunReport:
    """What the handoff flow does: start, each phase (skipped ones only end), finish."""
    report = report_of(results)
    before = report.model_copy(deep=True)
    await reporter.run_started([r.phase for r in results])
    for result in results:
        if result.status != PhaseStatus.skipped:
            await reporter.phase_started(result.phase)
        await reporter.phase_finished(result)
    await reporter.run_finished(report)
    assert report == before and report.verdict == before.verdict  # Slack never changes the verdict
    return report


# ---- the simulator and what it recorded ----------------------------------------------------------------------------


def requests(sim: Simulator, only_ok: bool = False) -> list[tuple[str, str]]:
    """(method, channel name) of every Slack request, in order."""
    sequence = []
    for entry in sim.log.entries("slack"):
        body = entry.body if isinstance(entry.body, dict) else {}
        outcome = body.get("_response", {})
        if only_ok and not (outcome.get("ok") or outcome.get("status") == 200):
            continue
        method = HOOK if "/slack/webhook/" in entry.path else entry.path.rsplit("/", 1)[-1]
        channel = outcome.get("channel_name") or str(body.get("channel", "?")).removeprefix("#")
        sequence.append((method, channel))
    return sequence


def bodies(sim: Simulator) -> list[dict[str, Any]]:
    return [e.body for e in sim.log.entries("slack") if isinstance(e.body, dict)]


def body_text(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "_response"}, ensure_ascii=False)


def assert_clean(sim: Simulator) -> None:
    """No secret value in any request body; every message has a fallback text and valid Block Kit blocks."""
    for entry in sim.log.entries("slack"):
        assert TOKEN not in entry.query and HOOK_SECRET not in entry.query
    for body in bodies(sim):
        text = body_text(body)
        for secret in SECRETS:
            assert secret not in text, f"secret value in a Slack message: {text[:200]}"
        if "blocks" in body:
            assert isinstance(body.get("text"), str) and body["text"].strip()
            assert len(body["blocks"]) <= 50
            for raw in body["blocks"]:
                block = Block.parse(raw)
                assert block is not None
                block.validate_json()


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("RUNBOOK_DB_PASSWORD", DB_PASSWORD)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    return monkeypatch


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start a simulator (scenario name or Scenario); on teardown every recorded body is checked for secrets."""
    started: list[Simulator] = []

    def start(scenario: str | Scenario = "healthy") -> Simulator:
        sim = Simulator(scenario).start()
        started.append(sim)
        return sim

    yield start
    try:
        for sim in started:
            assert_clean(sim)
    finally:
        for sim in started:
            sim.stop()


_VALUES: dict[Path, MemoryValues] = {}


def values_of(tmp_path: Path) -> MemoryValues:
    """The Prefect server's values of one test (every reporter of the test shares them, as processes share a server)."""
    return _VALUES.setdefault(tmp_path, MemoryValues())


def reporter_for(
    sim: Simulator,
    tmp_path: Path,
    overrides: dict[str, Any] | None = None,
    run_id: str = "run-1",
    limits: DeliveryLimits = FAST,
    trigger: str = "manual",
) -> SlackReporter:
    config: RunbookConfig = config_for(sim, {"slack": overrides or {}})
    return SlackReporter(
        config,
        trigger=trigger,
        run_id=run_id,
        run_url=RUN_URL,
        store=ParentStore(values_of(tmp_path)),
        history=RunHistory(values_of(tmp_path)),
        limits=limits,
    )


def rate_limited(calls: int, retry_after: int, always: bool = False) -> Scenario:
    slack = {"rate_limited_calls": calls, "retry_after_seconds": retry_after, "rate_limited_always": always}
    return load_scenario("slack-rate-limited").model_copy(update={"slack": slack})


# ---- healthy, failing, quiet, webhook ------------------------------------------------------------------------------


async def test_healthy_run_posts_one_parent_updates_it_in_place_and_sends_the_stakeholder_summary(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    await drive(reporter, run_results())
    assert requests(sim) == [(POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 7 + [(POST, HEALTH)]
    assert all(n["ok"] and n["attempts"] == 1 for n in reporter.notifications)
    assert [n["purpose"] for n in reporter.notifications][-2:] == ["parent-final", "stakeholder"]
    channels = conversation(sim.log)
    parent = channels[0]["messages"][0]
    assert channels[0]["channel"] == "#staging-deploys" and len(channels[0]["messages"]) == 1
    assert parent["edited"] and parent["replies"] == []
    rendered = render_conversation(sim.log)
    assert (
        "Trigger: manual · Duration 12.5 s · Prefect flow run (http://127.0.0.1:4200/runs/flow-run/run-1)" in rendered
    )
    assert "✅ *Verdict: passed*" in rendered and "*Staging (local) is ready for use" in rendered
    assert not any(m in body_text(b) for b in bodies(sim) for m in MENTIONS)


async def test_quiet_passing_run_updates_one_parent_message_and_mentions_nobody(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, {"quiet": True}, trigger="nightly")
    await drive(reporter, run_results())
    assert requests(sim) == [(POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 7
    assert "Trigger: nightly" in render_conversation(sim.log)
    assert not any(m in body_text(b) for b in bodies(sim) for m in MENTIONS)


async def test_quiet_run_with_warnings_threads_them_without_mentions_or_pointers(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, {"quiet": True})
    results = run_results(Phase.infrastructure, {"secrets": Status.WARN})
    results[0] = phase_result(Phase.infrastructure, {"secrets": Status.WARN}, severity=Severity.P2)
    assert results[0].status == PhaseStatus.passed_with_warnings
    await drive(reporter, results)
    assert (
        requests(sim)
        == [(POST, DEPLOYS), (UPDATE, DEPLOYS), (UPDATE, DEPLOYS), (POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 5
    )
    assert not any(m in body_text(b) for b in bodies(sim) for m in MENTIONS)


@pytest.mark.parametrize(
    ("failing", "mention", "expected"),
    [
        (
            Phase.infrastructure,  # stopped before phase 3: the stakeholders are told in plain words all the same
            "<!subteam^S0SIMINFRA1|@infra-oncall>",
            [(POST, DEPLOYS), (UPDATE, DEPLOYS), (UPDATE, DEPLOYS), (POST, DEPLOYS), (POST, ALERTS)]
            + [(UPDATE, DEPLOYS)] * 3
            + [(POST, HEALTH)],
        ),
        (
            Phase.restoration,
            "<!subteam^S0SIMPLATF1|@platform-oncall>",
            [(POST, DEPLOYS)]
            + [(UPDATE, DEPLOYS)] * 4
            + [(POST, DEPLOYS), (POST, ALERTS), (UPDATE, DEPLOYS), (UPDATE, DEPLOYS), (POST, HEALTH)],
        ),
        (
            Phase.business,  # the product team has no channel of its own: no pointer; the summary still goes out
            "<!subteam^S0SIMPRODT1|@product-team>",
            [(POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 6 + [(POST, DEPLOYS), (UPDATE, DEPLOYS), (POST, HEALTH)],
        ),
    ],
)
async def test_failing_phase_threads_the_details_pings_its_team_and_points_its_channel_to_them(
    slack_env: pytest.MonkeyPatch,
    start_sim: Callable[..., Simulator],
    tmp_path: Path,
    failing: Phase,
    mention: str,
    expected: list[tuple[str, str]],
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    report = await drive(reporter, run_results(failing))
    assert report.verdict == "failed"
    assert requests(sim) == expected
    parent = conversation(sim.log)[0]["messages"][0]
    (reply,) = parent["replies"]
    reply_text = body_text({"text": reply["text"], "blocks": reply["blocks"]})
    failed_check = CHECKS[failing][0]
    assert reply["blocks"][0]["text"]["text"].startswith(f"{mention} *")
    assert f"*{failed_check}* (P0, FAIL) · _new_" in reply_text
    assert f"runbook fix {failed_check}" in reply_text  # the remediation
    others = [m for m in MENTIONS if not mention.startswith(m)]
    assert not any(m in body_text(b) for b in bodies(sim) for m in others)
    pings = [b for b in bodies(sim) if mention in body_text(b)]
    assert len(pings) == (1 if failing == Phase.business else 2)  # the reply (and the pointer): nothing else pings
    pointers = [b for b in bodies(sim) if b.get("channel") == "#staging-alerts"]
    if failing != Phase.business:
        assert len(pointers) == 1 and pointers[0]["text"].startswith(f"{mention} ")
        assert "<#C0STGDEPLOY>" in pointers[0]["text"]
    # The parent says at a glance what broke, the fix and who is on it (the handle, not a second ping).
    handle = mention.split("|")[1].rstrip(">")
    sections = [block for block in parent["blocks"] if block["type"] == "section"]
    final = sections[-1]["text"]["text"]
    # [slack.chatops] is configured: the failed run offers a rerun of its failed phase, answered by the Slack bot.
    (actions,) = [block for block in parent["blocks"] if block["type"] == "actions"]
    assert actions["elements"][0]["text"]["text"] == f"Rerun {failing.value}"
    assert final.startswith(f"❌ *Verdict: failed*\n❌ *{failed_check}* (P0 FAIL): {failed_check} fail")
    assert f"Fix: runbook fix {failed_check}" in final and f"On it: {handle}" in final
    # The simulator's read-back (what `make demo` prints) shows whom each message pinged.
    async with httpx.AsyncClient(timeout=5) as http:
        read_back = (await http.get(f"{sim.url}/_simulator/slack/conversation")).text
    assert f"(pings {handle})" in read_back and "subteam" not in read_back
    stakeholder = [b for b in bodies(sim) if b.get("channel") == "#staging-health"]
    assert len(stakeholder) == 1
    if failing != Phase.business:
        words = body_text(stakeholder[0])
        assert "Staging (local) is NOT usable right now." in words and f"team ({handle})" in words
        assert PHASE_TITLES[failing].lower() in words and "Next update:" in words


@pytest.mark.parametrize("failing", [Phase.infrastructure, Phase.restoration, None])
async def test_webhook_mode_posts_one_message_per_run_summarising_every_phase(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path, failing: Phase | None
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, use_webhook(sim, slack_env))
    await drive(reporter, run_results(failing))
    assert requests(sim) == [(HOOK, DEPLOYS)]  # not one per phase, not a "skipped" message per skipped phase
    assert all(n["ok"] and n["method"] == "webhook" for n in reporter.notifications)
    (message,) = conversation(sim.log)[0]["messages"]
    text = body_text(message)
    assert not any(HOOK_SECRET in json.dumps(n) for n in reporter.notifications)
    if failing is None:
        assert "✅ *Verdict: passed*" in text and "Staging (local) is ready for use" in text
        assert not any(m in text for m in MENTIONS)
        return
    title = PHASE_TITLES[failing]
    assert "❌ *Verdict: failed*" in text and f"❌ *{title}*: failed" in text
    assert "⏭️ *Business validation*: skipped" in text and "Evidence and every fix below." in text
    assert f"{MENTIONS[list(Phase).index(failing)]}" in text and f"*{title} failed*: 1 check to look at" in text
    assert "Staging (local) is NOT usable right now." in text  # the stakeholders' words, in the one channel


def use_webhook(sim: Simulator, env: pytest.MonkeyPatch) -> dict[str, Any]:
    env.delenv("SLACK_BOT_TOKEN", raising=False)
    env.setenv("SLACK_WEBHOOK_URL", f"{sim.url}/slack/webhook/T0SIMTEAM01/B0SIMHOOK01/{HOOK_SECRET}")
    return {"webhook_url_env": "SLACK_WEBHOOK_URL"}


async def test_quiet_webhook_run_that_passes_posts_only_the_run_end_and_a_crash_is_posted_too(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, {**use_webhook(sim, slack_env), "quiet": True})
    await drive(reporter, run_results())
    assert requests(sim) == [(HOOK, DEPLOYS)]
    crashed = reporter_for(sim, tmp_path, use_webhook(sim, slack_env), run_id="run-2")
    await crashed.run_started(list(Phase))
    await crashed.run_crashed("worker lost")
    assert requests(sim) == [(HOOK, DEPLOYS)] * 2
    assert "💥 *Run crashed*: worker lost" in render_conversation(sim.log)


async def test_revoked_webhook_is_permanent_and_recorded(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim("slack-invalid-auth")
    reporter = reporter_for(sim, tmp_path, use_webhook(sim, slack_env))
    await drive(reporter, run_results(Phase.infrastructure))
    await reporter.run_crashed("after the end")  # nothing more is tried with a dead webhook
    assert [method for method, _ in requests(sim)] == [HOOK]  # rejected: the answer names no channel
    notes = reporter.notifications
    assert notes[0]["error"] == "invalid_token" and "credentials were rejected" in notes[1]["error"]


# ---- Slack misbehaving: the run goes on, everything is recorded ----------------------------------------------------


async def test_rate_limited_slack_is_waited_for_per_retry_after_and_the_run_succeeds(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim(rate_limited(calls=2, retry_after=1))
    reporter = reporter_for(sim, tmp_path)
    started = time.monotonic()
    await drive(reporter, run_results())
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 5.0  # two Retry-After: 1 waits, no more
    first = reporter.notifications[0]
    assert first["purpose"] == "parent" and first["ok"] and first["attempts"] == 3
    assert all(n["ok"] for n in reporter.notifications)
    assert requests(sim, only_ok=True) == [(POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 7 + [(POST, HEALTH)]


async def test_retry_after_longer_than_the_cap_is_not_waited_for_and_repeated_failures_stop_the_calls(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim(rate_limited(calls=0, retry_after=30, always=True))
    reporter = reporter_for(sim, tmp_path)
    started = time.monotonic()
    await drive(reporter, run_results())
    assert time.monotonic() - started < 2.0
    assert len(requests(sim)) == 3  # then the breaker: Slack is not hammered
    errors = [n["error"] for n in reporter.notifications]
    assert errors[:3] == ["ratelimited"] * 3
    assert all(e.startswith("skipped: Slack unavailable") for e in errors[3:]) and len(errors) > 3


async def test_paced_to_one_message_per_second_per_channel(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim(rate_limited(calls=1, retry_after=0))
    reporter = reporter_for(sim, tmp_path, limits=DeliveryLimits())
    failing = phase_result(Phase.infrastructure, {"secrets": Status.WARN}, severity=Severity.P2)
    also = phase_result(Phase.restoration, {"health-endpoints": Status.WARN}, severity=Severity.P2)
    await reporter.run_started([Phase.infrastructure, Phase.restoration])
    await reporter.phase_finished(failing)
    await reporter.phase_finished(also)
    posts: dict[str, list[float]] = {}
    for entry in sim.log.entries("slack"):
        outcome = entry.body.get("_response", {}) if isinstance(entry.body, dict) else {}
        if entry.path.endswith("chat.postMessage") and outcome.get("ok"):
            posts.setdefault(outcome["channel_name"], []).append(entry.at)
    assert len(posts[DEPLOYS]) == 3 and len(posts[ALERTS]) == 2
    for times in posts.values():
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(times)), times


async def test_slack_down_is_retried_a_few_times_then_recorded_within_bounded_time(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim("slack-down")
    reporter = reporter_for(sim, tmp_path, limits=DeliveryLimits())
    started = time.monotonic()
    await drive(reporter, run_results(Phase.infrastructure))
    assert time.monotonic() - started < 6.0  # ~0.75 s of backoff per call, paced 1 s apart, client import
    assert len(requests(sim)) == 9  # three calls, each tried three times; then Slack is left alone
    notes = reporter.notifications
    assert [(n["error"], n["attempts"]) for n in notes[:3]] == [("http_503", 3)] * 3
    assert all(not n["ok"] and n["error"].startswith("skipped") for n in notes[3:])


async def test_invalid_auth_is_permanent_one_request_then_nothing(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = start_sim("slack-invalid-auth")
    reporter = reporter_for(sim, tmp_path)
    await drive(reporter, run_results(Phase.business))
    assert requests(sim) == [(POST, DEPLOYS)]
    notes = reporter.notifications
    assert notes[0]["error"] == "invalid_auth" and notes[0]["attempts"] == 1
    assert all("credentials were rejected" in n["error"] for n in notes[1:]) and len(notes) > 1
    assert "invalid_auth" in caplog.text and TOKEN not in caplog.text
    assert TOKEN not in json.dumps(notes)


async def test_a_channel_that_does_not_exist_is_recorded_and_not_tried_again(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    routes = {
        "infrastructure": {"id": "S0SIMINFRA1", "handle": "@infra-oncall", "channel": "#no-such-channel"},
        "platform": {"id": "S0SIMPLATF1", "handle": "@platform-oncall", "channel": "#no-such-channel"},
    }
    reporter = reporter_for(sim, tmp_path, routes)
    warn = {"secrets": Status.WARN}
    await reporter.run_started([Phase.infrastructure, Phase.restoration])
    await reporter.phase_finished(phase_result(Phase.infrastructure, warn, severity=Severity.P2))
    await reporter.phase_finished(
        phase_result(Phase.restoration, {"health-endpoints": Status.WARN}, severity=Severity.P2)
    )
    pointers = [n for n in reporter.notifications if n["purpose"] == "team-pointer"]
    assert [p["error"] for p in pointers] == [
        "channel_not_found",
        "skipped: this channel was rejected earlier in this run",
    ]
    assert requests(sim).count((POST, "no-such-channel")) == 1


async def test_unreachable_slack_connection_errors_are_retried_then_recorded(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/slack/api/"
        reporter = reporter_for(sim, tmp_path, {"api_base_url": url})
        started = time.monotonic()
        await drive(reporter, run_results())
        assert time.monotonic() - started < 3.0
    finally:
        closed.close()
    notes = reporter.notifications
    assert [(n["error"], n["attempts"]) for n in notes[:3]] == [("connection_error (ClientConnectorError)", 3)] * 3
    assert all(n["error"].startswith("skipped: Slack unavailable") for n in notes[3:])


async def test_a_hanging_slack_is_cut_by_the_call_timeout_and_the_run_budget(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    slow = load_scenario("healthy").model_copy(update={"slack": {"latency_ms": 5000}})
    sim = start_sim(slow)
    limits = DeliveryLimits(post_interval_s=0.05, call_timeout_s=0.3, run_budget_s=0.5, breaker_failures=10)
    reporter = reporter_for(sim, tmp_path, limits=limits)
    started = time.monotonic()
    await drive(reporter, run_results())
    assert time.monotonic() - started < 1.5
    errors = [n["error"] for n in reporter.notifications]
    assert errors[:2] == ["timeout", "timeout"]
    assert all("time budget" in e for e in errors[2:]) and len(errors) > 2


# ---- secrets, credentials, idempotency, crashes, history -----------------------------------------------------------


async def test_no_secret_value_reaches_slack_even_when_results_carry_one(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    leaky = check(
        "database-connectivity",
        Phase.infrastructure,
        Status.FAIL,
        summary=f"connect failed: postgresql://netra_app:{DB_PASSWORD}@10.0.0.3/netra_staging",
        evidence={"request_headers": {"X-E2E-Bypass-Key": E2E_KEY}, "bearer_token": TOKEN},
        remediation=f"export PGPASSWORD={DB_PASSWORD}",
    )
    result = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.failed, checks=(leaky,))
    await reporter.run_started([Phase.infrastructure])
    await reporter.phase_finished(result)
    await reporter.run_crashed(f"worker died holding {TOKEN}")
    assert requests(sim)[-1] == (UPDATE, DEPLOYS)
    assert "[redacted]" in json.dumps(bodies(sim))
    # assert_clean (teardown) searches every recorded body for every secret value


async def test_secrets_are_redacted_by_value_and_by_exact_key_while_timings_stay_readable(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlMmUtdGVzdGVyIn0.c2lnbmF0dXJlLW5vdC1yZWFs"
    leaky = check(
        "golden-path",
        Phase.business,
        Status.FAIL,
        summary=f"login answered {jwt}",
        evidence={
            "token_ms": 41.5,
            "tokens_used": 1234,
            "note": f"dsn postgresql://netra_app:{DB_PASSWORD}@10.0.0.3/netra_staging",  # a known value
            "cache": "redis://default:unknown-redis-pass@10.0.0.9:6379",  # an unknown one, by its place in a URL
            "access_token": "opaque-token-value",  # by its exact key
        },
    )
    await reporter.run_started([Phase.business])
    await reporter.phase_finished(PhaseResult(phase=Phase.business, status=PhaseStatus.failed, checks=(leaky,)))
    (reply,) = conversation(sim.log)[0]["messages"][0]["replies"]
    evidence = next(b["text"]["text"] for b in reply["blocks"] if "*Evidence*" in b.get("text", {}).get("text", ""))
    for value in (jwt, "unknown-redis-pass", "opaque-token-value", DB_PASSWORD):
        assert value not in body_text(reply), value
    assert '"token_ms": 41.5' in evidence and '"tokens_used": 1234' in evidence  # timings are not secrets
    assert "postgresql://netra_app:[redacted]@10.0.0.3" in evidence and "redis://default:[redacted]@" in evidence
    assert '"access_token": "[redacted]"' in evidence and "login answered [redacted]" in body_text(reply)


async def test_token_comes_from_the_prefect_secret_block_when_configured(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret

    loaded: list[str] = []

    async def aload(name: str) -> Secret:
        loaded.append(name)
        return Secret(value=TOKEN)

    slack_env.setattr(Secret, "aload", aload)
    slack_env.delenv("SLACK_BOT_TOKEN")
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, {"token_block": "slack-bot-token"})
    await reporter.run_started(list(Phase))
    assert loaded == ["slack-bot-token"] and requests(sim) == [(POST, DEPLOYS)]


@pytest.mark.parametrize(
    ("overrides", "note"),
    [({"enabled": False}, "Slack disabled"), ({}, "no bot token or webhook URL found (env SLACK_BOT_TOKEN)")],
)
async def test_disabled_or_without_credentials_the_reporter_does_nothing_but_say_so(
    slack_env: pytest.MonkeyPatch,
    start_sim: Callable[..., Simulator],
    tmp_path: Path,
    overrides: dict[str, Any],
    note: str,
) -> None:
    slack_env.delenv("SLACK_BOT_TOKEN")
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path, overrides)
    await drive(reporter, run_results(Phase.infrastructure))
    await reporter.run_crashed("boom")
    assert requests(sim) == []
    (only,) = reporter.notifications
    assert note in only["error"] and only["attempts"] == 0
    assert values_of(tmp_path).calls == []  # nothing read or written on the server either


async def test_a_retried_flow_reuses_the_parent_message(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    first = reporter_for(sim, tmp_path)
    await first.run_started(list(Phase))
    await first.phase_started(Phase.infrastructure)
    retried = reporter_for(sim, tmp_path)
    await retried.run_started(list(Phase))
    await retried.phase_started(Phase.infrastructure)
    assert requests(sim) == [(POST, DEPLOYS)] + [(UPDATE, DEPLOYS)] * 3
    assert {n["ts"] for n in first.notifications + retried.notifications} == {first.notifications[0]["ts"]}
    assert len(conversation(sim.log)[0]["messages"]) == 1
    report = report_of(run_results())
    await retried.run_finished(report)
    await reporter_for(sim, tmp_path).run_finished(report)  # retried once more after the end
    assert requests(sim).count((POST, HEALTH)) == 1  # stakeholders are told once
    assert requests(sim).count((POST, DEPLOYS)) == 1


@pytest.mark.parametrize(("cancelled", "words"), [(False, "💥 *Run crashed*"), (True, "🛑 *Run cancelled*")])
async def test_crash_or_cancel_from_a_fresh_process_updates_the_parent_through_the_store(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path, cancelled: bool, words: str
) -> None:
    sim = start_sim()
    flow = reporter_for(sim, tmp_path)
    await flow.run_started(list(Phase))
    await flow.phase_finished(phase_result(Phase.infrastructure))
    await flow.phase_started(Phase.restoration)
    hook = reporter_for(sim, tmp_path)  # the state hook: same run id and store, nothing else in memory
    await hook.run_crashed("Flow run was cancelled by the user" if cancelled else "worker lost", cancelled=cancelled)
    assert requests(sim)[-1] == (UPDATE, DEPLOYS) and len(requests(sim)) == 4
    rendered = render_conversation(sim.log)
    assert words in rendered
    assert "✅ *Infrastructure validation*: passed" in rendered  # the progress survived the process
    assert "💥 *Service restoration*: interrupted" in rendered and "⚪ *Business validation*: queued" in rendered
    order = [rendered.index(f"*{PHASE_TITLES[p]}*") for p in Phase]
    assert order == sorted(order), "the phases keep the plan's order after the store's round trip"


async def test_second_run_marks_still_failing_since_the_first_new_failures_and_recoveries(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    first = reporter_for(sim, tmp_path, run_id="run-1")
    await drive(first, run_results(Phase.infrastructure, {"vpc-connector": Status.FAIL, "secrets": Status.WARN}))
    sim.log.clear()
    second = reporter_for(sim, tmp_path, run_id="run-2")
    await drive(
        second, run_results(Phase.infrastructure, {"vpc-connector": Status.FAIL, "cloud-sql-instance": Status.FAIL})
    )
    (reply,) = conversation(sim.log)[0]["messages"][0]["replies"]
    text = body_text({"blocks": reply["blocks"]})
    assert "*vpc-connector* (P0, FAIL) · _still failing since 2025-09-18 02:00 UTC (2 runs)_" in text
    assert "*cloud-sql-instance* (P0, FAIL) · _new_" in text
    assert "Recovered since the previous run: secrets" in text
    assert "recovered: secrets" in render_conversation(sim.log)


# ---- the run's memory on the Prefect server; waiting for the environment --------------------------------------------


async def test_a_prefect_server_that_does_not_answer_never_breaks_the_run_or_its_messages(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    down = MemoryValues(fail=True)
    config = config_for(sim, {"slack": {}})
    reporter = SlackReporter(
        config, trigger="manual", run_id="run-1", run_url=RUN_URL, store=ParentStore(down), history=RunHistory(down)
    )
    await drive(reporter, run_results(Phase.infrastructure))  # drive() asserts the verdict is untouched
    assert len(conversation(sim.log)[0]["messages"]) == 1  # one parent, updated in place all the same
    memory = [n for n in reporter.notifications if n["purpose"] in ("store", "history")]
    assert [n["purpose"] for n in memory] == ["store", "history", "store", "history"]  # each kind noted once
    assert not any(n["ok"] for n in memory)
    assert any("run history not read (every problem shows as new)" in n["error"] for n in memory)
    assert all("Prefect did not answer within 5 s" in n["error"] for n in memory)


async def test_a_waiting_run_says_who_holds_the_environment_in_its_parent_then_runs_in_the_same_message(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    holder = "local is in use by run 'local · manual · 2026-12-01 10:00 UTC' (flow run 1f2e) since 10:00:05 UTC"
    await reporter.run_waiting(holder)
    waiting = render_conversation(sim.log)
    assert f"⏳ *Waiting for the environment*: {holder}" in waiting and "Waiting for" in waiting
    await drive(reporter, run_results())
    assert len(conversation(sim.log)[0]["messages"]) == 1
    final = render_conversation(sim.log)
    assert "Waiting for the environment" not in final and "✅ *Verdict: passed*" in final


async def test_a_refused_run_says_it_did_not_run_and_leaves_no_history(
    slack_env: pytest.MonkeyPatch, start_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = start_sim()
    reporter = reporter_for(sim, tmp_path)
    reason = "not run: local is in use by run 'local · nightly · 2026-12-01 10:00 UTC' (flow run 1f2e); waited 900 s"
    await reporter.run_waiting("local is in use by run 'local · nightly · 2026-12-01 10:00 UTC' (flow run 1f2e)")
    await reporter.run_refused(reason, list(Phase))
    rendered = render_conversation(sim.log)
    assert f"⛔ *Not run*: {reason}" in rendered and "Waiting for the environment" not in rendered
    assert requests(sim) == [(POST, DEPLOYS), (UPDATE, DEPLOYS)]  # no thread, no stakeholders
    assert not any(name.startswith("runbook-history-") for name in values_of(tmp_path).data)
