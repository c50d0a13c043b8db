"""A real connection to the platform's PostgreSQL database: connect plus `SELECT 1` within the profile's timeout.

Check `database-connectivity` (P0). Two modes (`[database] mode`):
- `direct`: psycopg 3 to host:port. psycopg because it speaks libpq's own `sslmode` and `connect_timeout` (the
  config's values mean exactly what they mean to psql and to the platform's SQLAlchemy URLs) and reports libpq's
  error text, which names the cause (password, database, refused).
- `connector`: Google's cloud-sql-python-connector with asyncpg (its only async PostgreSQL driver), over the
  instance's private IP with an ephemeral certificate, as Cloud Run's own connector does.
The host is `[database] host`, or else the `private_ip` the `cloud-sql-instance` check found. The password comes
from an environment variable or a Prefect Secret block, and never reaches a log, a summary or the evidence.
"""

import asyncio
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.env_values import env_state
from runbook.config.models import DatabaseConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status

CHECK_ID = "database-connectivity"
PREREQUISITE = "cloud-sql-instance"
SECRET_BLOCK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Target:
    """Where the check connects and how long it may take (no password here: a Target is shown to people)."""

    mode: str
    host: str | None
    port: int
    dbname: str
    user: str
    timeout_s: float
    host_source: str = "config"
    connection_name: str | None = None

    @property
    def where(self) -> str:
        if self.mode == "connector":
            return f"{self.connection_name} (connector)"
        return f"{self.host}:{self.port}"

    def evidence(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "host": self.host,
            "port": self.port,
            "host_source": self.host_source,
            "database": self.dbname,
            "user": self.user,
            "timeout_s": self.timeout_s,
            **({"connection_name": self.connection_name} if self.connection_name else {}),
        }


def resolve_host(database: DatabaseConfig, instance: CheckResult | None) -> tuple[str, str] | Finding:
    """The host to connect to and where it came from, or the SKIPPED finding when the prerequisite is missing.

    Args:
        database: `[database]`; a configured host wins.
        instance: The `cloud-sql-instance` result (its evidence has `private_ip`), or None when it did not run.
    """
    if database.host:
        return database.host, "config"
    fix = f"Fix {PREREQUISITE} first, or set [database] host to the address the runbook should connect to."
    if instance is None:
        return Finding(Status.SKIPPED, f"skipped: prerequisite {PREREQUISITE} did not run and no host is set", {}, fix)
    if instance.status not in (Status.PASS, Status.WARN):
        summary = f"skipped: prerequisite {PREREQUISITE} {instance.status.value}"
        return Finding(Status.SKIPPED, summary, {"prerequisite": PREREQUISITE}, fix)
    address = instance.evidence.get("private_ip")
    if not address:
        summary = f"skipped: prerequisite {PREREQUISITE} reported no private_ip and no host is set"
        return Finding(Status.SKIPPED, summary, {"prerequisite": PREREQUISITE}, fix)
    return str(address), f"{PREREQUISITE} private_ip"


def connect_timeout(config: RunbookConfig) -> float:
    """`[checks.database-connectivity] timeout_s`, else the profile's `database_connect_s` (10 s staging, 5 s dev)."""
    override = config.checks.get(CHECK_ID)
    return override.timeout_s if override and override.timeout_s else config.timeouts.database_connect_s


def _scrub(text: str, secret: str | None) -> str:
    text = " ".join(text.split())
    return text.replace(secret, "***") if secret else text


def decide_connected(target: Target, latency_ms: float, details: dict[str, Any] | None = None) -> Finding:
    """PASS: connected and `SELECT 1` answered 1 within the timeout."""
    evidence = {**target.evidence(), "latency_ms": round(latency_ms, 1), **(details or {})}
    return Finding(
        Status.PASS,
        f"connected to {target.dbname} on {target.where} as {target.user}, SELECT 1 in {latency_ms:.0f} ms",
        evidence,
    )


