"""Test helpers: an environment pointed at a running simulator (and PostgreSQL), as config or as a TOML file."""

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w

from runbook.config.files import PROJECT_ROOT, deep_merge, load_config, parse_config, read_toml
from runbook.config.models import RunbookConfig
from simulator.scenario import Scenario, load_scenario


def local_data_for(sim: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """environments/local.toml with every address replaced by the simulator's actual ports."""
    data = read_toml(PROJECT_ROOT / "environments" / "local.toml")
    data["gcp"]["endpoints"] = {"default": sim.url, "monitoring": sim.grpc_target}
    data["services"] = [{**s, "url": f"{sim.url}/services/{s['name']}"} for s in data["services"]]
    data["slack"]["api_base_url"] = f"{sim.url}/slack/api/"
    return deep_merge(data, overrides or {})


def config_for(sim: Any, overrides: dict[str, Any] | None = None) -> RunbookConfig:
    return parse_config(local_data_for(sim, overrides), "tests/support.py")


def env_file_for(sim: Any, directory: Path, overrides: dict[str, Any] | None = None, name: str = "sim") -> Path:
    """Write the simulator's environment to `directory/NAME.toml` (flows take an environment name or path)."""
    data = local_data_for(sim, overrides)
    data["name"] = name
    path = directory / f"{name}.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def world(base: str = "healthy", faults: tuple[dict[str, Any], ...] = (), **google: Any) -> Scenario:
    """Scenario `base` with `google` deep-merged into its `[google]` table and `faults` added (one-off worlds)."""
    data = load_scenario(base).model_dump()
    data["google"] = deep_merge(data["google"], google)
    data["google"]["faults"] = [*data["google"]["faults"], *faults]
    return Scenario(**data)


def configure(sim: Any, overrides: dict[str, Any] | None = None) -> RunbookConfig:
    """environments/local.toml with the Google endpoints of `sim` (services keep local.toml's URLs)."""
    endpoints = {"gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}}}
    return load_config("local", overrides=deep_merge(endpoints, overrides or {}))


_REFUSING: list[socket.socket] = []


def refusing_port() -> int:
    """A loopback port that refuses connections for the rest of the session: bound here and never listening.

    Held, not probed: no other process can take it meanwhile. Never assume a port such as 9 is closed.
    """
    if not _REFUSING:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        _REFUSING.append(sock)
    port: int = _REFUSING[0].getsockname()[1]
    return port


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yield the base URL."""
    import uvicorn

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is TCP, and without it every
    # keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert time.monotonic() < deadline, "server did not start within 5 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
        assert not thread.is_alive(), "server did not stop within 5 s"


def verdict_then_exit(process: "subprocess.Popen[str]", wait_s: float) -> tuple[float | None, float, str, str]:
    """Read a `runbook run` process's terminal up to its verdict line, then wait (at most `wait_s`) for it to exit.

    Returns (when the verdict was printed or None, when the process exited or was killed, stdout, stderr).
    """
    assert process.stdout is not None
    verdict_at, output = None, []
    for line in process.stdout:  # the terminal's lines as they come; the verdict is the last of the report
        output.append(line)
        if line.startswith("verdict:"):
            verdict_at = time.monotonic()
            break
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
    exited_at = time.monotonic()
    out = "".join(output) + process.stdout.read()
    err = process.stderr.read() if process.stderr else ""
    return verdict_at, exited_at, out, err
