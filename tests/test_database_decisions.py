"""database-connectivity's decisions, every branch to the word: why a connection failed and what to do, where the
host comes from (an ERRORed cloud-sql-instance skips the check, as a FAILed one does).

Plain objects only: `make mutate` reruns these for every mutant of the check's decisions.
"""

from typing import Any

import pytest

from runbook.config.models import DatabaseConfig
from runbook.results import CheckResult, Phase, Severity, Status
from tasks.database import Target, decide_connected, decide_connection_error, resolve_host

DIRECT = Target("direct", "10.20.0.3", 5432, "netra_staging", "netra_app", 10.0)
CONNECTOR = Target(
    "connector", None, 5432, "netra_staging", "netra_app", 5.0, "connector", "netra-staging:us-central1:db"
)
REACH = (
    "Check the instance is up and that this runner can reach it (the private IP is only reachable from inside the VPC: "
    'run the runbook there, or use [database] mode = "connector").'
)
NO_ANSWER = "no answer from 10.20.0.3:5432 within 10 s (connect + SELECT 1)"
CONNECTOR_REACH = "Check the instance is up with a private IP, and that this runner is inside its VPC."


class SqlError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate
        if status is not None:
            self.status = status


class CloudSQLIPTypeError(Exception):
    """Named like the connector's own error."""


@pytest.mark.parametrize(
    ("error", "status", "summary", "fix"),
    [
        (TimeoutError(), Status.FAIL, NO_ANSWER, REACH),
        (
            SqlError("timeout expired"),
            Status.FAIL,
            "no answer from 10.20.0.3:5432 within 10 s (connect + SELECT 1)",
            REACH,
        ),
        (
            SqlError("boom", "28P01"),
            Status.FAIL,
            "authentication failed for user netra_app on 10.20.0.3:5432: wrong password",
            "Compare the password in the configured source with the database user's: "
            "gcloud sql users set-password netra_app --instance INSTANCE --prompt-for-password",
        ),
        (
            SqlError("fe_sendauth: no password supplied"),
            Status.FAIL,
            "authentication failed for user netra_app on 10.20.0.3:5432: the server wants a password and none was "
            "given",
            "Set [database] password_env (and export that variable) or password_block.",
        ),
        (
            SqlError("no pg_hba.conf entry for host"),
            Status.FAIL,
            "authentication rejected for user netra_app on 10.20.0.3:5432: no pg_hba.conf entry for host",
            "Check user netra_app may log in.",
        ),
        (
            SqlError("role is not permitted", "28000"),
            Status.FAIL,
            "authentication rejected for user netra_app on 10.20.0.3:5432: role is not permitted",
            "Check user netra_app may log in.",
        ),
        (
            SqlError("catalog", "3D000"),
            Status.FAIL,
            "database netra_staging does not exist on 10.20.0.3:5432",
            "Create it (gcloud sql databases create netra_staging --instance INSTANCE) or fix [database] name.",
        ),
        (
            SqlError("Connection refused by peer"),
            Status.FAIL,
            "connection refused by 10.20.0.3:5432: nothing listens there",
            f"{REACH} Check [database] host/port.",
        ),
        (
            SqlError("server does not support SSL, but SSL was required"),
            Status.FAIL,
            "TLS negotiation with 10.20.0.3:5432 failed: server does not support SSL, but SSL was required",
            "Align [database] sslmode with the server.",
        ),
        (
            SqlError("SSL connection is required"),
            Status.FAIL,
            "TLS negotiation with 10.20.0.3:5432 failed: SSL connection is required",
            "Align [database] sslmode with the server.",
        ),
        (
            SqlError("sorry, slots are reserved", "53300"),
            Status.FAIL,
            "10.20.0.3:5432 refuses connections: sorry, slots are reserved",
            "The instance is out of connections; find who holds them.",
        ),
        (
            SqlError('could not translate host name "db" to address'),
            Status.FAIL,
            "host 10.20.0.3 does not resolve",
            "Fix [database] host.",
        ),
        (
            SqlError("Name or service not known"),
            Status.FAIL,
            "host 10.20.0.3 does not resolve",
            "Fix [database] host.",
        ),
        (
            SqlError(""),
            Status.ERROR,
            "could not connect to 10.20.0.3:5432: SqlError: SqlError",
            f"{REACH} Rerun with the error above in hand.",
        ),
    ],
)
def test_each_connection_failure_says_what_and_what_to_do(
    error: BaseException, status: Status, summary: str, fix: str
) -> None:
    finding = decide_connection_error(DIRECT, error)
    assert (finding.status, finding.summary, finding.remediation) == (status, summary, fix)
    assert finding.evidence == {
        **DIRECT.evidence(),
        "error": str(error) or type(error).__name__,
        "error_type": type(error).__name__,
    }


