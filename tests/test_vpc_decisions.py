# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""vpc-connector's decisions to the word: each state, network, range and instance finding with its fix and evidence.

Plain messages only: `make mutate` reruns these for every mutant of the check's decisions. The expected findings
are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest
from google.cloud import vpcaccess_v1

from runbook.config.models import VpcConnectorConfig
from runbook.results import Status
from tasks.vpc_access import decide_connector, decide_connector_missing

POLICY = VpcConnectorConfig(
    name="staging-connector", network="staging-vpc", ip_cidr_range="10.2.0.0/28", min_instances=2, max_instances=10
)


def connector(**fields: Any) -> vpcaccess_v1.Connector:
    values: dict[str, Any] = {
        "name": "projects/p/locations/us-central1/connectors/staging-connector",
        "network": "staging-vpc",
        "ip_cidr_range": "10.2.0.0/28",
        "state": "READY",
        "min_instances": 2,
        "max_instances": 10,
        "machine_type": "e2-micro",
    }
    return vpcaccess_v1.Connector(**{**values, **fields})


CASES = [
    pytest.param(
        {},
        0.0,
        Status.PASS,
        "connector staging-connector (us-central1) READY on staging-vpc, 10.2.0.0/28, min 2 / max 10",
        "",
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="ready",
    ),
    pytest.param(
        {"state": "CREATING"},
        12.34,
        Status.FAIL,
        "connector staging-connector (us-central1): still CREATING after waiting 12.3 s",
        "Wait for the operation to finish, then rerun; watch it with: gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging",
        {
            "connector": "staging-connector",
            "state": "CREATING",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
            "waited_s": 12.3,
        },
        id="creating",
    ),
    pytest.param(
        {"state": "ERROR"},
        0.0,
        Status.FAIL,
        "connector staging-connector (us-central1): state ERROR, expected READY",
        "A connector in ERROR cannot serve traffic; inspect it (gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging), then delete and recreate it: gcloud compute networks vpc-access connectors delete staging-connector --region us-central1 --project netra-staging --quiet && gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network staging-vpc --range 10.2.0.0/28 --min-instances 2 --max-instances 10",
        {
            "connector": "staging-connector",
            "state": "ERROR",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="error",
    ),
    pytest.param(
        {"state": "DELETING"},
        0.0,
        Status.FAIL,
        "connector staging-connector (us-central1): state DELETING, expected READY",
        "The connector is being deleted; once it is gone, recreate it: gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network staging-vpc --range 10.2.0.0/28 --min-instances 2 --max-instances 10",
        {
            "connector": "staging-connector",
            "state": "DELETING",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="deleting",
    ),
    pytest.param(
        {"state": "STATE_UNSPECIFIED"},
        0.0,
        Status.FAIL,
        "connector staging-connector (us-central1): state STATE_UNSPECIFIED, expected READY",
        "Inspect the connector: gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging",
        {
            "connector": "staging-connector",
            "state": "STATE_UNSPECIFIED",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="unspecified",
    ),
    pytest.param(
        {"network": "", "ip_cidr_range": "", "subnet": {"name": "staging-subnet"}},
        0.0,
        Status.WARN,
        "connector staging-connector (us-central1) is READY but off policy: uses subnet staging-subnet; its network could not be compared with staging-vpc",
        "Confirm subnet staging-subnet belongs to network staging-vpc: gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging",
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": None,
            "ip_cidr_range": None,
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="subnet",
    ),
    pytest.param(
        {"network": "projects/p/global/networks/other-vpc"},
        0.0,
        Status.FAIL,
        "connector staging-connector (us-central1): on network other-vpc, expected staging-vpc",
        "A connector's network cannot be changed: create one on the right network (gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network staging-vpc --range 10.2.0.0/28 --min-instances 2 --max-instances 10) or fix [vpc_connector] network if other-vpc is intended",
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": "other-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": "e2-micro",
        },
        id="wrong-network",
    ),
    pytest.param(
        {"network": "", "name": "", "machine_type": ""},
        0.0,
        Status.FAIL,
        "connector staging-connector (us-central1): on network (none), expected staging-vpc",
        "A connector's network cannot be changed: create one on the right network (gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network staging-vpc --range 10.2.0.0/28 --min-instances 2 --max-instances 10) or fix [vpc_connector] network if the deployed one is intended",
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": None,
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 2,
            "max_instances": 10,
            "machine_type": None,
        },
        id="no-network",
    ),
    pytest.param(
        {"ip_cidr_range": "10.9.0.0/28", "min_instances": 1, "max_instances": 3},
        0.0,
        Status.WARN,
        "connector staging-connector (us-central1) is READY but off policy: IP range 10.9.0.0/28, policy 10.2.0.0/28; instances min 1 / max 3, policy at least min 2 / max 10",
        'The range cannot be changed in place: recreate the connector with --range 10.2.0.0/28, or set [vpc_connector] ip_cidr_range = "10.9.0.0/28" if the deployed range is intended\ngcloud compute networks vpc-access connectors update staging-connector --region us-central1 --project netra-staging --min-instances 2 --max-instances 10',
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": "staging-vpc",
            "ip_cidr_range": "10.9.0.0/28",
            "min_instances": 1,
            "max_instances": 3,
            "machine_type": "e2-micro",
        },
        id="range-and-instances",
    ),
    pytest.param(
        {"min_instances": 3, "max_instances": 12},
        0.0,
        Status.PASS,
        "connector staging-connector (us-central1) READY on staging-vpc, 10.2.0.0/28, min 3 / max 12",
        "",
        {
            "connector": "staging-connector",
            "state": "READY",
            "network": "staging-vpc",
            "ip_cidr_range": "10.2.0.0/28",
            "min_instances": 3,
            "max_instances": 12,
            "machine_type": "e2-micro",
        },
        id="instances-above",
    ),
]