def decide_connection_error(target: Target, error: BaseException, password: str | None = None) -> Finding:
    """Classify why connect + `SELECT 1` failed (psycopg, asyncpg, the connector, or the hard timeout).

    Args:
        target: Where the check tried to connect.
        error: What was raised (`TimeoutError` when the hard deadline cut the attempt).
        password: Removed from any text shown, should a driver ever echo it.

    Returns:
        FAIL for the system being wrong (refused, authentication, missing database, no answer in time, TLS);
        ERROR when the runbook could not find out (unknown errors, the connector's own API failing).
    """
    detail = _scrub(str(error) or type(error).__name__, password)
    lowered = detail.lower()
    sqlstate = getattr(error, "sqlstate", None)
    evidence = {**target.evidence(), "error": detail[:300], "error_type": type(error).__name__}
    where, db, user = target.where, target.dbname, target.user
    reach = (
        "Check the instance is up and that this runner can reach it (the private IP is only reachable from inside "
        'the VPC: run the runbook there, or use [database] mode = "connector").'
    )
    if target.mode == "connector":
        reach = "Check the instance is up with a private IP, and that this runner is inside its VPC."

    def fail(summary: str, fix: str, status: Status = Status.FAIL) -> Finding:
        return Finding(status, summary, evidence, fix)

    admin_status = getattr(error, "status", None)  # aiohttp's ClientResponseError: the connector's Admin API calls
    if target.mode == "connector" and isinstance(admin_status, int):
        return fail(
            f"the Cloud SQL Admin API answered {admin_status} while the connector prepared {where}: {detail[:200]}",
            "The connector reads connectSettings and creates an ephemeral certificate: the runbook's identity needs "
            "roles/cloudsql.client and the instance must exist (see cloud-sql-instance).",
            Status.ERROR,
        )
    if type(error).__name__ == "CloudSQLIPTypeError" or "matching preference" in lowered:
        return fail(f"{where} has no PRIVATE IP for the connector to use", f"{reach} See cloud-sql-instance.")

    if isinstance(error, TimeoutError) or "timeout expired" in lowered:
        return fail(f"no answer from {where} within {target.timeout_s:g} s (connect + SELECT 1)", reach)
    if sqlstate == "28P01" or "password authentication failed" in lowered:
        return fail(
            f"authentication failed for user {user} on {where}: wrong password",
            f"Compare the password in the configured source with the database user's: "
            f"gcloud sql users set-password {user} --instance INSTANCE --prompt-for-password",
        )
    if "no password supplied" in lowered:
        return fail(
            f"authentication failed for user {user} on {where}: the server wants a password and none was given",
            "Set [database] password_env (and export that variable) or password_block.",
        )
    if sqlstate == "28000" or "pg_hba.conf" in lowered or "authentication" in lowered:
        return fail(f"authentication rejected for user {user} on {where}: {detail}", f"Check user {user} may log in.")
    if sqlstate == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return fail(
            f"database {db} does not exist on {where}",
            f"Create it (gcloud sql databases create {db} --instance INSTANCE) or fix [database] name.",
        )
    if isinstance(error, ConnectionRefusedError) or "connection refused" in lowered:
        return fail(f"connection refused by {where}: nothing listens there", f"{reach} Check [database] host/port.")
    if "ssl" in lowered and ("not support" in lowered or "required" in lowered):
        return fail(f"TLS negotiation with {where} failed: {detail}", "Align [database] sslmode with the server.")
    if sqlstate == "53300" or "too many" in lowered:
        return fail(
            f"{where} refuses connections: {detail}", "The instance is out of connections; find who holds them."
        )
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return fail(f"host {target.host} does not resolve", "Fix [database] host.")
    return fail(
        f"could not connect to {where}: {type(error).__name__}: {detail}",
        f"{reach} Rerun with the error above in hand.",
        Status.ERROR,
    )


async def _password(database: DatabaseConfig) -> str | None:
    """From the environment variable, else the Prefect Secret block; None when neither is configured."""
    if name := database.password_env:
        value = os.environ.get(name)
        if value:
            return value
        if not database.password_block:
            raise CheckAbort(
                Status.ERROR,
                f"password not available: environment variable {name} {env_state(name)}",
                {"password_env": database.password_env},
                f"Export {database.password_env} where the runbook runs, or set [database] password_block.",
            )
    if database.password_block:
        from prefect.blocks.system import Secret

        block: Any
        try:
            async with asyncio.timeout(SECRET_BLOCK_TIMEOUT_S):
                block = await Secret.aload(database.password_block)
        except Exception as error:  # never echo the block's content: only the error type
            raise CheckAbort(
                Status.ERROR,
                f"password not available: Prefect Secret block {database.password_block!r} could not be loaded "
                f"({type(error).__name__})",
                {"password_block": database.password_block},
                f"Create it: prefect block create secret (name {database.password_block}), or fix [database] "
                "password_block.",
            ) from None
        return str(block.get())
    return None


