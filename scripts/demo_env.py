"""The environment file `make demo` runs against: environments/local.toml on the demo's ports.

    python scripts/demo_env.py SIM_PORT PG_PORT DIRECTORY

writes DIRECTORY/local.toml: the simulator's Google APIs on 127.0.0.1:SIM_PORT (gRPC Monitoring on SIM_PORT+1), the
services and Slack on the same port, PostgreSQL on PG_PORT, everything else as environments/local.toml says. With
DIRECTORY first in RUNBOOK_ENVIRONMENTS_DIR, `--env local` finds it (the name stays `local`, the file's name).
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import tomli_w

from tests.support import local_data_for


def write(sim_port: int, pg_port: int, directory: Path) -> Path:
    simulator = SimpleNamespace(url=f"http://127.0.0.1:{sim_port}", grpc_target=f"127.0.0.1:{sim_port + 1}")
    data = local_data_for(simulator)
    data["database"]["port"] = pg_port
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "local.toml"
    header = f"# Written by scripts/demo_env.py for make demo: environments/local.toml on ports {sim_port}/{pg_port}\n"
    path.write_text(header + tomli_w.dumps(data))
    return path


if __name__ == "__main__":
    print(write(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
