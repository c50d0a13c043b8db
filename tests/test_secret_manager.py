"""The `secrets` check: decision on real SecretVersion protos, and the task against the staging simulator."""

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import secretmanager_v1

from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from simulator.server import Simulator
from tasks.cloud_run import service_drift_check
from tasks.secret_manager import SecretInventory, decide_secrets, secrets_check, short_name
from tests.support import configure, world

pytestmark = pytest.mark.timeout(60)

EXPECTED = ("jwt-secret-staging", "secret-key-staging", "service-secret-staging", "redis-password-staging")
FAST = {"checks": {"secrets": {"deadline_s": 3, "timeout_s": 1}}}


def version(secret: str, number: int, state: str) -> secretmanager_v1.SecretVersion:
    return secretmanager_v1.SecretVersion(name=f"projects/123456789012/secrets/{secret}/versions/{number}", state=state)


def run(config: RunbookConfig, clients: GoogleClients | None = None) -> CheckResult:
    clients = clients or GoogleClients(config.gcp)
    assert (
        clients.secretmanager is not None
    )  # built before the deadline starts: the import is not what is being measured
    return asyncio.run(secrets_check.fn(config, clients))


def list_calls(sim: Simulator) -> int:
    return sum(1 for e in sim.log.entries("secretmanager") if e.path.endswith("/secrets"))


def version_calls(sim: Simulator) -> list[str]:
    return [e.path for e in sim.log.entries("secretmanager") if e.path.endswith("/versions/latest")]


@pytest.fixture
def healthy() -> Iterator[Simulator]:
    with Simulator("healthy") as sim:
        yield sim


# --- decision ---------------------------------------------------------------------------------------------------


def test_every_expected_secret_with_enabled_latest_version_passes() -> None:
    latest = {s: version(s, 2, "ENABLED") for s in EXPECTED}
    finding = decide_secrets(EXPECTED, set(EXPECTED) | {"unrelated"}, latest, "netra-staging")
    assert finding.status == Status.PASS
    assert finding.evidence == {"expected": 4, "found": 4, "enabled": 4, "secrets_in_project": 5}


def test_every_missing_disabled_destroyed_and_versionless_secret_is_reported_at_once() -> None:
    existing = {"service-secret-staging", "redis-password-staging", "secret-key-staging"}
    latest = {
        "service-secret-staging": version("service-secret-staging", 2, "DISABLED"),
        "redis-password-staging": version("redis-password-staging", 5, "DESTROYED"),
        "secret-key-staging": None,
    }
    finding = decide_secrets(EXPECTED, existing, latest, "netra-staging")
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("4 of 4 expected secrets unusable: 1 missing (jwt-secret-staging)")
    assert "service-secret-staging version 2 DISABLED" in finding.summary
    assert "redis-password-staging version 5 DESTROYED" in finding.summary
    assert finding.evidence["missing"] == ["jwt-secret-staging"]
    assert finding.evidence["no_versions"] == ["secret-key-staging"]
    assert finding.evidence["not_enabled"] == {
        "service-secret-staging": "version 2 DISABLED",
        "redis-password-staging": "version 5 DESTROYED",
    }
    fixes = finding.remediation.splitlines()
    assert "gcloud secrets create jwt-secret-staging --project netra-staging --replication-policy=automatic" in fixes
    assert "gcloud secrets versions enable 2 --secret service-secret-staging --project netra-staging" in fixes
    assert "gcloud secrets versions add redis-password-staging --project netra-staging --data-file=FILE" in fixes
    assert len(fixes) == 4


def test_long_lists_are_shortened_in_the_summary_but_complete_in_the_evidence() -> None:
    expected = tuple(f"secret-{n}" for n in range(9))
    finding = decide_secrets(expected, set(), {}, "p")
    assert "9 missing (secret-0, secret-1, secret-2, secret-3, secret-4 +4 more)" in finding.summary
    assert finding.evidence["missing"] == list(expected)


def test_names_with_the_project_number_compare_by_their_last_segment() -> None:
    assert short_name("projects/123456789012/secrets/SESSION_SECRET_KEY") == "SESSION_SECRET_KEY"


# --- against the simulator ----------------------------------------------------------------------------------------


def test_healthy_world_passes_reading_each_resource_once_and_no_payload(healthy: Simulator) -> None:
    result = run(configure(healthy))
    assert result.status == Status.PASS, result.summary
    assert result.summary == "all 22 expected secrets exist with an ENABLED latest version"
    assert list_calls(healthy) == 1
    paths = version_calls(healthy)
    assert len(paths) == 22 and len(set(paths)) == 22
    assert healthy.log.count(api="secretmanager", path_contains=":access") == 0
    assert result.attempts == 23


def test_missing_and_disabled_secrets_fail_naming_both() -> None:
    with Simulator("secret-missing+secret-disabled") as sim:
        result = run(configure(sim))
        assert sim.log.count(api="secretmanager", path_contains=":access") == 0
    assert result.status == Status.FAIL
    assert "1 missing (jwt-secret-staging)" in result.summary
    assert "service-secret-staging version 2 DISABLED" in result.summary
    assert "gcloud secrets versions enable 2 --secret service-secret-staging" in result.remediation