async def _select_one_direct(target: Target, database: DatabaseConfig, password: str | None) -> dict[str, Any]:
    import psycopg

    connection = await psycopg.AsyncConnection.connect(
        host=target.host,
        port=target.port,
        dbname=target.dbname,
        user=target.user,
        password=password,
        connect_timeout=max(2, math.ceil(target.timeout_s)),  # libpq's unit is whole seconds, its minimum 2
        sslmode=database.sslmode,
        application_name="staging-runbook",
    )
    async with connection:
        cursor = await connection.execute("SELECT 1")
        row = await cursor.fetchone()
        if not row or row[0] != 1:
            raise ValueError(f"SELECT 1 returned {row!r}")
        return {"server_version": connection.info.server_version, "ssl": bool(connection.pgconn.ssl_in_use)}


async def _select_one_connector(target: Target, config: RunbookConfig, password: str | None) -> dict[str, Any]:
    from google.cloud.sql.connector import Connector, IPTypes, RefreshStrategy

    endpoint = config.gcp.endpoints.for_api("sqladmin")
    credentials = None
    if endpoint:
        # The simulator: a static token (anonymous credentials cannot be "refreshed", which the connector insists on).
        from google.oauth2.credentials import Credentials

        credentials = Credentials(token="simulator")
    # Lazy refresh: no background task outliving the check. Built in a thread: ADC lookup may block.
    connector = await asyncio.to_thread(
        Connector,
        ip_type=IPTypes.PRIVATE,
        timeout=max(1, math.ceil(target.timeout_s)),
        credentials=credentials,
        loop=asyncio.get_running_loop(),
        sqladmin_api_endpoint=endpoint,
        refresh_strategy=RefreshStrategy.LAZY,
    )
    try:
        connection = await connector.connect_async(
            target.connection_name or "",
            "asyncpg",
            user=target.user,
            password=password,
            db=target.dbname,
        )
        try:
            value = await connection.fetchval("SELECT 1")
            if value != 1:
                raise ValueError(f"SELECT 1 returned {value!r}")
        finally:
            await connection.close()
    finally:
        await connector.close_async()
    return {}


async def _body(ctx: CheckContext, instance: CheckResult | None) -> CheckResult:
    config, database = ctx.config, ctx.config.database
    timeout_s = min(connect_timeout(config), ctx.deadline.remaining)
    if database.mode == "connector":
        name = f"{config.gcp.project}:{config.gcp.region}:{config.cloud_sql.instance}"
        target = Target("connector", None, database.port, database.name, database.user, timeout_s, "connector", name)
    else:
        resolved = resolve_host(database, instance)
        if isinstance(resolved, Finding):
            return ctx.finish(resolved).model_copy(update={"attempts": 0})
        host, source = resolved
        target = Target("direct", host, database.port, database.name, database.user, timeout_s, source)

    password = await _password(database)
    ctx.counter.attempts += 1
    started = time.monotonic()
    try:
        async with asyncio.timeout(target.timeout_s):
            if target.mode == "connector":
                details = await _select_one_connector(target, config, password)
            else:
                details = await _select_one_direct(target, database, password)
    except Exception as error:  # every driver failure is classified for a person, never a bare traceback
        return ctx.finish(decide_connection_error(target, error, password))
    return ctx.finish(decide_connected(target, (time.monotonic() - started) * 1000, details))


@check_task(CHECK_ID)
async def database_connectivity(
    config: RunbookConfig, clients: GoogleClients | None, instance: CheckResult | None = None
) -> CheckResult:
    """P0: a real connection to the database and `SELECT 1` within the profile's timeout (10 s in staging).

    An instance can look healthy to the Admin API and still refuse the platform's connections (wrong password after
    a rotation, database dropped, private IP unreachable, connections exhausted). This is the check that sees that,
    with the timeout the handoff plan sets for staging. The connect and the query share one hard deadline.

    Args:
        config: The environment; `[database]` holds mode, host, port, name, user and the password's source.
        clients: The Google client factory (unused by the connection itself; kept for a uniform signature).
        instance: The `cloud-sql-instance` result, whose `private_ip` is the host when `[database] host` is unset.

    Returns:
        The check's result; evidence holds where it connected and `latency_ms`, never the password.

    Example:
        >>> result = await database_connectivity.fn(config, clients, instance_result)  # doctest: +SKIP
        >>> result.evidence["latency_ms"]
        7.9
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _body(ctx, instance)

    return await run_check(CHECK_ID, config, clients, body)
