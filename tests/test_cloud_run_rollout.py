"""cloud-run-ready and the redeploy action: pure decisions on real run_v2 protos, then the tasks against the simulator.

The tasks are called through `.fn` (no Prefect run): the real Cloud Run client, REST, against the simulator.
"""

import time
from typing import Any

import pytest
import requests
from google.cloud import run_v2
from google.longrunning import operations_pb2

from runbook.checks import CheckAbort, Finding
from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.clients import GoogleClients
from runbook.results import Status
from simulator.google.cloud_run_model import revision_name
from simulator.scenario import Scenario, deep_merge, load_scenario
from simulator.server import Simulator
from tasks.cloud_run_ready import (
    cloud_run_ready,
    combine_findings,
    decide_service_missing,
    decide_service_ready,
    traffic_problem,
)
from tasks.cloud_run_redeploy import REDEPLOY_ANNOTATION, Rollout, decide_redeploy, redeploy, redeploy_targets, stamped
from tests.support import config_for

REGION, PROJECT = "us-central1", "netra-staging"
PARENT = f"projects/{PROJECT}/locations/{REGION}/services/netra-backend-staging"
BACKEND = ServiceConfig(name="netra-backend-staging", role="backend", url="https://backend.example")
FAST = {"deadline_s": 3, "timeout_s": 1}
State = run_v2.Condition.State
Allocation = run_v2.TrafficTargetAllocationType


# --- real run_v2 protos ---------------------------------------------------------------------------------------


def rev(number: int) -> str:
    return f"netra-backend-staging-{number:05d}-abc"


def target(percent: int, revision: str = "") -> dict[str, Any]:
    kind = (
        Allocation.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
        if revision
        else Allocation.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    )
    return {"type_": kind, "percent": percent, "revision": revision}


def service(
    *,
    created: int = 42,
    ready: int | None = 42,
    state: Any = State.CONDITION_SUCCEEDED,
    traffic: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    uri: str = "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
    reconciling: bool = False,
    message: str = "",
    annotations: dict[str, str] | None = None,
) -> Any:
    traffic = traffic if traffic is not None else [target(100)]
    return run_v2.Service(
        name=PARENT,
        generation=created,
        observed_generation=created,
        etag='"etag-42"',
        terminal_condition=run_v2.Condition(type_="Ready", state=state, message=message),
        latest_created_revision=f"{PARENT}/revisions/{rev(created)}",
        latest_ready_revision=f"{PARENT}/revisions/{rev(ready)}" if ready else "",
        traffic=[run_v2.TrafficTarget(**t) for t in traffic],
        traffic_statuses=[run_v2.TrafficTargetStatus(**t) for t in (statuses if statuses is not None else traffic)],
        uri=uri,
        reconciling=reconciling,
        template=run_v2.RevisionTemplate(revision="", annotations=annotations or {}),
    )


def revision(number: int, state: Any = State.CONDITION_SUCCEEDED, reason: Any = None, message: str = "") -> Any:
    condition = run_v2.Condition(type_="Ready", state=state, message=message)
    if reason is not None:
        condition.revision_reason = reason
    return run_v2.Revision(name=f"{PARENT}/revisions/{rev(number)}", conditions=[condition])


CONTAINER_ERROR = "The user-provided container failed to start and listen on the port defined by PORT=8000."


# --- decide_service_ready -------------------------------------------------------------------------------------


def test_ready_service_with_all_traffic_on_latest_passes_with_evidence() -> None:
    finding = decide_service_ready(service(), BACKEND, REGION, PROJECT)
    assert finding.status == Status.PASS
    assert finding.evidence["latest_created_revision"] == finding.evidence["latest_ready_revision"] == rev(42)
    assert finding.evidence["traffic"] == ["LATEST 100%"]
    assert finding.evidence["uri"].startswith("https://")
    assert finding.remediation == ""


