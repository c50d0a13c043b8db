"""database-connectivity against a real PostgreSQL (tests/pg.py), a silent TCP server, and the simulator.

The `postgres` fixture comes from tests/pg.py (registered in tests/conftest.py).
"""

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from runbook.config.files import load_config
from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Phase, Severity, Status
from simulator.server import Simulator
from tasks.cloud_sql import cloud_sql_instance
from tasks.database import Target, connect_timeout, database_connectivity, decide_connection_error, resolve_host
from tests.pg import PostgresServer
from tests.support import refusing_port

pytestmark = pytest.mark.timeout(60)

PASSWORD_ENV = "RUNBOOK_DB_PASSWORD"  # what environments/local.toml names


def config(database: dict[str, Any], timeout_s: float = 3, **overrides: Any) -> RunbookConfig:
    return load_config(
        "local",
        overrides={"database": database, "checks": {"database-connectivity": {"timeout_s": timeout_s}}, **overrides},
    )


def direct(pg: PostgresServer, **fields: Any) -> dict[str, Any]:
    return {"mode": "direct", "host": pg.host, "port": pg.port, "name": pg.dbname, "user": pg.user, **fields}


def instance_result(status: Status, private_ip: str | None = "127.0.0.1") -> CheckResult:
    return CheckResult(
        id="cloud-sql-instance",
        title="Cloud SQL instance",
        phase=Phase.infrastructure,
        severity=Severity.P0,
        status=status,
        summary="test",
        evidence={"private_ip": private_ip},
    )


async def check(cfg: RunbookConfig, instance: CheckResult | None = None) -> CheckResult:
    return await database_connectivity.fn(cfg, None, instance)


def shown(result: CheckResult) -> str:
    """Everything a person or a log could see of a result."""
    return json.dumps(result.model_dump(mode="json"))


@pytest.fixture
def password(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, postgres.password)
    return postgres.password


# --- a real PostgreSQL -------------------------------------------------------------------------------------------


async def test_select_one_on_a_real_database_passes_with_latency_and_no_password_anywhere(
    postgres: PostgresServer, password: str
) -> None:
    result = await check(config(direct(postgres)))
    assert result.status == Status.PASS, result.summary
    assert 0 < result.evidence["latency_ms"] < 3000
    assert result.evidence["host_source"] == "config"
    assert result.evidence["server_version"] >= 150000
    assert f"connected to netra_staging on 127.0.0.1:{postgres.port} as netra_app" in result.summary
    assert password not in shown(result)


