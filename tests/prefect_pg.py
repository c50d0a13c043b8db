"""A Prefect server on the project's throwaway PostgreSQL (tests/pg.py): Prefect's production database, locally.

Used by `make server-postgres` (scripts/server_postgres.py), the deployment end-to-end tests (the session fixture
`prefect_server_postgres`: one server for the session) and the benchmark (worker pickup on SQLite and PostgreSQL).

The server's database belongs to a role `prefect` (trusted on loopback here; in production a password or IAM, see
docs/production.md) and is reached with asyncpg: PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://...
Every wait is bounded; a server started here runs in a process group of its own and is stopped by its id.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.pg import PostgresServer

ROLE = "prefect"
SERVER_READY_S = 180.0
STOP_TIMEOUT_S = 15.0


def _admin(pg: PostgresServer) -> str:
    return f"host={pg.host} port={pg.port} user=postgres dbname=postgres connect_timeout=10"


def database_url(pg: PostgresServer, name: str, role: str = ROLE) -> str:
    return f"postgresql+asyncpg://{role}@{pg.host}:{pg.port}/{name}"


def ensure_database(pg: PostgresServer, name: str, role: str = ROLE) -> str:
    """Role `role` and database `name` owned by it, created when missing; the server's connection URL."""
    import psycopg

    with psycopg.connect(_admin(pg), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            connection.execute(f'CREATE ROLE "{role}" LOGIN')
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    return database_url(pg, name, role)


def drop_database(pg: PostgresServer, name: str) -> None:
    import psycopg

    with psycopg.connect(_admin(pg), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(pg: PostgresServer, prefix: str = "prefect") -> Iterator[str]:
    """A fresh database for one Prefect server, dropped afterwards; yields its connection URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = ensure_database(pg, name)
    try:
        yield url
    finally:
        drop_database(pg, name)


def server_env(home: Path, database: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `prefect server start`: offline, its own PREFECT_HOME, SQLite there or `database`."""
    env = {key: value for key, value in (base or os.environ).items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    return env


def prefect_executable() -> str:
    return str(Path(sys.executable).parent / "prefect")


def start_server(env: dict[str, str], host: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`prefect server start` in a process group of its own (stopped as a whole by `stop_server`)."""
    return subprocess.Popen(
        [prefect_executable(), "server", "start", "--host", host, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_healthy(api_url: str, process: subprocess.Popen[bytes], timeout_s: float = SERVER_READY_S) -> float:
    """Seconds until GET /api/health answers 200; RuntimeError when the server exits or the time is up."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:
            if answer.status == 200:
                return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"prefect server not healthy within {timeout_s:g} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_S)


@dataclass(frozen=True)
class PrefectServerInfo:
    api_url: str
    database_url: str
    database: str  # the database's name in the session's PostgreSQL
    log: Path


@pytest.fixture(scope="session")
def prefect_server_postgres(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServerInfo]:
    """One `prefect server start` on a database of the session's PostgreSQL, for the whole session.

    Its scheduler is off: tests create exactly the runs they wait for (no nightly run appears on its own).
    """
    from tests.pg import free_port

    home = tmp_path_factory.mktemp("prefect-server-pg")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    with throwaway_database(postgres, "prefect_tests") as url, (home / "server.log").open("wb") as log:
        env = server_env(home, url)
        env.update(PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false", PREFECT_SERVER_UI_ENABLED="false")
        process = start_server(env, "127.0.0.1", port, log)
        try:
            try:
                wait_healthy(api_url, process)
            except RuntimeError as error:
                tail = (home / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"{error}:\n{tail}")
            yield PrefectServerInfo(api_url, url, url.rsplit("/", 1)[1], home / "server.log")
        finally:
            stop_server(process)