def test_the_connector_reports_its_admin_api_answers_and_its_own_reach() -> None:
    refused = decide_connection_error(CONNECTOR, SqlError("Forbidden: " + "x" * 300, status=403))
    assert refused.status == Status.ERROR
    assert refused.summary == (
        "the Cloud SQL Admin API answered 403 while the connector prepared netra-staging:us-central1:db (connector): "
        + ("Forbidden: " + "x" * 300)[:200]
    )
    assert refused.remediation == (
        "The connector reads connectSettings and creates an ephemeral certificate: the runbook's identity needs "
        "roles/cloudsql.client and the instance must exist (see cloud-sql-instance)."
    )
    no_private = decide_connection_error(CONNECTOR, CloudSQLIPTypeError("x"))
    assert (no_private.status, no_private.summary, no_private.remediation) == (
        Status.FAIL,
        "netra-staging:us-central1:db (connector) has no PRIVATE IP for the connector to use",
        f"{CONNECTOR_REACH} See cloud-sql-instance.",
    )
    matching = decide_connection_error(CONNECTOR, SqlError("no IP address matching preference PRIVATE"))
    assert matching.summary == no_private.summary
    timeout = decide_connection_error(CONNECTOR, TimeoutError())
    assert timeout.remediation == CONNECTOR_REACH
    assert timeout.evidence["connection_name"] == "netra-staging:us-central1:db"


def test_a_status_attribute_outside_connector_mode_is_an_ordinary_error() -> None:
    finding = decide_connection_error(DIRECT, SqlError("odd", status=500))
    assert finding.status == Status.ERROR and finding.summary == "could not connect to 10.20.0.3:5432: SqlError: odd"


def test_an_echoed_password_and_long_details_are_cut_from_the_evidence() -> None:
    finding = decide_connection_error(DIRECT, SqlError("bad  password=hunter22 " + "y" * 400), "hunter22")
    assert finding.evidence["error"] == ("bad password=*** " + "y" * 400)[:300]
    assert "hunter22" not in finding.summary


def test_a_connection_passes_with_its_latency_and_details() -> None:
    finding = decide_connected(DIRECT, 12.345, {"server_version": "15.4"})
    assert finding.status == Status.PASS
    assert finding.evidence == {**DIRECT.evidence(), "latency_ms": 12.3, "server_version": "15.4"}
    assert finding.summary == "connected to netra_staging on 10.20.0.3:5432 as netra_app, SELECT 1 in 12 ms"


def instance(status: Status, **evidence: Any) -> CheckResult:
    return CheckResult(
        id="cloud-sql-instance",
        title="Cloud SQL instance",
        phase=Phase.infrastructure,
        severity=Severity.P0,
        status=status,
        summary="s",
        evidence=evidence,
    )


DATABASE = DatabaseConfig(name="netra_staging", user="netra_app")
FIX = "Fix cloud-sql-instance first, or set [database] host to the address the runbook should connect to."


def test_a_configured_host_wins_over_the_instance() -> None:
    configured = DatabaseConfig(name="netra_staging", user="netra_app", host="db.internal")
    assert resolve_host(configured, instance(Status.PASS, private_ip="10.0.0.9")) == ("db.internal", "config")
    assert resolve_host(configured, None) == ("db.internal", "config")


@pytest.mark.parametrize("status", [Status.PASS, Status.WARN])
def test_the_instance_private_ip_is_used_when_it_passed_or_warned(status: Status) -> None:
    assert resolve_host(DATABASE, instance(status, private_ip="10.0.0.9")) == (
        "10.0.0.9",
        "cloud-sql-instance private_ip",
    )


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR, Status.SKIPPED])
def test_an_instance_that_failed_errored_or_was_skipped_skips_the_check(status: Status) -> None:
    found = resolve_host(DATABASE, instance(status, private_ip="10.0.0.9"))
    assert not isinstance(found, tuple)
    assert (found.status, found.summary, found.evidence, found.remediation) == (
        Status.SKIPPED,
        f"skipped: prerequisite cloud-sql-instance {status.value}",
        {"prerequisite": "cloud-sql-instance"},
        FIX,
    )


def test_no_instance_result_or_no_private_ip_skips_saying_which() -> None:
    not_run = resolve_host(DATABASE, None)
    assert not isinstance(not_run, tuple)
    assert (not_run.status, not_run.summary, not_run.evidence, not_run.remediation) == (
        Status.SKIPPED,
        "skipped: prerequisite cloud-sql-instance did not run and no host is set",
        {},
        FIX,
    )
    no_ip = resolve_host(DATABASE, instance(Status.PASS, private_ip=""))
    assert not isinstance(no_ip, tuple)
    assert (no_ip.summary, no_ip.evidence, no_ip.remediation) == (
        "skipped: prerequisite cloud-sql-instance reported no private_ip and no host is set",
        {"prerequisite": "cloud-sql-instance"},
        FIX,
    )


def test_where_names_the_connection_in_connector_mode_and_host_port_otherwise() -> None:
    assert CONNECTOR.where == "netra-staging:us-central1:db (connector)"
    assert DIRECT.where == "10.20.0.3:5432"
