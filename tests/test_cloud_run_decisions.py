# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""Cloud Run's decisions to the word: a redeploy's every ending (passed, serving no traffic, failed, unfinished,
no revision, not ready), a failed call at each stage, which services are redeployed, readiness, a missing service,
and the findings of several services combined.

Real run_v2 messages, no API: `make mutate` reruns these for every mutant of the checks' decisions. The expected
findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest
from google.cloud import run_v2

from runbook.checks import CheckAbort, Finding
from runbook.config.files import load_config
from runbook.results import Status
from tasks.cloud_run_ready import combine_findings, decide_service_missing, decide_service_ready
from tasks.cloud_run_redeploy import Rollout, _redeploy_abort, decide_redeploy, redeploy_targets
from tests.test_cloud_run_rollout import BACKEND, CONTAINER_ERROR, State, rev, revision, service, target

HEALTH_CHECK = run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR

REDEPLOYS = [
    pytest.param(
        Rollout(service(created=42), service(created=43, ready=43), revision(43), "operations/op-1", True, "", 12.34),
        Status.PASS,
        "netra-backend-staging: netra-backend-staging-00042-abc -> netra-backend-staging-00043-abc, ready after 12.3 s",
        "",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 12.3,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="passed",
    ),
    pytest.param(
        Rollout(
            service(created=42),
            service(created=43, ready=43, traffic=[target(100, rev(42))]),
            revision(43),
            "operations/op-1",
            True,
            "",
            2.0,
        ),
        Status.WARN,
        "netra-backend-staging: netra-backend-staging-00042-abc -> netra-backend-staging-00043-abc, ready after 2.0 s, but it serves no traffic (traffic: 0 % to the latest ready revision netra-backend-staging-00043-abc; 100 % pinned to revision netra-backend-staging-00042-abc)",
        "gcloud run services update-traffic netra-backend-staging --region us-central1 --project netra-staging --to-latest",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 2.0,
            "updates_sent": 1,
            "traffic": ["netra-backend-staging-00042-abc 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="serves no traffic",
    ),
    pytest.param(
        Rollout(
            service(created=42),
            service(created=43, ready=42),
            revision(43, State.CONDITION_FAILED, HEALTH_CHECK, CONTAINER_ERROR),
            "operations/op-1",
            True,
            "FAILED_PRECONDITION: revision failed",
            20.0,
        ),
        Status.FAIL,
        "netra-backend-staging: update failed: FAILED_PRECONDITION: revision failed; revision netra-backend-staging-00043-abc: HEALTH_CHECK_CONTAINER_ERROR: The user-provided container failed to start and listen on the port defined by PORT=8000.",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 20.0,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="operation failed with the revision",
    ),
    pytest.param(
        Rollout(service(created=42), None, None, "operations/op-1", True, "PERMISSION_DENIED: no", 1.0),
        Status.FAIL,
        "netra-backend-staging: update failed: PERMISSION_DENIED: no",
        "gcloud run revisions describe REVISION --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": None,
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 1.0,
            "updates_sent": 1,
        },
        id="operation failed",
    ),
    pytest.param(
        Rollout(
            service(created=42),
            service(created=43, ready=42, reconciling=True),
            None,
            "operations/op-1",
            False,
            "",
            60.0,
            2,
        ),
        Status.FAIL,
        "netra-backend-staging: update not finished after 60.0 s (operation operations/op-1); new revision netra-backend-staging-00043-abc",
        "The update continues in Cloud Run; do not redeploy again until it settles. Watch it: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging\ngcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": False,
            "waited_s": 60.0,
            "updates_sent": 2,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="not finished with a new revision",
    ),
    pytest.param(
        Rollout(service(created=42), service(created=42), None, "", False, "", 60.0),
        Status.FAIL,
        "netra-backend-staging: update not finished after 60.0 s (the update was applied but its answer lost); no new revision yet",
        "The update continues in Cloud Run; do not redeploy again until it settles. Watch it: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging\ngcloud run revisions describe REVISION --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": None,
            "operation": None,
            "done": False,
            "waited_s": 60.0,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="not finished, answer lost",
    ),
    pytest.param(
        Rollout(service(created=42), service(created=42), None, "operations/op-1", True, "", 3.0),
        Status.FAIL,
        "netra-backend-staging: the update finished but no new revision was created",
        "gcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": None,
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 3.0,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="finished without a revision",
    ),
    pytest.param(
        Rollout(service(created=42), None, None, "operations/op-1", True, "", 3.0),
        Status.FAIL,
        "netra-backend-staging: the update finished but no new revision was created",
        "gcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": None,
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 3.0,
            "updates_sent": 1,
        },
        id="finished, nothing known after",
    ),
    pytest.param(
        Rollout(
            service(created=42),
            service(created=43, ready=42),
            revision(43, State.CONDITION_FAILED, message=CONTAINER_ERROR),
            "operations/op-1",
            True,
            "",
            9.0,
        ),
        Status.FAIL,
        "netra-backend-staging: new revision netra-backend-staging-00043-abc is not ready (The user-provided container failed to start and listen on the port defined by PORT=8000.)",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 9.0,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="new revision not ready",
    ),
    pytest.param(
        Rollout(service(created=42), service(created=43, ready=43), None, "operations/op-1", True, "", 9.0),
        Status.FAIL,
        "netra-backend-staging: new revision netra-backend-staging-00043-abc is not ready (not read)",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "previous_revision": "netra-backend-staging-00042-abc",
            "new_revision": "netra-backend-staging-00043-abc",
            "operation": "operations/op-1",
            "done": True,
            "waited_s": 9.0,
            "updates_sent": 1,
            "traffic": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
        },
        id="new revision not read",
    ),
]


