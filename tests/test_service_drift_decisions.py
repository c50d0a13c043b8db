# ruff: noqa: E501  (the expected drifts are whole sentences and commands, as an operator reads them)
"""service-drift's comparison of one service with its configuration, to the word: connector (missing, other, in
another project or region, where none is configured, not existing), egress, Cloud SQL mounts, secrets (not
referenced, not existing, another project's).

Plain objects only: `make mutate` reruns these for every mutant of the check's decisions. The expected drifts are
what an operator reads; change them here when the wording changes on purpose.
"""

import dataclasses
from collections.abc import Collection, Mapping

import pytest

from runbook.config.models import ServiceConfig
from runbook.results import Status
from tasks.cloud_run_drift import DeployedSettings, Drift, service_drift

SQL = "netra-staging:us-central1:netra-staging-db"
OTHER_SQL = "netra-staging:us-central1:old-db"
CONNECTOR = "projects/netra-staging/locations/us-central1/connectors/staging-connector"
BACKEND = ServiceConfig(
    name="api",
    role="backend",
    url="https://backend.example",
    vpc_connector="staging-connector",
    vpc_egress="PRIVATE_RANGES_ONLY",
    cloudsql_instances=(SQL,),
    secrets=("jwt", "db-password"),
)
PLAIN = ServiceConfig(name="web", role="frontend", url="https://frontend.example")
MATCHING = DeployedSettings(
    "staging-connector",
    False,
    "PRIVATE_RANGES_ONLY",
    (SQL,),
    ("jwt", "projects/123456789012/secrets/db-password"),
    CONNECTOR,
)


