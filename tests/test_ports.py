"""Port hygiene: two test runs on one machine do not collide.

Every server a test starts binds port 0, except the two that cannot: cloud-sql-python-connector always dials port
3307 of the instance's address, so the simulator's Cloud SQL proxy takes 3307 on a loopback address of its own
(and reports the instance there); PostgreSQL binds its own port, so a port taken meanwhile is chosen again.
"""

import json
import shutil
import socket
import urllib.request
from typing import Any

import pytest

from simulator.scenario import deep_merge, load_scenario
from simulator.server import Simulator
from tests import pg
from tests.support import refusing_port


def proxied(**sqladmin: Any) -> Any:
    """sql-localhost with the Cloud SQL server proxy in front of a (never dialled) upstream."""
    base = load_scenario("sql-localhost")
    merged = deep_merge(base.google.model_dump(), {"sqladmin": {"proxy_upstream": "127.0.0.1:1", **sqladmin}})
    return base.model_copy(update={"google": base.google.model_validate(merged)})


def connect_settings_addresses(sim: Simulator) -> list[str]:
    url = f"{sim.url}/sql/v1beta4/projects/netra-staging/instances/netra-staging-db/connectSettings"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return [ip["ipAddress"] for ip in json.load(answer)["ipAddresses"]]


def test_two_simulators_with_a_cloud_sql_proxy_each_serve_3307_on_an_address_of_their_own() -> None:
    with Simulator(proxied()) as first, Simulator(proxied()) as second:
        assert first.sql_proxy_address is not None and second.sql_proxy_address is not None
        (first_host, first_port), (second_host, second_port) = first.sql_proxy_address, second.sql_proxy_address
        assert first_port == second_port == 3307
        assert first_host != second_host and first_host.startswith("127.") and second_host.startswith("127.")
        assert connect_settings_addresses(first) == [first_host]  # the instance is where its proxy listens
        assert connect_settings_addresses(second) == [second_host]
        with socket.create_connection(first.sql_proxy_address, timeout=2):
            pass


def test_an_address_whose_port_is_taken_makes_the_proxy_choose_another(monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.google.sql_proxy as sql_proxy

    taken = socket.socket()
    taken.bind(("127.9.9.9", 0))
    port = taken.getsockname()[1]
    addresses = iter([0x7F090909, 0x7F0A0A0A])  # 127.9.9.9 (taken on `port`), then 127.10.10.10
    monkeypatch.setattr(sql_proxy.random, "randrange", lambda *_: next(addresses) - 0x7F000000)
    with sql_proxy.bind_loopback("auto", port) as bound:
        assert bound.getsockname() == ("127.10.10.10", port)
    taken.close()


def test_a_proxy_without_a_free_address_says_so() -> None:
    import simulator.google.sql_proxy as sql_proxy

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    with pytest.raises(RuntimeError, match=r"cannot listen for the Cloud SQL proxy \(127\.0\.0\.1:\d+: "):
        sql_proxy.bind_loopback("127.0.0.1", taken.getsockname()[1])
    taken.close()


def test_a_sql_proxy_address_is_none_without_a_proxy() -> None:
    with Simulator("sql-localhost") as sim:
        assert sim.sql_proxy_address is None
        assert connect_settings_addresses(sim) == ["127.0.0.1"]


def test_a_refusing_port_is_held_and_refuses() -> None:
    port = refusing_port()
    assert refusing_port() == port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with socket.socket() as other, pytest.raises(OSError):  # held: nobody else can take it meanwhile
        other.bind(("127.0.0.1", port))


@pytest.mark.skipif(not (pg.PG_BIN / "initdb").exists(), reason="PostgreSQL server binaries not installed")
def test_postgresql_chooses_another_port_when_its_port_is_taken_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    chosen = iter([held.getsockname()[1]])
    choose = pg.free_port
    monkeypatch.setattr(pg, "free_port", lambda: next(chosen, 0) or choose())
    server = pg.start_postgres()
    try:
        assert server.port != held.getsockname()[1]
        with socket.create_connection((server.host, server.port), timeout=2):
            pass
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)
        held.close()