@pytest.mark.parametrize(("rollout", "status", "summary", "remediation", "evidence"), REDEPLOYS)
def test_each_redeploy_ending_to_the_word(
    rollout: Rollout, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_redeploy(rollout, BACKEND, "us-central1", "netra-staging")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


ABORTS = [
    pytest.param(
        CheckAbort(Status.ERROR, "run kept failing", {"api": "run"}, "Rerun.", 503),
        "sending",
        Status.ERROR,
        "netra-backend-staging: run kept failing; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"api": "run", "stage": "sending"},
        id="sending, transient",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "no answer", {"api": "run"}, "Rerun."),
        "sending",
        Status.ERROR,
        "netra-backend-staging: no answer; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"api": "run", "stage": "sending"},
        id="sending, no status",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "timeout", {}, "Rerun.", 408),
        "sending",
        Status.ERROR,
        "netra-backend-staging: timeout; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"stage": "sending"},
        id="sending, 408",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "quota", {}, "Rerun.", 429),
        "sending",
        Status.ERROR,
        "netra-backend-staging: quota; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"stage": "sending"},
        id="sending, 429",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "permission denied", {"api": "run"}, "Grant a viewer role.", 403),
        "sending",
        Status.ERROR,
        "netra-backend-staging: permission denied",
        "Grant the runbook's identity roles/run.developer (and roles/iam.serviceAccountUser on the service's runtime service account): gcloud projects add-iam-policy-binding netra-staging --member=serviceAccount:RUNBOOK_SA --role=roles/run.developer",
        {"api": "run", "stage": "sending"},
        id="sending, denied",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "bad request", {}, "Fix it.", 400),
        "sending",
        Status.ERROR,
        "netra-backend-staging: bad request",
        "Fix it.",
        {"stage": "sending"},
        id="sending, 400",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "odd", {}, "Fix it.", 499),
        "sending",
        Status.ERROR,
        "netra-backend-staging: odd",
        "Fix it.",
        {"stage": "sending"},
        id="sending, 499",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "internal", {}, "Rerun.", 500),
        "sending",
        Status.ERROR,
        "netra-backend-staging: internal; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"stage": "sending"},
        id="sending, 500",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "odd", {}, "Rerun.", 399),
        "sending",
        Status.ERROR,
        "netra-backend-staging: odd; the update may have been applied",
        "Rerun.\nBefore redeploying again, check whether a new revision exists: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"stage": "sending"},
        id="sending, 399",
    ),
    pytest.param(
        CheckAbort(Status.ERROR, "no answer while waiting", {}, "Rerun."),
        "applied",
        Status.ERROR,
        "netra-backend-staging: no answer while waiting; the update was accepted and continues in Cloud Run",
        "Rerun.\nWatch it: gcloud run services describe netra-backend-staging --region us-central1 --project netra-staging",
        {"stage": "applied"},
        id="applied",
    ),
    pytest.param(
        CheckAbort(Status.FAIL, "not found", {"http_status": 404}, "Deploy it.", 404),
        "reading",
        Status.FAIL,
        "netra-backend-staging: not found",
        "Deploy it.",
        {"http_status": 404, "stage": "reading"},
        id="reading",
    ),
]