CASES = [
    pytest.param(
        BACKEND,
        MATCHING,
        {"jwt", "db-password"},
        None,
        {CONNECTOR: True},
        [],
        id="matching",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(MATCHING, connector=None, connector_ref=None, direct_vpc=True, egress="ALL_TRAFFIC"),
        None,
        None,
        None,
        [
            Drift(
                service="api",
                text="api has no VPC connector (Direct VPC egress), config says staging-connector",
                flags=("--vpc-connector staging-connector", "--vpc-egress private-ranges-only"),
                command="",
                status=Status.FAIL,
            ),
            Drift(
                service="api",
                text="api uses VPC egress ALL_TRAFFIC, config says PRIVATE_RANGES_ONLY",
                flags=("--vpc-egress private-ranges-only",),
                command="",
                status=Status.FAIL,
            ),
        ],
        id="no connector, direct VPC",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(MATCHING, connector="old", connector_ref="old"),
        None,
        None,
        None,
        [
            Drift(
                service="api",
                text="api uses connector old, config says staging-connector",
                flags=("--vpc-connector staging-connector", "--vpc-egress private-ranges-only"),
                command="",
                status=Status.FAIL,
            )
        ],
        id="other connector",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(
            MATCHING, connector_ref="projects/other/locations/europe-west1/connectors/staging-connector"
        ),
        None,
        None,
        None,
        [
            Drift(
                service="api",
                text="api uses connector projects/other/locations/europe-west1/connectors/staging-connector (projects/other/locations/europe-west1), config says staging-connector in projects/netra-staging/locations/us-central1",
                flags=("--vpc-connector staging-connector",),
                command="",
                status=Status.FAIL,
            )
        ],
        id="connector elsewhere",
    ),
    pytest.param(
        PLAIN,
        dataclasses.replace(MATCHING, cloudsql_instances=(), secrets=()),
        None,
        None,
        None,
        [
            Drift(
                service="web",
                text="web uses connector staging-connector, config says none",
                flags=("--clear-vpc-connector",),
                command="",
                status=Status.WARN,
            )
        ],
        id="connector where none configured",
    ),
    pytest.param(
        BACKEND,
        MATCHING,
        None,
        None,
        {CONNECTOR: False},
        [
            Drift(
                service="api",
                text="api references VPC connector projects/netra-staging/locations/us-central1/connectors/staging-connector, which does not exist",
                flags=(),
                command="Create connector staging-connector (gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network NETWORK --range CIDR_28) or deploy api with an existing one",
                status=Status.FAIL,
            )
        ],
        id="configured connector missing",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(
            MATCHING, connector="old", connector_ref="projects/netra-staging/locations/us-central1/connectors/old"
        ),
        None,
        None,
        {"projects/netra-staging/locations/us-central1/connectors/old": False},
        [
            Drift(
                service="api",
                text="api uses connector old, config says staging-connector",
                flags=("--vpc-connector staging-connector", "--vpc-egress private-ranges-only"),
                command="",
                status=Status.FAIL,
            ),
            Drift(
                service="api",
                text="api references VPC connector projects/netra-staging/locations/us-central1/connectors/old, which does not exist",
                flags=("--vpc-connector staging-connector",),
                command="Create connector old (gcloud compute networks vpc-access connectors create old --region us-central1 --project netra-staging --network NETWORK --range CIDR_28) or deploy api with an existing one",
                status=Status.FAIL,
            ),
        ],
        id="referenced connector missing",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(MATCHING, egress="ALL_TRAFFIC", egress_unset=True),
        None,
        None,
        None,
        [
            Drift(
                service="api",
                text="api uses VPC egress ALL_TRAFFIC (unset: Cloud Run's default), config says PRIVATE_RANGES_ONLY",
                flags=("--vpc-egress private-ranges-only",),
                command="",
                status=Status.FAIL,
            )
        ],
        id="egress unset",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(
            MATCHING,
            cloudsql_instances=(OTHER_SQL,),
            secrets=(
                "jwt",
                "projects/netra-staging/secrets/gone",
                "projects/other/secrets/theirs",
                "projects/999/secrets/numbered",
            ),
        ),
        {"jwt"},
        None,
        None,
        [
            Drift(
                service="api",
                text="api does not mount Cloud SQL instance netra-staging:us-central1:netra-staging-db (mounts netra-staging:us-central1:old-db), config says so",
                flags=("--add-cloudsql-instances netra-staging:us-central1:netra-staging-db",),
                command="",
                status=Status.FAIL,
            ),
            Drift(
                service="api",
                text="api also mounts Cloud SQL instance netra-staging:us-central1:old-db, config lists netra-staging:us-central1:netra-staging-db",
                flags=("--remove-cloudsql-instances netra-staging:us-central1:old-db",),
                command="",
                status=Status.WARN,
            ),
            Drift(
                service="api",
                text="api does not reference secret db-password, config says it must",
                flags=("--update-secrets ENV_NAME=db-password:latest",),
                command="",
                status=Status.FAIL,
            ),
            Drift(
                service="api",
                text="api references secret gone, which does not exist in Secret Manager",
                flags=(),
                command="gcloud secrets create gone --project netra-staging --replication-policy=automatic",
                status=Status.FAIL,
            ),
            Drift(
                service="api",
                text="api references secret numbered, which does not exist in Secret Manager",
                flags=(),
                command="gcloud secrets create numbered --project netra-staging --replication-policy=automatic",
                status=Status.FAIL,
            ),
        ],
        id="sql and secrets",
    ),
    pytest.param(
        BACKEND,
        dataclasses.replace(
            MATCHING, secrets=("projects/999/secrets/jwt", "projects/123456789012/secrets/db-password")
        ),
        set(),
        "123456789012",
        None,
        [
            Drift(
                service="api",
                text="api references secret db-password, which does not exist in Secret Manager",
                flags=(),
                command="gcloud secrets create db-password --project netra-staging --replication-policy=automatic",
                status=Status.FAIL,
            )
        ],
        id="numbered project with a project number",
    ),
]


@pytest.mark.parametrize(("expected", "deployed", "secrets", "project_number", "connectors", "drifts"), CASES)
def test_each_disagreement_of_a_service_to_the_word(
    expected: ServiceConfig,
    deployed: DeployedSettings,
    secrets: Collection[str] | None,
    project_number: str | None,
    connectors: Mapping[str, bool] | None,
    drifts: list[Drift],
) -> None:
    found = service_drift(
        expected, deployed, secrets, "netra-staging", project_number, region="us-central1", connectors=connectors
    )
    assert found == drifts
