"""The `monitoring` check: decisions on real monitoring_v3 protos, and the task against the simulator's gRPC API."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import monitoring_v3

from runbook.catalog import CATALOG
from runbook.config.models import MonitoringConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, PhaseResult, PhaseStatus, RunReport, Severity, Status, Verdict, gate
from runbook.slack.store import Changes
from runbook.slack.thread_replies import thread_reply
from simulator.server import Simulator
from tasks.monitoring import (
    Window,
    decide_monitoring,
    monitoring_check,
    post_restore_monitoring,
    request_totals,
    time_series_request,
)
from tests.support import configure, world

pytestmark = pytest.mark.timeout(60)

FAST = {"checks": {"monitoring": {"deadline_s": 3, "timeout_s": 1}}}
SERVICES = ("netra-backend-staging", "netra-auth-service")


def series(service: str, code_class: str, *values: int) -> monitoring_v3.TimeSeries:
    points = [monitoring_v3.Point(value=monitoring_v3.TypedValue(int64_value=v)) for v in values]
    return monitoring_v3.TimeSeries(
        metric={"type": "run.googleapis.com/request_count", "labels": {"response_code_class": code_class}},
        resource={"type": "cloud_run_revision", "labels": {"service_name": service}},
        points=points,
    )


def run(config: RunbookConfig) -> CheckResult:
    clients = GoogleClients(config.gcp)
    assert clients.monitoring is not None  # built before the deadline starts
    return asyncio.run(monitoring_check.fn(config, clients))


# --- decision ---------------------------------------------------------------------------------------------------


def test_points_of_every_series_are_summed_per_service_and_class() -> None:
    totals = request_totals(
        [
            series("netra-backend-staging", "2xx", 500, 400),
            series("netra-backend-staging", "5xx", 30, 20),
            series("netra-backend-staging", "5xx", 10),  # a second revision
            series("netra-auth-service", "2xx", 7),
        ]
    )
    assert totals == {"netra-backend-staging": {"2xx": 900, "5xx": 60}, "netra-auth-service": {"2xx": 7}}


def test_ratio_above_threshold_fails_naming_service_and_ratio() -> None:
    totals = {"netra-backend-staging": {"2xx": 880, "5xx": 120}, "netra-auth-service": {"2xx": 1000}}
    finding = decide_monitoring(SERVICES, totals, MonitoringConfig(), "netra-staging")
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("netra-backend-staging 12.0% 5xx (120 of 1000 requests) over the last 600 s")
    assert "netra-auth-service" not in finding.summary
    assert 'resource.labels.service_name="netra-backend-staging" AND httpRequest.status>=500' in finding.remediation
    assert "--freshness=13m" in finding.remediation


def test_no_5xx_series_means_zero_percent() -> None:
    finding = decide_monitoring(SERVICES, {s: {"2xx": 100} for s in SERVICES}, MonitoringConfig(), "p")
    assert finding.status == Status.PASS
    assert finding.evidence["services"]["netra-backend-staging"]["ratio"] == 0.0


def test_empty_answer_is_no_traffic_not_an_error() -> None:
    finding = decide_monitoring(SERVICES, {}, MonitoringConfig(), "p")
    assert finding.status == Status.PASS
    assert finding.summary.startswith("no requests in window for any service")


def test_too_few_requests_give_no_verdict_on_the_ratio() -> None:
    totals = {"netra-backend-staging": {"5xx": 3}, "netra-auth-service": {"2xx": 100}}
    finding = decide_monitoring(SERVICES, totals, MonitoringConfig(min_requests=10), "p")
    assert finding.status == Status.PASS
    assert finding.summary.endswith("no requests in window: netra-backend-staging")


def test_window_shorter_than_ingestion_delay_is_noted_as_a_config_concern() -> None:
    finding = decide_monitoring(SERVICES, {}, MonitoringConfig(window_s=60, ingestion_delay_s=180), "p")
    assert "window_s (60 s) is shorter than ingestion_delay_s (180 s)" in finding.evidence["config_note"]


def test_request_covers_the_window_ending_ingestion_delay_before_now_in_one_call() -> None:
    window = Window.ending_before(10_000.0, MonitoringConfig(window_s=600, ingestion_delay_s=180))
    assert (window.start, window.end) == (9_220.0, 9_820.0)
    request = monitoring_v3.ListTimeSeriesRequest(time_series_request("netra-staging", window))
    assert request.filter == 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision"'
    assert request.aggregation.alignment_period.total_seconds() == 600
    assert list(request.aggregation.group_by_fields) == [
        "metric.label.response_code_class",
        "resource.label.service_name",
    ]


# --- against the simulator ----------------------------------------------------------------------------------------


def test_healthy_world_passes_with_one_call_for_all_services() -> None:
    with Simulator("healthy") as sim:
        result = run(configure(sim))
        calls = sim.log.count(api="monitoring")
    assert result.status == Status.PASS, result.summary
    assert calls == 1
    assert result.evidence["services"]["netra-backend-staging"]["ratio"] == 0.002


def test_ratio_exactly_at_the_threshold_passes() -> None:
    totals = {"netra-backend-staging": {"2xx": 950, "5xx": 50}}
    finding = decide_monitoring(SERVICES[:1], totals, MonitoringConfig(max_5xx_ratio=0.05), "p")
    assert finding.status == Status.PASS


def test_high_5xx_is_a_p2_failure_that_lets_the_phase_pass_with_warnings_in_report_and_slack() -> None:
    totals = {"netra-backend-staging": {"2xx": 880, "5xx": 120}}
    finding = decide_monitoring(SERVICES[:1], totals, MonitoringConfig(), "netra-staging")
    spec = CATALOG["monitoring"]
    check = CheckResult(
        id=spec.id,
        title=spec.title,
        phase=spec.phase,
        severity=spec.severity,
        status=finding.status,
        summary=finding.summary,
    )
    assert (check.severity, check.status) == (Severity.P2, Status.FAIL)
    assert gate([check]) == PhaseStatus.passed_with_warnings
    phase = PhaseResult(phase=spec.phase, status=gate([check]), checks=(check,))
    report = RunReport(environment="staging", started_at=datetime.now(UTC), phases=(phase,))
    assert report.verdict == Verdict.passed_with_warnings
    reply = thread_reply(phase, Changes(new=("monitoring",), still_failing={}, recovered=()), None).text
    assert "passed with warnings" in reply and "monitoring FAIL" in reply


def test_high_5xx_fails_naming_the_service_and_ratio() -> None:
    with Simulator("high-5xx") as sim:
        result = run(configure(sim))
    assert result.status == Status.FAIL
    assert result.summary.startswith("netra-backend-staging 12.0% 5xx")
    assert "gcloud logging read" in result.remediation


def test_window_inside_the_ingestion_delay_sees_no_traffic_and_passes_with_a_note() -> None:
    with Simulator("metrics-delayed") as sim:
        result = run(configure(sim, {"monitoring": {"window_s": 60, "ingestion_delay_s": 0}}))
    assert result.status == Status.PASS
    assert result.summary.startswith("no requests in window for any service")
    assert "config_note" not in result.evidence  # the config does not know the delay: nothing to flag


def test_shifting_the_window_by_the_ingestion_delay_sees_the_traffic() -> None:
    with Simulator("metrics-delayed+high-5xx") as sim:
        result = run(configure(sim, {"monitoring": {"window_s": 300, "ingestion_delay_s": 180}}))
    assert result.status == Status.FAIL
    assert result.summary.startswith("netra-backend-staging 12.0% 5xx")


def test_post_restore_high_5xx_fails_naming_the_restoration_window() -> None:
    with Simulator("high-5xx") as sim:
        config = configure(sim)
        clients = GoogleClients(config.gcp)
        assert clients.monitoring is not None
        since = datetime.now(UTC) - timedelta(minutes=10)
        result = asyncio.run(post_restore_monitoring.fn(config, clients, since))
    assert (result.id, result.status) == ("post-restore-monitoring", Status.FAIL)
    assert result.summary.startswith("netra-backend-staging 12.0% 5xx")
    assert "since the restoration started" in result.summary


def test_rate_limited_call_is_retried_and_passes() -> None:
    fault = {"api": "monitoring", "status": 429, "times": 1}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 2


def test_permission_denied_is_an_error_naming_the_viewer_role_without_retrying() -> None:
    fault = {"api": "monitoring", "status": 403}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.ERROR
    assert result.attempts == 1
    assert "roles/monitoring.viewer" in result.remediation


def test_hanging_call_ends_in_error_within_the_deadline() -> None:
    fault = {"api": "monitoring", "hang": True}
    with Simulator(world(faults=(fault,))) as sim:
        started = time.monotonic()
        result = run(configure(sim, FAST))
        elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert elapsed < 3 + 1.5


def test_malformed_answer_is_an_error() -> None:
    fault = {"api": "monitoring", "malformed": True}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.ERROR
    # gRPC reports an answer it cannot deserialize as INTERNAL (500), which is retried as transient.
    assert result.summary.startswith(
        "monitoring kept failing for run.googleapis.com/request_count of projects/netra-staging (page 1) after "
    )
    assert result.evidence["error"] == "Exception deserializing response!"
