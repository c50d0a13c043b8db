"""`make server-postgres`: a Prefect server on PostgreSQL on this machine, the production set-up in small.

Starts the project's throwaway PostgreSQL (tests/pg.py: Debian's server run as the postgres user, loopback only)
under .run/prefect-pg on port 55433 (kept between starts: the server's runs, deployments and variables survive a
restart), creates the role and database `prefect` when missing, then runs `prefect server start` against it in the
foreground with PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect@127.0.0.1:55433/prefect.
Ctrl-C (or SIGTERM) stops the Prefect server, then PostgreSQL. In other shells:
export PREFECT_API_URL=http://127.0.0.1:4200/api (printed once the server answers).

    python scripts/server_postgres.py [--port 4200] [--pg-port 55433] [--dir .run/prefect-pg]
"""

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from tests.pg import PG_BIN, start_postgres, stop_postgres
from tests.prefect_pg import ensure_database, server_env, start_server, stop_server, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "prefect"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server_postgres.py", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="where the Prefect server listens (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4200, help="the Prefect server's port (default 4200)")
    parser.add_argument("--pg-port", type=int, default=55433, help="PostgreSQL's port (default 55433)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".run" / "prefect-pg", help="PostgreSQL's files")
    args = parser.parse_args(argv)
    if not (PG_BIN / "initdb").exists():
        print(f"PostgreSQL server binaries not found in {PG_BIN}: `make postgresql` installs them", file=sys.stderr)
        return 2
    home = Path(os.environ.get("PREFECT_HOME") or ROOT / ".prefect")
    home.mkdir(parents=True, exist_ok=True)
    try:
        pg = start_postgres(args.pg_port, args.dir.resolve())
    except RuntimeError as error:  # e.g. one is already running on these files or the port is taken
        print(f"PostgreSQL did not start: {error}", file=sys.stderr)
        return 2
    try:
        url = ensure_database(pg, DATABASE)
        print(f"postgresql on {pg.host}:{pg.port} (files in {args.dir}); Prefect's database: {url}", flush=True)
        env = server_env(home, url)
        # The UI asks its API where the browser can reach it.
        env["PREFECT_UI_API_URL"] = f"http://{args.host}:{args.port}/api"
        log = home / "server-postgres.log"
        with log.open("ab") as out:
            process = start_server(env, args.host, args.port, out)

            def stop(signum: int, _frame: FrameType | None) -> None:
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, stop)
            try:
                ready = wait_healthy(f"http://{args.host}:{args.port}/api", process)
                print(f"prefect server on PostgreSQL ready after {ready:.1f} s (log: {log})", flush=True)
                print(f"UI: http://{args.host}:{args.port}", flush=True)
                print(f"in other shells: export PREFECT_API_URL=http://{args.host}:{args.port}/api", flush=True)
                print("Ctrl-C stops the server and PostgreSQL", flush=True)
                process.wait()
                print(f"prefect server exited with {process.returncode} (log: {log})", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print("stopping the prefect server and PostgreSQL ...", flush=True)
                return 0
            except RuntimeError as error:
                print(f"{error} (log: {log})", file=sys.stderr)
                return 1
            finally:
                stop_server(process)
    finally:
        stop_postgres(args.dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