def test_failed_latest_revision_fails_naming_the_container_error_and_the_commands() -> None:
    failed = revision(
        43, State.CONDITION_FAILED, run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR, CONTAINER_ERROR
    )
    svc = service(created=43, ready=42, state=State.CONDITION_FAILED, message=f"Revision '{rev(43)}' is not ready.")
    finding = decide_service_ready(svc, BACKEND, REGION, PROJECT, failed)
    assert finding.status == Status.FAIL
    assert "netra-backend-staging" in finding.summary and "CONDITION_FAILED" in finding.summary
    assert f"HEALTH_CHECK_CONTAINER_ERROR: {CONTAINER_ERROR}" in finding.summary
    assert f"latest ready is {rev(42)}" in finding.summary
    assert f"gcloud run revisions describe {rev(43)} --region {REGION}" in finding.remediation
    assert "gcloud run services logs read netra-backend-staging --region us-central1" in finding.remediation


def test_traffic_pinned_to_an_old_revision_fails_naming_it_with_update_traffic() -> None:
    finding = decide_service_ready(service(traffic=[target(100, rev(40))]), BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert f"100 % pinned to revision {rev(40)}" in finding.summary
    assert "gcloud run services update-traffic netra-backend-staging --region us-central1" in finding.remediation
    assert finding.remediation.endswith("--to-latest")


def test_traffic_to_the_latest_ready_revision_by_name_counts_as_latest() -> None:
    assert decide_service_ready(service(traffic=[target(100, rev(42))]), BACKEND, REGION, PROJECT).status == Status.PASS


def test_traffic_status_is_checked_even_when_the_spec_says_latest() -> None:
    split = [target(50), target(50, rev(40))]
    problem = traffic_problem(service(statuses=split))
    assert problem == f"traffic status: 50 % to the latest ready revision {rev(42)}; 50 % pinned to revision {rev(40)}"


def test_a_latest_status_naming_its_revision_is_not_reported_as_pinned() -> None:
    # The real API fills `revision` in the LATEST status entry with the revision it resolves to.
    latest_named = {**target(50), "revision": rev(42)}
    problem = traffic_problem(service(statuses=[latest_named, target(50, rev(40))]))
    assert problem is not None and problem.endswith(f"; 50 % pinned to revision {rev(40)}")


def test_traffic_any_accepts_a_pinned_revision() -> None:
    any_traffic = BACKEND.model_copy(update={"traffic": "any"})
    finding = decide_service_ready(service(traffic=[target(100, rev(40))]), any_traffic, REGION, PROJECT)
    assert finding.status == Status.PASS and finding.evidence["traffic"] == [f"{rev(40)} 100%"]


def test_a_service_without_traffic_targets_gets_cloud_runs_default_all_to_the_latest_ready_revision() -> None:
    finding = decide_service_ready(service(traffic=[], statuses=[]), BACKEND, REGION, PROJECT)
    assert finding.status == Status.PASS, finding.summary
    assert finding.evidence["traffic"] == ["LATEST 100% (default)"]
    pinned = decide_service_ready(service(traffic=[], statuses=[target(100, rev(40))]), BACKEND, REGION, PROJECT)
    assert pinned.status == Status.FAIL and f"100 % pinned to revision {rev(40)}" in pinned.summary


def test_a_service_still_reconciling_after_the_wait_fails_saying_so() -> None:
    svc = service(created=43, ready=42, state=State.CONDITION_RECONCILING, reconciling=True)
    finding = decide_service_ready(svc, BACKEND, REGION, PROJECT, waited_s=2.5)
    assert finding.status == Status.FAIL
    assert "still CONDITION_RECONCILING (rolling out) after waiting 2.5 s" in finding.summary
    assert finding.evidence["waited_s"] == 2.5


def test_a_service_without_url_fails() -> None:
    finding = decide_service_ready(service(uri=""), BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL and "no URL assigned" in finding.summary


def test_missing_service_fails_naming_what_was_looked_for() -> None:
    finding = decide_service_missing(BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert finding.summary == "netra-backend-staging: service not found in netra-staging/us-central1"
    assert "gcloud run services list --region us-central1" in finding.remediation


def test_combined_result_takes_the_worst_status_and_lists_each_fix_once() -> None:
    fix = "gcloud run services update-traffic x --to-latest"
    findings = [
        ("a", Finding(Status.PASS, "a ok")),
        ("b", Finding(Status.ERROR, "b: denied", remediation="grant")),
        ("c", Finding(Status.FAIL, "c: pinned", remediation=fix)),
        ("d", Finding(Status.FAIL, "d: pinned", remediation=fix)),
    ]
    combined = combine_findings(findings, "ready")
    assert combined.status == Status.FAIL
    assert combined.summary == "1 of 4 service(s) ready; b: denied; c: pinned; d: pinned"
    assert combined.remediation.splitlines() == ["grant", fix]
    assert set(combined.evidence["services"]) == {"a", "b", "c", "d"}


# --- redeploy decisions ---------------------------------------------------------------------------------------


def test_stamped_copy_changes_only_the_template_annotation_and_clears_the_revision_name() -> None:
    original = service()
    original.template.revision = "netra-backend-staging-pinned"
    copy = stamped(original, "2025-09-18T10:00:00Z")
    assert copy.template.annotations[REDEPLOY_ANNOTATION] == "2025-09-18T10:00:00Z"
    assert copy.template.revision == "" and copy.etag == original.etag
    assert REDEPLOY_ANNOTATION not in original.template.annotations
    assert original.template.revision == "netra-backend-staging-pinned"


def test_redeploy_with_a_new_ready_revision_passes() -> None:
    rollout = Rollout(service(), service(created=43, ready=43), revision(43), "operations/1", True, "", 4.2)
    finding = decide_redeploy(rollout, BACKEND, REGION, PROJECT)
    assert finding.status == Status.PASS
    assert finding.summary == f"netra-backend-staging: {rev(42)} -> {rev(43)}, ready after 4.2 s"
    assert finding.evidence["new_revision"] == rev(43) and finding.evidence["updates_sent"] == 1


def test_redeploy_whose_operation_failed_fails_with_its_error_and_the_revision_reason() -> None:
    failed = revision(
        43, State.CONDITION_FAILED, run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR, CONTAINER_ERROR
    )
    after = service(created=43, ready=42, state=State.CONDITION_FAILED)
    rollout = Rollout(service(), after, failed, "operations/1", True, "FAILED_PRECONDITION: Revision failed", 9.0)
    finding = decide_redeploy(rollout, BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert "update failed: FAILED_PRECONDITION: Revision failed" in finding.summary
    assert "HEALTH_CHECK_CONTAINER_ERROR" in finding.summary
    assert f"revisions describe {rev(43)}" in finding.remediation


def test_redeploy_not_done_by_the_deadline_fails_with_what_is_known() -> None:
    after = service(created=43, ready=42, state=State.CONDITION_RECONCILING, reconciling=True)
    finding = decide_redeploy(Rollout(service(), after, None, "operations/7", False, "", 2.0), BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert finding.summary == (
        f"netra-backend-staging: update not finished after 2.0 s (operation operations/7); new revision {rev(43)}"
    )
    assert "do not redeploy again until it settles" in finding.remediation


def test_redeploy_that_created_no_revision_fails() -> None:
    finding = decide_redeploy(Rollout(service(), service(), None, "operations/1", True), BACKEND, REGION, PROJECT)
    assert finding.status == Status.FAIL and "no new revision was created" in finding.summary


def test_redeploy_ready_but_pinned_traffic_warns_with_update_traffic() -> None:
    after = service(created=43, ready=43, traffic=[target(100, rev(40))])
    finding = decide_redeploy(Rollout(service(), after, revision(43), "op", True), BACKEND, REGION, PROJECT)
    assert finding.status == Status.WARN and "serves no traffic" in finding.summary
    assert finding.remediation.endswith("--to-latest")


# --- against the simulator ------------------------------------------------------------------------------------


def world(google: dict[str, Any]) -> Scenario:
    """The healthy world with a `[google]` overlay (faults, services, run settings)."""
    base = load_scenario("healthy")
    merged = deep_merge(base.google.model_dump(), google)
    return base.model_copy(update={"google": type(base.google).model_validate(merged)})


def setup(sim: Simulator, checks: dict[str, Any] | None = None) -> tuple[RunbookConfig, GoogleClients]:
    config = config_for(sim, {"checks": checks or {}})
    return config, GoogleClients(config.gcp)


async def test_healthy_services_pass_with_evidence_per_service() -> None:
    with Simulator("healthy") as sim:
        result = await cloud_run_ready.fn(*setup(sim))
    assert result.status == Status.PASS, result.summary
    assert result.summary.startswith("3 service(s) ready")
    backend = result.evidence["services"]["netra-backend-staging"]
    assert (
        backend["latest_created_revision"]
        == backend["latest_ready_revision"]
        == revision_name("netra-backend-staging", 42)
    )
    assert backend["traffic"] == ["LATEST 100%"] and backend["uri"].endswith("/services/netra-backend-staging")
    assert sim.log.count(api="run", method="GET") == 3  # one read per service, nothing else


async def test_revision_not_ready_fails_naming_the_service_and_the_container_error() -> None:
    with Simulator("revision-not-ready") as sim:
        result = await cloud_run_ready.fn(*setup(sim))
    assert result.status == Status.FAIL
    assert "2 of 3 service(s) ready; netra-backend-staging:" in result.summary
    assert "HEALTH_CHECK_CONTAINER_ERROR: The user-provided container failed to start" in result.summary
    failed = revision_name("netra-backend-staging", 43)
    assert f"gcloud run revisions describe {failed} --region us-central1" in result.remediation
    assert "gcloud run services logs read netra-backend-staging" in result.remediation


async def test_traffic_pinned_fails_naming_the_pinned_revision() -> None:
    with Simulator("traffic-pinned") as sim:
        result = await cloud_run_ready.fn(*setup(sim))
    assert result.status == Status.FAIL
    assert f"100 % pinned to revision {revision_name('netra-backend-staging', 40)}" in result.summary
    assert "update-traffic netra-backend-staging --region us-central1 --project netra-staging --to-latest" in (
        result.remediation
    )


async def test_a_missing_service_fails_naming_it_while_the_others_are_still_checked() -> None:
    with Simulator(world({"run": {"services": {"netra-frontend-staging": {"exists": False}}}})) as sim:
        result = await cloud_run_ready.fn(*setup(sim))
    assert result.status == Status.FAIL
    assert "netra-frontend-staging: service not found in netra-staging/us-central1" in result.summary
    assert result.summary.startswith("2 of 3 service(s) ready")


async def test_permission_denied_is_an_error_naming_the_run_viewer_role() -> None:
    denied = {"api": "run", "method": "GET", "status": 403, "message": "Permission 'run.services.get' denied."}
    with Simulator(world({"faults": [denied]})) as sim:
        result = await cloud_run_ready.fn(*setup(sim))
    assert result.status == Status.ERROR
    assert "permission denied" in result.summary and "run.services.get" in result.summary
    assert "--role=roles/run.viewer" in result.remediation
    assert result.attempts == 3  # one per service: 403 is never retried


@pytest.mark.parametrize(
    "fault",
    [
        {"api": "run", "status": 503, "times": 2},
        {"api": "run", "status": 429, "times": 1, "retry_after": 1},
    ],
    ids=["503-twice", "429-retry-after"],
)
async def test_transient_errors_are_retried_within_the_deadline_and_pass(fault: dict[str, Any]) -> None:
    with Simulator(world({"faults": [fault]})) as sim:
        result = await cloud_run_ready.fn(*setup(sim, {"cloud-run-ready": {"deadline_s": 6, "timeout_s": 2}}))
    assert result.status == Status.PASS, result.summary
    assert result.attempts > 3  # three services, at least one retried


async def test_a_hanging_api_is_an_error_within_the_deadline() -> None:
    hang = {"api": "run", "method": "GET", "path_regex": "/services/[^/]+$", "hang": True}
    with Simulator(world({"faults": [hang]})) as sim:
        started = time.monotonic()
        result = await cloud_run_ready.fn(*setup(sim, {"cloud-run-ready": FAST}))
        elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "netra-backend-staging" in result.summary
    assert elapsed < FAST["deadline_s"] + 1.5


async def test_a_malformed_answer_is_an_error() -> None:
    with Simulator("api-malformed") as sim:
        result = await cloud_run_ready.fn(*setup(sim, {"cloud-run-ready": FAST}))
    assert result.status == Status.ERROR
    assert result.summary.startswith("0 of 3 service(s) ready; netra-backend-staging: unparseable answer from run for ")
    assert {service["error_type"] for service in result.evidence["services"].values()} == {"ParseError"}


async def test_a_service_rolling_out_is_polled_until_ready() -> None:
    with Simulator(world({"run": {"revision_ready_after_seconds": 1.0}})) as sim:
        config, clients = setup(sim, {"cloud-run-ready": {"deadline_s": 6, "timeout_s": 2}})
        name = clients.service_name("netra-backend-staging")
        current = clients.run_services.get_service(name=name, retry=None, timeout=5)
        clients.run_services.update_service(service=stamped(current, "now"), retry=None, timeout=5)
        result = await cloud_run_ready.fn(config, clients)
    assert result.status == Status.PASS, result.summary
    backend = result.evidence["services"]["netra-backend-staging"]
    assert backend["latest_ready_revision"] == revision_name("netra-backend-staging", 43)
    assert backend["waited_s"] > 0


# --- redeploy against the simulator ---------------------------------------------------------------------------


async def test_redeploy_rolls_one_new_ready_revision_per_service_and_the_check_still_passes() -> None:
    with Simulator("healthy") as sim:
        config, clients = setup(sim)
        result = await redeploy.fn(config, clients)
        assert result.status == Status.PASS, result.summary
        assert sim.log.count(api="run", method="PATCH") == 3
        for path in {e.path for e in sim.log.entries("run") if e.method == "PATCH"}:
            assert sim.log.count(api="run", method="PATCH", path_contains=path) == 1
        assert sim.log.count(api="run", method="GET", path_contains="/operations/") >= 3  # the operations were awaited
        patch = next(e for e in sim.log.entries("run") if e.method == "PATCH")
        stamp = result.evidence["annotation"][REDEPLOY_ANNOTATION]
        assert patch.body["template"]["annotations"] == {REDEPLOY_ANNOTATION: stamp}
        after = await cloud_run_ready.fn(config, clients)
    backend = result.evidence["services"]["netra-backend-staging"]
    assert backend["previous_revision"] == revision_name("netra-backend-staging", 42)
    assert backend["new_revision"] == revision_name("netra-backend-staging", 43)
    assert backend["done"] is True and backend["updates_sent"] == 1
    assert after.status == Status.PASS, after.summary
    assert after.evidence["services"]["netra-backend-staging"]["latest_ready_revision"] == backend["new_revision"]


async def test_redeploy_of_named_services_touches_only_them() -> None:
    with Simulator("healthy") as sim:
        result = await redeploy.fn(*setup(sim), ["netra-backend-staging"])
        assert sim.log.count(api="run", method="PATCH") == 1
        assert sim.log.count(api="run", method="PATCH", path_contains="netra-backend-staging") == 1
    assert result.status == Status.PASS and result.summary.startswith("1 service(s) redeployed")


async def test_redeploy_of_an_unknown_service_changes_nothing() -> None:
    with Simulator("healthy") as sim:
        config, clients = setup(sim)
        result = await redeploy.fn(config, clients, ["netra-backend"])
        assert sim.log.count(api="run") == 0
    assert (
        result.status == Status.ERROR and "netra-backend" in result.summary and "nothing was changed" in result.summary
    )
    with pytest.raises(CheckAbort):
        redeploy_targets(config, [])


async def test_redeploy_without_permission_names_the_developer_role() -> None:
    denied = {"api": "run", "method": "PATCH", "status": 403, "message": "Permission 'run.services.update' denied."}
    with Simulator(world({"faults": [denied]})) as sim:
        result = await redeploy.fn(*setup(sim), ["netra-backend-staging"])
        assert sim.log.count(api="run", method="PATCH") == 1  # never retried
    assert result.status == Status.ERROR and "run.services.update" in result.summary
    assert "--role=roles/run.developer" in result.remediation
    assert "may have been applied" not in result.summary  # a 403 is an answer: nothing was applied


@pytest.mark.parametrize(
    "fault",
    [
        {"api": "run", "method": "PATCH", "status": 503, "times": 1},
        {"api": "run", "method": "PATCH", "hang": True, "times": 1},
    ],
    ids=["503", "hang"],
)
async def test_a_lost_update_is_resent_only_after_a_reread_shows_it_was_not_applied(fault: dict[str, Any]) -> None:
    with Simulator(world({"faults": [fault]})) as sim:
        result = await redeploy.fn(
            *setup(sim, {"redeploy": {"deadline_s": 8, "timeout_s": 1}}), ["netra-backend-staging"]
        )
        methods = [e.method for e in sim.log.entries("run") if "/operations/" not in e.path]
    assert result.status == Status.PASS, result.summary
    assert methods[:4] == ["GET", "PATCH", "GET", "PATCH"]  # read, update (lost), re-read, update again
    assert result.evidence["services"]["netra-backend-staging"]["updates_sent"] == 2
    assert result.evidence["services"]["netra-backend-staging"]["new_revision"] == revision_name(
        "netra-backend-staging", 43
    )


class _AnswerLost:
    """A ServicesClient whose update reaches the server but whose answer is lost on the way back."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_service(self, *args: Any, **kwargs: Any) -> Any:
        self._client.update_service(*args, **kwargs)
        raise requests.ReadTimeout("read timed out")


class _LosingClients(GoogleClients):
    @property
    def run_services(self) -> Any:
        return _AnswerLost(super().run_services)


async def test_an_update_applied_but_unanswered_is_not_resent_and_is_followed_to_ready() -> None:
    with Simulator("healthy") as sim:
        config = config_for(sim)
        result = await redeploy.fn(config, _LosingClients(config.gcp), ["netra-backend-staging"])
        assert sim.log.count(api="run", method="PATCH") == 1
    assert result.status == Status.PASS, result.summary
    backend = result.evidence["services"]["netra-backend-staging"]
    assert backend["operation"] is None and backend["updates_sent"] == 1
    assert backend["new_revision"] == revision_name("netra-backend-staging", 43)


async def test_redeploy_past_its_deadline_fails_with_the_operation_and_new_revision() -> None:
    with Simulator(world({"run": {"revision_ready_after_seconds": 60}})) as sim:
        started = time.monotonic()
        result = await redeploy.fn(*setup(sim, {"redeploy": FAST}), ["netra-backend-staging"])
        elapsed = time.monotonic() - started
        assert sim.log.count(api="run", method="PATCH") == 1
    assert result.status == Status.FAIL
    assert "update not finished after" in result.summary and "/operations/" in result.summary
    assert f"new revision {revision_name('netra-backend-staging', 43)}" in result.summary
    assert "do not redeploy again until it settles" in result.remediation
    assert elapsed < FAST["deadline_s"] + 1.5


def test_operation_response_is_a_cloud_run_service() -> None:
    """The operation's payload type the waiting code unpacks (a regression guard for the Any type URL)."""
    message = operations_pb2.Operation(done=True)
    message.response.Pack(run_v2.Service.pb(service()))
    assert message.response.type_url == "type.googleapis.com/google.cloud.run.v2.Service"