async def test_wrong_password_fails_naming_authentication_without_showing_either_password(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    result = await check(config(direct(postgres)))
    assert result.status == Status.FAIL
    assert "authentication failed for user netra_app" in result.summary
    assert "gcloud sql users set-password netra_app" in result.remediation
    assert "not-the-password" not in shown(result)
    assert postgres.password not in shown(result)


async def test_missing_database_fails_naming_it(postgres: PostgresServer, password: str) -> None:
    result = await check(config(direct(postgres, name="no_such_db")))
    assert result.status == Status.FAIL
    assert "database no_such_db does not exist" in result.summary
    assert "gcloud sql databases create no_such_db" in result.remediation


async def test_refused_connection_fails_quickly(password: str) -> None:
    closed_port = refusing_port()
    started = time.monotonic()
    result = await check(config({"host": "127.0.0.1", "port": closed_port}, timeout_s=5))
    assert time.monotonic() - started < 1.5
    assert result.status == Status.FAIL
    assert f"connection refused by 127.0.0.1:{closed_port}" in result.summary
    assert "[database] host/port" in result.remediation


async def test_tls_required_by_the_config_but_not_offered_fails(postgres: PostgresServer, password: str) -> None:
    result = await check(config(direct(postgres, sslmode="require")))
    assert result.status == Status.FAIL
    assert "TLS" in result.summary


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (the kernel does, via the backlog) and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


async def test_server_that_accepts_and_never_answers_fails_within_the_timeout(
    silent_server: int, password: str
) -> None:
    started = time.monotonic()
    result = await check(config({"host": "127.0.0.1", "port": silent_server}, timeout_s=1))
    elapsed = time.monotonic() - started
    assert result.status == Status.FAIL
    assert f"no answer from 127.0.0.1:{silent_server} within 1 s" in result.summary
    assert elapsed < 1.8  # the hard deadline, not libpq's 2 s minimum connect_timeout


async def test_unset_password_variable_is_an_error_naming_it_before_any_connection(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    result = await check(config(direct(postgres)))
    assert result.status == Status.ERROR
    assert f"environment variable {PASSWORD_ENV} is not set" in result.summary
    assert f"Export {PASSWORD_ENV}" in result.remediation


class FakeSecret:
    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value


async def test_password_from_a_prefect_secret_block_when_the_variable_is_not_configured(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    loaded: list[str] = []

    async def aload(name: str) -> FakeSecret:
        loaded.append(name)
        return FakeSecret(postgres.password)

    monkeypatch.setattr(Secret, "aload", aload)
    result = await check(config(direct(postgres, password_env=None, password_block="netra-db-password")))
    assert result.status == Status.PASS, result.summary
    assert loaded == ["netra-db-password"]
    assert postgres.password not in shown(result)


async def test_secret_block_that_cannot_be_loaded_is_an_error_naming_the_block(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    async def aload(name: str) -> FakeSecret:
        raise ValueError(f"Unable to find block document named {name}")

    monkeypatch.setattr(Secret, "aload", aload)
    result = await check(config(direct(postgres, password_env=None, password_block="netra-db-password")))
    assert result.status == Status.ERROR
    assert "Prefect Secret block 'netra-db-password' could not be loaded" in result.summary


# --- the host from cloud-sql-instance ----------------------------------------------------------------------------


async def test_host_comes_from_the_instance_private_ip_when_not_configured(
    postgres: PostgresServer, password: str
) -> None:
    result = await check(config(direct(postgres, host=None)), instance_result(Status.PASS, "127.0.0.1"))
    assert result.status == Status.PASS, result.summary
    assert result.evidence["host"] == "127.0.0.1"
    assert result.evidence["host_source"] == "cloud-sql-instance private_ip"


async def test_configured_host_wins_over_the_instance_private_ip(postgres: PostgresServer, password: str) -> None:
    result = await check(config(direct(postgres)), instance_result(Status.PASS, "10.20.0.3"))
    assert result.status == Status.PASS
    assert result.evidence["host"] == "127.0.0.1"


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR, Status.SKIPPED])
async def test_skipped_naming_the_prerequisite_when_cloud_sql_instance_did_not_pass(
    status: Status, postgres: PostgresServer, password: str
) -> None:
    result = await check(config(direct(postgres, host=None)), instance_result(status))
    assert result.status == Status.SKIPPED
    assert result.summary == f"skipped: prerequisite cloud-sql-instance {status.value}"
    assert result.attempts == 0
    assert "[database] host" in result.remediation


async def test_skipped_without_a_host_or_an_instance_result(password: str) -> None:
    result = await check(config({"host": None}))
    assert result.status == Status.SKIPPED
    assert "cloud-sql-instance did not run" in result.summary


def test_resolve_host_reads_the_private_ip_only_from_a_passing_or_warning_instance() -> None:
    db = config({"host": None}).database
    assert resolve_host(db, instance_result(Status.WARN, "10.20.0.3")) == ("10.20.0.3", "cloud-sql-instance private_ip")
    missing_ip = resolve_host(db, instance_result(Status.PASS, None))
    assert not isinstance(missing_ip, tuple)
    assert missing_ip.status == Status.SKIPPED


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(getattr(request, "param", "healthy")) as running:
        yield running


@pytest.mark.parametrize("sim", ["sql-localhost"], indirect=True)
async def test_instance_then_database_end_to_end_through_the_simulator(
    sim: Simulator, postgres: PostgresServer, password: str
) -> None:
    endpoints = {"gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}}}
    cfg = config(direct(postgres, host=None), **endpoints)
    clients = GoogleClients(cfg.gcp)
    instance = await cloud_sql_instance.fn(cfg, clients)
    assert instance.evidence["private_ip"] == "127.0.0.1"
    result = await database_connectivity.fn(cfg, clients, instance)
    assert result.status == Status.PASS, result.summary
    assert result.evidence["host_source"] == "cloud-sql-instance private_ip"


@pytest.mark.parametrize("sim", ["sql-stopped"], indirect=True)
async def test_stopped_instance_skips_the_connection_attempt(
    sim: Simulator, postgres: PostgresServer, password: str
) -> None:
    endpoints = {"gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}}}
    cfg = config(direct(postgres, host=None), **endpoints)
    clients = GoogleClients(cfg.gcp)
    instance = await cloud_sql_instance.fn(cfg, clients)
    result = await database_connectivity.fn(cfg, clients, instance)
    assert result.status == Status.SKIPPED
    assert result.summary == "skipped: prerequisite cloud-sql-instance FAIL"


def _proxied_world(postgres: PostgresServer, **google: Any) -> Any:
    """sql-localhost with the simulator's Cloud SQL server proxy (mutual TLS on 3307) in front of `postgres`."""
    from simulator.scenario import deep_merge, load_scenario

    base = load_scenario("sql-localhost")
    sqladmin = {"proxy_upstream": f"127.0.0.1:{postgres.port}"}
    merged = base.google.model_validate(deep_merge(base.google.model_dump(), {"sqladmin": sqladmin, **google}))
    return base.model_copy(update={"google": merged})


async def test_connector_mode_connects_through_the_cloud_sql_proxy_and_selects_one(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres.password)
    with Simulator(_proxied_world(postgres)) as sim:
        endpoints = {"gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}}}
        database = {"mode": "connector", "name": postgres.dbname, "user": postgres.user}
        cfg = config(database, timeout_s=10, **endpoints)
        result = await database_connectivity.fn(cfg, GoogleClients(cfg.gcp), None)
        assert result.status == Status.PASS, result.summary
        assert result.evidence["connection_name"] == "netra-staging:us-central1:netra-staging-db"
        assert postgres.password not in shown(result)
        assert sim.log.count(api="sqladmin", method="GET", path_contains="/connectSettings") == 1
        assert sim.log.count(api="sqladmin", method="POST", path_contains=":generateEphemeralCert") == 1


async def test_connector_mode_reports_the_admin_api_refusing_the_certificate(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres.password)
    refused = [{"api": "sqladmin", "method": "POST", "path_regex": "generateEphemeralCert", "status": 403}]
    with Simulator(_proxied_world(postgres, faults=refused)) as sim:
        endpoints = {"gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}}}
        cfg = config({"mode": "connector", "name": postgres.dbname, "user": postgres.user}, timeout_s=5, **endpoints)
        started = time.monotonic()
        result = await database_connectivity.fn(cfg, GoogleClients(cfg.gcp), None)
        assert time.monotonic() - started < 6
        assert result.status == Status.ERROR
        assert "Cloud SQL Admin API answered 403" in result.summary
        assert "roles/cloudsql.client" in result.remediation


# --- classification and timeouts ---------------------------------------------------------------------------------

TARGET = Target("direct", "10.20.0.3", 5432, "netra_staging", "netra_app", 10.0)


REACH = (
    "Check the instance is up and that this runner can reach it (the private IP is only reachable from inside the VPC: "
    'run the runbook there, or use [database] mode = "connector").'
)


@pytest.mark.parametrize(
    ("error", "status", "phrase", "fix"),
    [
        (
            asyncpg.exceptions.InvalidPasswordError("password authentication failed"),
            Status.FAIL,
            "wrong password",
            "Compare the password in the configured source with the database user's: "
            "gcloud sql users set-password netra_app --instance INSTANCE --prompt-for-password",
        ),
        (
            asyncpg.exceptions.InvalidCatalogNameError('database "x" does not exist'),
            Status.FAIL,
            "does not exist",
            "Create it (gcloud sql databases create netra_staging --instance INSTANCE) or fix [database] name.",
        ),
        (
            ConnectionRefusedError(111, "Connect call failed"),
            Status.FAIL,
            "connection refused",
            f"{REACH} Check [database] host/port.",
        ),
        (TimeoutError(), Status.FAIL, "no answer from 10.20.0.3:5432 within 10 s", REACH),
        (
            asyncpg.exceptions.TooManyConnectionsError("too many clients"),
            Status.FAIL,
            "refuses connections",
            "The instance is out of connections; find who holds them.",
        ),
        (
            RuntimeError("something new"),
            Status.ERROR,
            "RuntimeError: something new",
            f"{REACH} Rerun with the error above in hand.",
        ),
    ],
)
def test_connection_errors_are_classified_for_a_person(
    error: BaseException, status: Status, phrase: str, fix: str
) -> None:
    finding = decide_connection_error(TARGET, error)
    assert finding.status == status
    assert phrase in finding.summary
    assert finding.remediation == fix
    assert finding.evidence["error_type"] == type(error).__name__


def test_a_driver_echoing_the_password_is_scrubbed() -> None:
    finding = decide_connection_error(TARGET, RuntimeError("bad dsn password=s3cr3t-value"), "s3cr3t-value")
    assert "s3cr3t-value" not in finding.summary + json.dumps(finding.evidence)


def test_timeout_is_the_profile_database_timeout_unless_the_check_overrides_it() -> None:
    assert connect_timeout(load_config("local")) == 5  # dev profile
    assert connect_timeout(load_config("staging")) == 10
    assert connect_timeout(config({}, timeout_s=2.5)) == 2.5


async def test_the_hard_deadline_also_bounds_a_slow_query_not_only_the_connect(
    postgres: PostgresServer, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.database as database

    original = database._select_one_direct

    async def slow(*args: Any) -> dict[str, Any]:
        details = await original(*args)
        await asyncio.sleep(5)
        return details

    monkeypatch.setattr(database, "_select_one_direct", slow)
    started = time.monotonic()
    result = await check(config(direct(postgres), timeout_s=1))
    assert time.monotonic() - started < 1.8
    assert result.status == Status.FAIL
    assert "within 1 s" in result.summary