@pytest.mark.parametrize(("abort", "stage", "status", "summary", "remediation", "evidence"), ABORTS)
def test_a_failed_call_says_whether_the_update_was_sent_applied_or_not(
    abort: CheckAbort, stage: str, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = _redeploy_abort(BACKEND, abort, stage, "us-central1", "netra-staging")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


READY = [
    pytest.param(
        service(),
        None,
        0.0,
        Status.PASS,
        "netra-backend-staging ready on netra-backend-staging-00042-abc (LATEST 100%)",
        "",
        {
            "latest_created_revision": "netra-backend-staging-00042-abc",
            "latest_ready_revision": "netra-backend-staging-00042-abc",
            "traffic": ["LATEST 100%"],
            "traffic_statuses": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
            "generation": 42,
            "observed_generation": 42,
        },
        id="ready",
    ),
    pytest.param(
        service(created=43, ready=42, reconciling=True, state=State.CONDITION_RECONCILING),
        None,
        7.26,
        Status.FAIL,
        "netra-backend-staging: still CONDITION_RECONCILING (rolling out) after waiting 7.3 s; latest created revision netra-backend-staging-00043-abc is not ready (its Ready condition was not read); latest ready is netra-backend-staging-00042-abc",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "latest_created_revision": "netra-backend-staging-00043-abc",
            "latest_ready_revision": "netra-backend-staging-00042-abc",
            "traffic": ["LATEST 100%"],
            "traffic_statuses": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_RECONCILING",
            "generation": 43,
            "observed_generation": 43,
            "waited_s": 7.3,
            "revision_failure": None,
        },
        id="reconciling",
    ),
    pytest.param(
        service(created=43, ready=42, state=State.CONDITION_FAILED, message="Revision  failed\n to start"),
        None,
        0.0,
        Status.FAIL,
        "netra-backend-staging: Ready condition CONDITION_FAILED: Revision failed to start; latest created revision netra-backend-staging-00043-abc is not ready (its Ready condition was not read); latest ready is netra-backend-staging-00042-abc",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "latest_created_revision": "netra-backend-staging-00043-abc",
            "latest_ready_revision": "netra-backend-staging-00042-abc",
            "traffic": ["LATEST 100%"],
            "traffic_statuses": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_FAILED",
            "generation": 43,
            "observed_generation": 43,
            "revision_failure": None,
        },
        id="failed with message",
    ),
    pytest.param(
        service(created=43, ready=42, state=State.CONDITION_FAILED, message="x"),
        revision(43, State.CONDITION_FAILED, HEALTH_CHECK, CONTAINER_ERROR),
        0.0,
        Status.FAIL,
        "netra-backend-staging: Ready condition CONDITION_FAILED; latest created revision netra-backend-staging-00043-abc is not ready (HEALTH_CHECK_CONTAINER_ERROR: The user-provided container failed to start and listen on the port defined by PORT=8000.); latest ready is netra-backend-staging-00042-abc",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "latest_created_revision": "netra-backend-staging-00043-abc",
            "latest_ready_revision": "netra-backend-staging-00042-abc",
            "traffic": ["LATEST 100%"],
            "traffic_statuses": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_FAILED",
            "generation": 43,
            "observed_generation": 43,
            "revision_failure": "HEALTH_CHECK_CONTAINER_ERROR: The user-provided container failed to start and listen on the port defined by PORT=8000.",
        },
        id="failed with the revision read",
    ),
    pytest.param(
        service(created=43, ready=42),
        revision(43, State.CONDITION_FAILED, message=CONTAINER_ERROR),
        0.0,
        Status.FAIL,
        "netra-backend-staging: latest created revision netra-backend-staging-00043-abc is not ready (The user-provided container failed to start and listen on the port defined by PORT=8000.); latest ready is netra-backend-staging-00042-abc",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging",
        {
            "latest_created_revision": "netra-backend-staging-00043-abc",
            "latest_ready_revision": "netra-backend-staging-00042-abc",
            "traffic": ["LATEST 100%"],
            "traffic_statuses": ["LATEST 100%"],
            "uri": "https://netra-backend-staging-pnovr5vsba-uc.a.run.app",
            "ready": "CONDITION_SUCCEEDED",
            "generation": 43,
            "observed_generation": 43,
            "revision_failure": "The user-provided container failed to start and listen on the port defined by PORT=8000.",
        },
        id="failed revision without a reason",
    ),
    pytest.param(
        service(created=43, ready=None, uri="", traffic=[target(100, rev(41))]),
        None,
        0.0,
        Status.FAIL,
        "netra-backend-staging: latest created revision netra-backend-staging-00043-abc is not ready (its Ready condition was not read); latest ready is none; traffic: 0 % to the latest ready revision (none); 100 % pinned to revision netra-backend-staging-00041-abc; no URL assigned",
        "gcloud run revisions describe netra-backend-staging-00043-abc --region us-central1 --project netra-staging\ngcloud run services logs read netra-backend-staging --region us-central1 --project netra-staging\ngcloud run services update-traffic netra-backend-staging --region us-central1 --project netra-staging --to-latest\ngcloud run services describe netra-backend-staging --region us-central1 --project netra-staging --format='value(status.url)'",
        {
            "latest_created_revision": "netra-backend-staging-00043-abc",
            "latest_ready_revision": None,
            "traffic": ["netra-backend-staging-00041-abc 100%"],
            "traffic_statuses": ["netra-backend-staging-00041-abc 100%"],
            "uri": None,
            "ready": "CONDITION_SUCCEEDED",
            "generation": 43,
            "observed_generation": 43,
            "revision_failure": None,
        },
        id="no ready revision, no url, pinned",
    ),
]