def test_several_missing_secrets_are_all_reported_not_only_the_first() -> None:
    gone = ["jwt-secret-staging", "redis-host-staging", "SESSION_SECRET_KEY"]
    with Simulator(world(secretmanager={"secrets": {s: {"exists": False} for s in gone}})) as sim:
        result = run(configure(sim))
    assert result.status == Status.FAIL
    assert sorted(result.evidence["missing"]) == sorted(gone)
    assert result.summary.startswith("3 of 22 expected secrets unusable: 3 missing")
    assert all(f"gcloud secrets create {s} " in result.remediation for s in gone)


def test_small_pages_still_read_every_secret() -> None:
    with Simulator("healthy") as sim:
        result = run(configure(sim, {"secrets": {"page_size": 5}}))
        assert list_calls(sim) == 5  # 22 secrets in pages of 5
        assert all("pageSize=5" in e.query for e in sim.log.entries("secretmanager") if e.path.endswith("/secrets"))
    assert result.status == Status.PASS, result.summary


def test_version_lookups_never_exceed_the_configured_concurrency() -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()
    with Simulator(world(api_latency_ms={"secretmanager": 50})) as sim:
        config = configure(sim, {"secrets": {"concurrency": 3}})
        clients = GoogleClients(config.gcp)
        client = clients.secretmanager
        original = client.get_secret_version

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal in_flight, peak
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    in_flight -= 1

        client.get_secret_version = counting
        result = run(config, clients)
    assert result.status == Status.PASS, result.summary
    assert peak == 3  # concurrent (more than one at a time), and never more than configured


def test_one_listing_is_shared_with_service_drift_in_the_same_run(healthy: Simulator) -> None:
    config = configure(healthy)
    clients = GoogleClients(config.gcp)
    inventory = SecretInventory()

    async def both() -> list[CheckResult]:
        return list(
            await asyncio.gather(
                secrets_check.fn(config, clients, inventory), service_drift_check.fn(config, clients, inventory)
            )
        )

    results = asyncio.run(both())
    assert [r.status for r in results] == [Status.PASS, Status.PASS], [r.summary for r in results]
    assert list_calls(healthy) == 1


def test_rate_limited_call_is_retried_after_retry_after_and_passes() -> None:
    with Simulator("api-429") as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 24  # 23 reads, one of them twice


def test_two_unavailable_answers_are_retried_and_pass() -> None:
    fault = {"api": "secretmanager", "status": 503, "times": 2}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 25


def test_permission_denied_is_an_error_naming_the_viewer_role_without_retrying() -> None:
    fault = {"api": "secretmanager", "status": 403, "path_regex": "/secrets$"}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
        assert list_calls(sim) == 1
    assert result.status == Status.ERROR
    assert result.attempts == 1
    assert "permission denied" in result.summary
    assert "roles/secretmanager.viewer" in result.remediation


def test_hanging_version_lookup_ends_in_error_within_the_deadline() -> None:
    fault = {"api": "secretmanager", "path_regex": "/versions/latest$", "hang": True}
    with Simulator(world(faults=(fault,))) as sim:
        started = time.monotonic()
        result = run(configure(sim, FAST))
        elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "latest version of secret" in result.summary
    assert elapsed < 3 + 1.5


def test_malformed_secret_list_is_an_error() -> None:
    fault = {"api": "secretmanager", "path_regex": "/secrets$", "malformed": True}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.ERROR
    assert result.summary.startswith(
        "unparseable answer from secretmanager for secret list of projects/netra-staging (page 1): Failed to load JSON"
    )
    assert result.evidence["error_type"] == "ParseError"
    assert result.attempts == 1


def test_secret_manager_rate_limiting_all_run_reports_the_requests_sent_in_both_checks_sharing_the_list() -> None:
    fault = {"api": "secretmanager", "status": 429, "retry_after": 1, "message": "Quota exceeded"}
    deadlines = {name: {"deadline_s": 4, "timeout_s": 1} for name in ("secrets", "service-drift")}
    with Simulator(world(faults=(fault,))) as sim:
        config = configure(sim, {"checks": deadlines})
        clients, inventory = GoogleClients(config.gcp), SecretInventory()

        async def both() -> list[CheckResult]:
            checks = secrets_check.fn(config, clients, inventory), service_drift_check.fn(config, clients, inventory)
            return list(await asyncio.gather(*checks))

        secrets, drift = asyncio.run(both())
        sent = list_calls(sim)
    failure = f"secretmanager kept failing for secret list of projects/netra-staging (page 1) after {sent} attempt(s)"
    assert sent >= 3  # one a second (Retry-After: 1) within the 4 s deadline
    assert secrets.status == Status.ERROR and secrets.summary.startswith(failure), secrets.summary
    assert secrets.evidence["attempts"] == secrets.attempts == sent
    assert drift.status == Status.WARN and failure in drift.summary, drift.summary