@pytest.mark.parametrize(("fields", "waited_s", "status", "summary", "remediation", "evidence"), CASES)
def test_each_connector_finding_to_the_word(
    fields: dict[str, Any], waited_s: float, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_connector(connector(**fields), POLICY, "us-central1", "netra-staging", waited_s)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


MISSING = [
    pytest.param(
        None,
        "PermissionDenied",
        "connector staging-connector not found in netra-staging/us-central1; the connectors in the region could not be listed (PermissionDenied)",
        {"looked_for": "staging-connector", "region": "us-central1", "existing": None},
        id="listing-failed",
    ),
    pytest.param(
        None,
        "",
        "connector staging-connector not found in netra-staging/us-central1; the connectors in the region could not be listed (unknown error)",
        {"looked_for": "staging-connector", "region": "us-central1", "existing": None},
        id="listing-failed-unknown",
    ),
    pytest.param(
        [],
        "",
        "connector staging-connector not found in netra-staging/us-central1; no connector exists in us-central1",
        {"looked_for": "staging-connector", "region": "us-central1", "existing": []},
        id="none",
    ),
    pytest.param(
        ["c1", "c0"],
        "",
        "connector staging-connector not found in netra-staging/us-central1; connectors in us-central1: c0, c1",
        {"looked_for": "staging-connector", "region": "us-central1", "existing": ["c0", "c1"]},
        id="some",
    ),
    pytest.param(
        [
            "c0",
            "c1",
            "c2",
            "c3",
            "c4",
            "c5",
            "c6",
            "c7",
            "c8",
            "c9",
            "c10",
            "c11",
            "c12",
            "c13",
            "c14",
            "c15",
            "c16",
            "c17",
            "c18",
            "c19",
            "c20",
            "c21",
        ],
        "",
        "connector staging-connector not found in netra-staging/us-central1; connectors in us-central1: c0, c1, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c2, c20, c21, c3, c4, c5, c6, c7 +2 more",
        {
            "looked_for": "staging-connector",
            "region": "us-central1",
            "existing": [
                "c0",
                "c1",
                "c10",
                "c11",
                "c12",
                "c13",
                "c14",
                "c15",
                "c16",
                "c17",
                "c18",
                "c19",
                "c2",
                "c20",
                "c21",
                "c3",
                "c4",
                "c5",
                "c6",
                "c7",
                "c8",
                "c9",
            ],
        },
        id="many",
    ),
]

CREATE = "If one of the existing connectors is the right one, set [vpc_connector] name to it; otherwise create it: gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network staging-vpc --range 10.2.0.0/28 --min-instances 2 --max-instances 10"


@pytest.mark.parametrize(("existing", "listing_error", "summary", "evidence"), MISSING)
def test_a_missing_connector_names_what_exists_instead(
    existing: list[str] | None, listing_error: str, summary: str, evidence: dict[str, Any]
) -> None:
    found = None if existing is None else [connector(name=f"projects/p/locations/r/connectors/{n}") for n in existing]
    finding = decide_connector_missing(POLICY, "us-central1", "netra-staging", found, listing_error)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        Status.FAIL,
        summary,
        CREATE,
        evidence,
    )
