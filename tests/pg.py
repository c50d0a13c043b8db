"""A throwaway real PostgreSQL 15 for tests and for `make demo`.

Debian's server binaries refuse to run as root, so initdb and pg_ctl run as the `postgres` user with a data
directory it owns. The server listens on 127.0.0.1 only, with fsync off (nothing here is worth keeping).

Roles: `netra_app` (password auth, scram) owns database `netra_staging`; every other local login is trusted.
The password is a test value, never a real secret, and is not printed.

    python -m tests.pg start --port 55432 --dir .run/pg
    python -m tests.pg stop --dir .run/pg
"""

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _pg_bin() -> Path:
    """$RUNBOOK_PG_BIN, else the newest Debian PostgreSQL installed (15 on bookworm)."""
    if os.environ.get("RUNBOOK_PG_BIN"):
        return Path(os.environ["RUNBOOK_PG_BIN"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
DB_NAME = "netra_staging"
DB_USER = "netra_app"
DB_PASSWORD = "netra-app-test-password"  # a test value, not a secret: the throwaway server lives on loopback only
RUN_AS = "postgres"
START_TIMEOUT_S = 30
PORT_TRIES = 5  # a port taken between choosing it and PostgreSQL binding it: choose another


@dataclass
class PostgresServer:
    """A running throwaway server: where it listens and how to stop it."""

    host: str
    port: int
    data_dir: Path
    socket_dir: Path
    user: str = DB_USER
    password: str = DB_PASSWORD
    dbname: str = DB_NAME

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files when they live in a temp dir we created."""
        if (self.data_dir / "postmaster.pid").exists():
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20", "stop"])


def free_port() -> int:
    """A port nobody listens on now. PostgreSQL binds its port itself, so it may be taken meanwhile: callers that
    can choose again do (`start_postgres`); tests never use it to find a closed port (`tests.support.refusing_port`).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(args: list[str], timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", RUN_AS, "--", *args] if os.geteuid() == 0 else args
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(RUN_AS)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _psql(server: PostgresServer, sql: str) -> None:
    _as_postgres(
        [
            str(PG_BIN / "psql"),
            "-h",
            str(server.socket_dir),
            "-p",
            str(server.port),
            "-U",
            RUN_AS,
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ]
    )


def start_postgres(
    port: int | None = None, base_dir: Path | None = None, password: str = DB_PASSWORD
) -> PostgresServer:
    """Initialise and start a server on 127.0.0.1:`port` (a free one when None) under `base_dir` (a temp dir).

    `password` becomes netra_app's password when the role is first created.
    """
    base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="runbook-pg-"))
    base.mkdir(parents=True, exist_ok=True)
    data_dir, socket_dir = base / "data", base / "sock"
    for path in (base, socket_dir):
        path.mkdir(exist_ok=True)
        _chown(path)
    # The postgres user must be able to reach the directory through its parents (a temp dir under /tmp is fine).
    os.chmod(base, 0o755)
    if not (data_dir / "PG_VERSION").exists():
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data_dir), "-A", "trust", "--no-sync", "-U", RUN_AS])
        hba = data_dir / "pg_hba.conf"
        # netra_app must present its password (so a wrong one can be tested); everything else stays trusted.
        rules = f"host all {DB_USER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
        hba.write_text(rules)
    log = base / "postgres.log"
    log.touch(exist_ok=True)
    _chown(log)
    for attempt in range(1, PORT_TRIES + 1):
        server = PostgresServer("127.0.0.1", port or free_port(), data_dir, socket_dir, password=password)
        options = f"-p {server.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        logged = log.stat().st_size
        try:
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", options, "-w", "-t", "20", "start"]
            )
            break
        except RuntimeError:
            said = log.read_bytes()[logged:]
            taken = b"could not bind" in said or b"Address already in use" in said
            if port is not None or not taken or attempt == PORT_TRIES:
                raise
    try:
        _provision(server)
    except Exception:
        server.stop()
        raise
    return server


def _provision(server: PostgresServer) -> None:
    """Role and database, created once (a restarted server keeps them)."""
    _psql(
        server,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DB_USER}') THEN "
        f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{_quote(server.password)}'; END IF; END $$;",
    )
    exists = _as_postgres(
        [
            str(PG_BIN / "psql"),
            "-h",
            str(server.socket_dir),
            "-p",
            str(server.port),
            "-U",
            RUN_AS,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'",
        ]
    )
    if exists.stdout.strip() != "1":
        _psql(server, f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")


def _quote(value: str) -> str:
    return value.replace("'", "''")


def stop_postgres(base_dir: Path) -> bool:
    """Stop the server whose files are under `base_dir`; False when none is running there."""
    data_dir = Path(base_dir) / "data"
    if not (data_dir / "postmaster.pid").exists():
        return False
    try:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "status"])
    except RuntimeError:  # a stale pid file from a crashed server: nothing to stop
        return False
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "20", "stop"])
    return True


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the session; skipped (not failed) where the server binaries are not installed."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("RUNBOOK_REQUIRE_POSTGRES"):  # `make test` and CI: a missing server is a failure
            pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN}; `make postgresql` installs them")
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql-15)")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.pg", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="initialise (once) and start a server")
    start.add_argument("--port", type=int, default=55432)
    start.add_argument("--dir", type=Path, default=Path(".run/pg"))
    start.add_argument(
        "--password-env",
        default="RUNBOOK_DB_PASSWORD",
        help="env var whose value becomes netra_app's password (a built-in test value when unset)",
    )
    stop = commands.add_parser("stop", help="stop the server started with the same --dir")
    stop.add_argument("--dir", type=Path, default=Path(".run/pg"))
    args = parser.parse_args(argv)
    if args.command == "start":
        password = os.environ.get(args.password_env) or DB_PASSWORD
        server = start_postgres(args.port, args.dir.resolve(), password)
        print(f"postgresql listening on {server.host}:{server.port} (database {server.dbname}, user {server.user})")
        print(f"data in {server.data_dir}; stop with: python -m tests.pg stop --dir {args.dir}")
        return 0
    if stop_postgres(args.dir.resolve()):
        print(f"postgresql under {args.dir} stopped")
    else:
        print(f"no postgresql running under {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