@pytest.mark.parametrize(("found", "latest", "waited_s", "status", "summary", "remediation", "evidence"), READY)
def test_each_readiness_finding_to_the_word(
    found: Any,
    latest: Any,
    waited_s: float,
    status: Status,
    summary: str,
    remediation: str,
    evidence: dict[str, Any],
) -> None:
    finding = decide_service_ready(found, BACKEND, "us-central1", "netra-staging", latest, waited_s)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


def test_a_missing_service_names_what_was_looked_for_and_how_to_deploy_it() -> None:
    finding = decide_service_missing(BACKEND, "us-central1", "netra-staging")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        Status.FAIL,
        "netra-backend-staging: service not found in netra-staging/us-central1",
        "Deploy it (gcloud run deploy netra-backend-staging --image IMAGE --region us-central1 --project netra-staging) or fix the [[services]] name; list what exists: gcloud run services list --region us-central1 --project netra-staging",
        {"looked_for": "netra-backend-staging", "region": "us-central1"},
    )


def test_several_services_combine_into_the_worst_status_every_problem_and_each_fix_once() -> None:
    combined = combine_findings(
        [
            ("a", Finding(Status.PASS, "a ready", {"x": 1})),
            ("b", Finding(Status.WARN, "b warns", {}, "fix b\nshared")),
            ("c", Finding(Status.ERROR, "c broke", {}, "shared\n\nfix c")),
        ],
        "ready",
    )
    assert (combined.status, combined.summary, combined.remediation, combined.evidence) == (
        Status.ERROR,
        "1 of 3 service(s) ready; b warns; c broke",
        "fix b\nshared\nfix c",
        {"services": {"a": {"x": 1}, "b": {}, "c": {}}},
    )
    passed = combine_findings(
        [("a", Finding(Status.PASS, "a ready")), ("b", Finding(Status.PASS, "b ready"))], "redeployed"
    )
    assert (passed.status, passed.summary, passed.remediation) == (
        Status.PASS,
        "2 service(s) redeployed: a ready; b ready",
        "",
    )
    assert combine_findings([], "ready").status == Status.PASS


def test_the_services_redeployed_are_the_named_ones_in_configuration_order_or_all() -> None:
    config = load_config("local")
    assert [s.name for s in redeploy_targets(config, None)] == [s.name for s in config.services]
    named = redeploy_targets(config, ["netra-frontend-staging", "netra-backend-staging"])
    assert [s.name for s in named] == ["netra-backend-staging", "netra-frontend-staging"]


@pytest.mark.parametrize(
    ("names", "summary"),
    [
        (["netra-backend-staging", "nope"], "cannot redeploy ['nope']: expected names from [[services]] "),
        ([], "cannot redeploy an empty list of services: expected names from [[services]] "),
    ],
)
def test_an_unknown_or_empty_list_of_services_changes_nothing(names: list[str], summary: str) -> None:
    config = load_config("local")
    with pytest.raises(CheckAbort) as raised:
        redeploy_targets(config, names)
    configured = [s.name for s in config.services]
    assert raised.value.status == Status.ERROR
    assert raised.value.summary == f"{summary}{configured}; nothing was changed"
    assert raised.value.evidence == {"requested": names, "configured": configured}
    assert raised.value.remediation == "Pass configured service names (or none, for all of them)."
