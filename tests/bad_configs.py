"""A generator of bad environment files: every class of mistake an operator (or an editor, or a copy-paste) makes.

Each case is one mistake applied to `environments/local.toml` (a valid file), with the key the error must name and
how many problems it is (one mistake, one message). `tests/test_config_generated.py` runs every case through
`runbook config validate` and `runbook run`. The classes follow issue 11: syntax, unknown keys at every level, wrong
types for every key, missing keys, ranges, enums, URLs, host:port targets, hosts, Cloud SQL connection names,
e-mail, paths, channels, finite numbers, lengths, duplicates, cross-references, secrets in the wrong field, odd files,
control characters and bidi marks in free text (issue 18).
"""

import copy
import datetime
import gzip
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

LOCAL = Path(__file__).resolve().parent.parent / "environments" / "local.toml"
UNKNOWN = "unknwon_key"


@dataclass(frozen=True)
class BadConfig:
    """One bad file: what it is, the key its error must name, and how many problems it is."""

    id: str
    kind: str
    key: str  # the problem's key exactly, or its beginning when it ends with "."
    content: bytes = b""
    special: str | None = None  # "directory", "symlink-loop", "fifo", "missing": not a plain file
    problems: int | None = 1  # None: several (an empty file misses every required key)
    secrets: tuple[str, ...] = field(default=())  # values that must never appear in any output

    def write(self, directory: Path) -> Path:
        """Create the file (or the odd thing in its place) under `directory`; return the path for `--env`."""
        path = directory / "local.toml"  # the name inside is local.toml's: only the case's problem is reported
        if self.special == "directory":
            path.mkdir()
        elif self.special == "symlink-loop":
            path.symlink_to(path)
        elif self.special == "fifo":
            os.mkfifo(path)
        elif self.special != "missing":
            path.write_bytes(self.content)
        return path


def base() -> dict[str, Any]:
    """environments/local.toml as data: every case starts from this valid environment."""
    return tomllib.loads(LOCAL.read_text())


def dumps(data: dict[str, Any]) -> bytes:
    return tomli_w.dumps(data).encode()


Path_ = tuple[str | int, ...]


def key_of(path: Path_) -> str:
    return ".".join(str(part) for part in path)


def get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def put(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def drop(data: dict[str, Any], path: Path_) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return changed


def tables(data: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every table (including array-of-tables items and inline tables), depth first."""
    if isinstance(data, dict):
        yield path
        for key, value in data.items():
            yield from tables(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            if isinstance(item, dict):
                yield from tables(item, (*path, index))


def leaves(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every scalar and every array of scalars, with its path."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        for index, item in enumerate(data):
            yield from leaves(item, (*path, index))
    else:
        yield path, data


def case(kind: str, name: str, key: str, data: dict[str, Any], problems: int | None = 1, **extra: Any) -> BadConfig:
    return BadConfig(id=f"{kind}:{name}", kind=kind, key=key, content=dumps(data), problems=problems, **extra)


def mutate(kind: str, path: Path_, value: Any, key: str | None = None, label: str = "", **extra: Any) -> BadConfig:
    name = f"{key_of(path)}={label or repr(value)[:40]}"
    return case(kind, name, key or key_of(path), put(base(), path, value), **extra)


# --- syntax ------------------------------------------------------------------------------------------------------


def syntax_cases() -> Iterator[BadConfig]:
    valid = LOCAL.read_text()
    broken = {
        "no-value": valid.replace('name = "local"', "name = "),
        "unterminated-string": valid.replace('name = "local"', 'name = "local'),
        "unclosed-table-header": valid.replace("[gcp]\n", "[gcp\n"),
        "duplicate-key": valid.replace('name = "local"', 'name = "local"\nname = "other"'),
        "duplicate-table": valid + '\n[gcp]\nproject = "x"\n',
        "bare-word-value": valid.replace('name = "local"', "name = local"),
        "bad-escape": valid.replace('name = "local"', 'name = "lo\\qcal"'),
        "key-without-equals": valid.replace('name = "local"', 'name "local"'),
        "unclosed-array": valid.replace("expected = [\n", 'expected = [\n"x",\n[gcp.x]\n', 1),
        "table-then-array-of-tables": valid + '\n[services]\nname = "x"\n',
        "inline-table-newline": valid.replace(
            'product = { id = "S0SIMPRODT1", handle = "@product-team" }',
            'product = { id = "S0SIMPRODT1",\n handle = "@product-team" }',
        ),
        "inline-table-trailing-comma": valid.replace(
            'product = { id = "S0SIMPRODT1", handle = "@product-team" }',
            'product = { id = "S0SIMPRODT1", handle = "@product-team", }',
        ),
        "redefined-inline-table": valid + '\n[slack.product]\nchannel = "#x"\n',
        "equals-twice": valid.replace('name = "local"', 'name = = "local"'),
        "stray-bracket": valid.replace("[vpc_connector]", "[vpc_connector]]"),
        "integer-of-5000-digits": valid.replace("port = 55432", "port = " + "9" * 5000),
        "leading-zero": valid.replace("port = 55432", "port = 055432"),
        "python-bool": valid.replace("require_ssl = true", "require_ssl = True"),
        "json-null": valid.replace("require_ssl = true", "require_ssl = null"),
        "yaml-style": valid.replace('name = "local"', 'name: "local"'),
    }
    for name, text in broken.items():
        assert text != valid, name
        yield BadConfig(id=f"syntax:{name}", kind="syntax", key="(syntax)", content=text.encode())


# --- unknown keys at every level, wrong types for every key, missing keys ---------------------------------------------


def unknown_key_cases() -> Iterator[BadConfig]:
    data = base()
    for path in tables(data):
        yield mutate("unknown-key", (*path, UNKNOWN), 1, key=key_of((*path, UNKNOWN)))
    yield case("unknown-key", "timeouts", f"timeouts.{UNKNOWN}", {**data, "timeouts": {UNKNOWN: 5}})
    yield case(
        "unknown-key", "checks.secrets", f"checks.secrets.{UNKNOWN}", {**data, "checks": {"secrets": {UNKNOWN: 1}}}
    )
    yield case("unknown-key", "misspelled-name", "vpc_connector.nmae", put(data, ("vpc_connector", "nmae"), "x"))
    yield case("unknown-key", "singular-service", "service", {**data, "service": data["services"][0]})
    long_key = "k" * 100_000
    yield case("unknown-key", "100k-character-key", "gcp.", put(data, ("gcp", long_key), 1))
    yield case("unknown-key", "unknown-check-id", "checks.no-such-check", {**data, "checks": {"no-such-check": {}}})
    yield case("unknown-key", "dotted-check-id", 'checks."golden.path"', {**data, "checks": {"golden.path": {}}})


def wrong_values(value: Any) -> list[tuple[Any, str]]:
    """Values of the wrong TOML type for a key whose valid value is `value` (no coercion may rescue them)."""
    if isinstance(value, bool):
        return [("yes", "yes"), (0, "0"), (str(value).lower(), "quoted-bool"), ([value], "array")]
    if isinstance(value, int):
        return [(str(value), "quoted"), (float(value), "float"), (True, "true"), ([value], "array"), ({}, "table")]
    if isinstance(value, float):
        return [(str(value), "quoted"), (True, "true"), ([value], "array")]
    if isinstance(value, str):
        return [(1, "integer"), (True, "true"), ([value], "array"), (1.5, "float"), ({"v": value}, "table")]
    if isinstance(value, list):
        return [("a string", "string"), (5, "integer"), ([1], "integer-item"), ([[value[0]]], "nested-array")]
    return []


# Arrays whose own validator reports a bad item at the array's key rather than the item's index.
ARRAY_LEVEL_ERRORS: tuple[Path_, ...] = (("slack", "chatops", "approvers"),)


# Float keys whose value in local.toml is written as an integer (2000): a float there is right, not wrong.
FLOAT_KEYS: tuple[Path_, ...] = (("performance", "health_p95_ms"), ("performance", "golden_path_p95_ms"))


def type_cases() -> Iterator[BadConfig]:
    for path, value in leaves(base()):
        for wrong, label in wrong_values(value):
            if path in FLOAT_KEYS and label == "float":
                continue
            items = isinstance(value, list) and isinstance(wrong, list) and path not in ARRAY_LEVEL_ERRORS
            key = key_of((*path, 0)) if items else key_of(path)
            yield mutate("type", path, wrong, key=key, label=label)
    data = base()
    for name in ("database_connect_s", "api_call_s", "check_deadline_s", "golden_path_s"):
        yield case("type", f"timeouts.{name}=quoted", f"timeouts.{name}", {**data, "timeouts": {name: "600"}})
        yield case("type", f"timeouts.{name}=true", f"timeouts.{name}", {**data, "timeouts": {name: True}})
    for name, wrong in (("enabled", "yes"), ("enabled", 0), ("deadline_s", "600"), ("timeout_s", False)):
        checks = {"checks": {"secrets": {name: wrong}}}
        yield case("type", f"checks.secrets.{name}={wrong!r}", f"checks.secrets.{name}", {**data, **checks})
    yield case("type", "checks=array", "checks", {**data, "checks": ["secrets"]})
    yield case("type", "timeouts=string", "timeouts", {**data, "timeouts": "fast"})
    yield case("type", "name=datetime", "name", {**data, "name": datetime.date(2024, 1, 1)})


REQUIRED: tuple[Path_, ...] = (
    ("name",),
    ("gcp",),
    ("gcp", "project"),
    ("gcp", "region"),
    ("vpc_connector",),
    ("vpc_connector", "name"),
    ("vpc_connector", "network"),
    ("cloud_sql",),
    ("cloud_sql", "instance"),
    ("cloud_sql", "network"),
    ("database",),
    ("database", "name"),
    ("database", "user"),
    ("secrets",),
    ("secrets", "expected"),
    ("services",),
    ("services", 0, "name"),
    ("services", 0, "role"),
    ("services", 0, "url"),
    ("services", 2, "url"),
    ("load_balancer", "backend_services", 0, "name"),
    ("load_balancer", "backend_services", 1, "min_timeout_s"),
    ("load_balancer", "health_checks", 0, "name"),
    ("golden_path",),
    ("golden_path", "email"),
    ("slack", "infrastructure", "id"),
    ("slack", "product", "handle"),
    ("slack", "chatops", "approvers"),
)


def missing_cases() -> Iterator[BadConfig]:
    data = base()
    for path in REQUIRED:
        yield case("missing", key_of(path), key_of(path), drop(data, path))
    # Optional keys others depend on: the rule names the key that needs them.
    bypass = drop(data, ("golden_path", "bypass_key_secret"))
    yield case("missing", "golden_path.bypass_key_secret", "golden_path.bypass_key_secret", bypass)
    login = put(data, ("golden_path", "auth"), "login")
    yield case("missing", "golden_path.password_env-for-login", "golden_path.password_env", login)
    no_backends = drop(data, ("load_balancer", "backend_services"))
    yield case("missing", "load_balancer.backend_services", "services.0.load_balancer_backend", no_backends, 3)
    yield case("missing", "services-empty", "services", put(data, ("services",), []))
    yield case("missing", "secrets-empty", "secrets.expected", put(data, ("secrets", "expected"), []))


# --- values validated as what they are -----------------------------------------------------------------------------

RANGES: dict[Path_, tuple[Any, ...]] = {
    ("database", "port"): (0, -1, 65536, 2**63 - 1),
    ("vpc_connector", "min_instances"): (1, 0, 10),
    ("vpc_connector", "max_instances"): (2, 1001),
    ("secrets", "concurrency"): (0, 65),
    ("secrets", "page_size"): (0, 25001),
    ("load_balancer", "backend_services", 0, "min_timeout_s"): (0, 86401),
    ("load_balancer", "health_checks", 0, "max_timeout_s"): (0, 301),
    ("load_balancer", "health_checks", 0, "max_interval_s"): (0, 301),
    ("load_balancer", "health_checks", 0, "min_unhealthy_threshold"): (0, 11),
    ("monitoring", "window_s"): (59, 86401),
    ("monitoring", "ingestion_delay_s"): (-1, 601),
    ("monitoring", "max_5xx_ratio"): (0.0, 1.0, 1.5, -0.1),
    ("performance", "health_probes"): (0, 1001),
    ("performance", "golden_path_probes"): (-1, 51),
    ("performance", "health_p95_ms"): (0, -1, 1e12),
    ("performance", "golden_path_p95_ms"): (0.0, 4_000_000),
}
TIMEOUT_KEYS = ("database_connect_s", "readiness_s", "e2e_s", "golden_path_s", "health_s")
FLOATS: tuple[Path_, ...] = (
    ("monitoring", "max_5xx_ratio"),
    ("performance", "health_p95_ms"),
    ("performance", "golden_path_p95_ms"),
)


def range_cases() -> Iterator[BadConfig]:
    data = base()
    for path, values in RANGES.items():
        for value in values:
            yield mutate("range", path, value)
    yield case(
        "range",
        "monitoring.min_requests=2**40",
        "monitoring.min_requests",
        put(data, ("monitoring", "min_requests"), 2**40),
    )
    for name in TIMEOUT_KEYS:
        for value in (0, -1, 3601):
            yield case("range", f"timeouts.{name}={value}", f"timeouts.{name}", {**data, "timeouts": {name: value}})
    for value in (0, 3601.5):
        checks = {"checks": {"secrets": {"deadline_s": value}}}
        yield case("range", f"checks.secrets.deadline_s={value}", "checks.secrets.deadline_s", {**data, **checks})


def finite_cases() -> Iterator[BadConfig]:
    data = base()
    for path in FLOATS:
        for value in (float("nan"), float("inf"), float("-inf")):
            yield mutate("finite", path, value)
    for name in ("api_call_s", "readiness_s", "check_deadline_s"):
        for value in (float("nan"), float("inf")):
            yield case("finite", f"timeouts.{name}={value}", f"timeouts.{name}", {**data, "timeouts": {name: value}})
    checks = {"checks": {"golden-path": {"timeout_s": float("nan")}}}
    yield case("finite", "checks.golden-path.timeout_s=nan", "checks.golden-path.timeout_s", {**data, **checks})


ENUMS: dict[Path_, tuple[str, ...]] = {
    ("profile",): ("prod", "Staging", "", "development"),
    ("database", "mode"): ("proxy", "DIRECT"),
    ("database", "sslmode"): ("on", "true", "required"),
    ("services", 0, "role"): ("api", "Backend"),
    ("services", 0, "vpc_egress"): ("all-traffic", "PRIVATE_RANGES"),
    ("services", 2, "traffic"): ("all", "100"),
    ("golden_path", "mode"): ("loose", "STRICT"),
    ("golden_path", "auth"): ("oauth", "e2e_bypass"),
}


def enum_cases() -> Iterator[BadConfig]:
    for path, values in ENUMS.items():
        for value in values:
            yield mutate("enum", path, value)


BAD_URLS = (
    "ftp://files.example",
    "localhost:8765",
    "127.0.0.1:8765",
    "http://",
    "http://:8765",
    "http://127.0.0.1:0",
    "http://127.0.0.1:65536",
    "http://127.0.0.1:99999",
    "http://127.0.0.1:port",
    "http://exa mple.com",
    "https://netra.example/path#fragment",
    "https://netra.example/?query=1",
    "//netra.example",
    "http:/netra.example",
    "http://-bad-.example",
    "http://300.1.1.1",
    "http://[::1",
    "",
    "netra-backend-staging",
)
URL_KEYS: tuple[Path_, ...] = (
    ("services", 0, "url"),
    ("gcp", "endpoints", "default"),
    ("slack", "api_base_url"),
)


def url_cases() -> Iterator[BadConfig]:
    for path in URL_KEYS:
        for url in BAD_URLS:
            yield mutate("url", path, url)
    for api in ("vpcaccess", "sqladmin", "run", "secretmanager", "compute"):
        yield mutate("url", ("gcp", "endpoints", api), "localhost:1")
        yield mutate("url", ("gcp", "endpoints", api), "http://127.0.0.1:70000")
    for index in (1, 2):
        yield mutate("url", ("services", index, "url"), "http://127.0.0.1:0/services/x")


def target_cases() -> Iterator[BadConfig]:
    path = ("gcp", "endpoints", "monitoring")
    for target in (
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        ":8766",
        "http://127.0.0.1:8766",
        "host:port",
        "a b:1",
        "[::1:8766",
        "127.0.0.1:8766/path",
        "",
    ):
        yield mutate("target", path, target)


def host_cases() -> Iterator[BadConfig]:
    path = ("database", "host")
    for host in (
        "db.internal:5432",
        "http://db.internal",
        "db internal",
        "-db.internal",
        "",
        "300.1.1.1",
        "db_internal",
        "a" * 300,
        "db..internal",
        "/cloudsql/netra-staging:us-central1:db",
    ):
        yield mutate("host", path, host)


def connection_name_cases() -> Iterator[BadConfig]:
    path = ("services", 0, "cloudsql_instances")
    for name in (
        "netra-staging:us-central1",
        "netra-staging/us-central1/netra-staging-db",
        "Netra:us-central1:db",
        "netra-staging:us-central1:db:extra",
        "netra-staging::netra-staging-db",
        "",
        "netra-staging-db",
    ):
        yield mutate("connection-name", path, [name], key=key_of((*path, 0)))


def email_cases() -> Iterator[BadConfig]:
    for email in (
        "nobody",
        "a@",
        "@netrasystems.ai",
        "e2e tester@netrasystems.ai",
        "tester@localhost",
        "a" * 250 + "@x.io",
        "tester@@netrasystems.ai",
        "",
    ):
        yield mutate("email", ("golden_path", "email"), email)


def path_cases() -> Iterator[BadConfig]:
    for value in ("health", "", "/he alth", "/health#top", "https://x.example/health"):
        yield mutate("path", ("services", 0, "health_paths"), ["/health", value], key="services.0.health_paths.1")
        yield mutate("path", ("golden_path", "websocket_path"), value or "ws")


def channel_cases() -> Iterator[BadConfig]:
    for value in ("", "#Staging Deploys", "# ", "staging deploys", "#" + "x" * 90):
        yield mutate("channel", ("slack", "channel"), value)
        yield mutate("channel", ("slack", "stakeholder_channel"), value)
        yield mutate("channel", ("slack", "infrastructure", "channel"), value)


LENGTHS: dict[Path_, str] = {
    ("name",): "e" * 64,
    ("services", 0, "name"): "s" * 50,
    ("vpc_connector", "name"): "c" * 26,
    ("vpc_connector", "network"): "n" * 64,
    ("cloud_sql", "instance"): "i" * 99,
    ("gcp", "project"): "p" * 31,
    ("gcp", "region"): "us-" + "c" * 40 + "1",
    ("database", "name"): "d" * 64,
    ("database", "user"): "u" * 64,
    ("golden_path", "message"): "m" * 4001,
    ("load_balancer", "backend_services", 2, "name"): "b" * 64,
}


def length_cases() -> Iterator[BadConfig]:
    for path, value in LENGTHS.items():
        yield mutate("length", path, value, label=f"{len(value)}-characters")
    yield mutate("length", ("secrets", "expected"), ["s" * 256], key="secrets.expected.0", label="256-character-id")
    yield mutate("length", ("golden_path", "message"), "", label="empty")
    yield mutate("length", ("database", "user"), "", label="empty")
    many = [f"secret-{i}" for i in range(5001)]
    yield mutate("length", ("secrets", "expected"), many, label="5001-ids")
    yield mutate("length", ("services", 0, "health_paths"), ["/h"] * 101, label="101-paths")


# --- duplicates and cross-references --------------------------------------------------------------------------------


def duplicate_cases() -> Iterator[BadConfig]:
    data = base()
    ids = data["secrets"]["expected"]
    yield case("duplicate", "secret-id", "secrets.expected.22", put(data, ("secrets", "expected"), [*ids, ids[0]]))
    yield case(
        "duplicate", "3-secret-ids", "secrets.expected.22", put(data, ("secrets", "expected"), [*ids, *ids[:3]]), 3
    )
    many = [f"s-{i % 50}" for i in range(2000)]
    yield case("duplicate", "1950-repeats", "secrets.expected", put(data, ("secrets", "expected"), many), 11)
    services = data["services"]
    frontend_twice = [*services, services[2]]
    yield case("duplicate", "service-name", "services.3.name", put(data, ("services",), frontend_twice))
    backend_twice = [*services, services[0]]
    yield case("duplicate", "backend-service-twice", "services.3.name", put(data, ("services",), backend_twice), 2)
    second_backend = {**services[0], "name": "netra-backend-canary"}
    yield case("duplicate", "role-backend", "services.3.role", put(data, ("services",), [*services, second_backend]))
    second_auth = {**services[1], "name": "auth-staging"}
    yield case("duplicate", "role-auth", "services.3.role", put(data, ("services",), [*services, second_auth]))
    frontends = [*services, {**services[2], "name": "netra-frontend-canary"}]
    assert frontends  # two frontends are fine (the benchmark has a hundred): not a case
    backends = data["load_balancer"]["backend_services"]
    yield case(
        "duplicate",
        "backend-service",
        "load_balancer.backend_services.3.name",
        put(data, ("load_balancer", "backend_services"), [*backends, backends[0]]),
    )
    checks = data["load_balancer"]["health_checks"]
    yield case(
        "duplicate",
        "health-check",
        "load_balancer.health_checks.1.name",
        put(data, ("load_balancer", "health_checks"), [*checks, {**checks[0], "max_timeout_s": 30}]),
    )
    paths = data["services"][0]["health_paths"]
    repeated = put(data, ("services", 0, "health_paths"), [*paths, paths[1]])
    yield case("duplicate", "health-path", "services.0.health_paths.3", repeated)


def cross_reference_cases() -> Iterator[BadConfig]:
    data = base()
    connector = put(put(data, ("vpc_connector", "min_instances"), 9), ("vpc_connector", "max_instances"), 5)
    yield case("cross-reference", "connector-min-above-max", "vpc_connector.min_instances", connector)
    yield case(
        "cross-reference", "api-call-above-deadline", "timeouts.api_call_s", {**data, "timeouts": {"api_call_s": 61}}
    )
    both = {"api_call_s": 30, "check_deadline_s": 20}
    yield case("cross-reference", "api-call-above-own-deadline", "timeouts.api_call_s", {**data, "timeouts": both})
    check = {"checks": {"secrets": {"timeout_s": 10, "deadline_s": 5}}}
    yield case("cross-reference", "check-timeout-above-deadline", "checks.secrets.timeout_s", {**data, **check})
    check = {"checks": {"monitoring": {"timeout_s": 61}}}
    yield case(
        "cross-reference", "check-timeout-above-profile-deadline", "checks.monitoring.timeout_s", {**data, **check}
    )
    unknown_backend = put(data, ("services", 1, "load_balancer_backend"), "netra-auth-bs")
    yield case("cross-reference", "unknown-backend-service", "services.1.load_balancer_backend", unknown_backend)
    without = put(data, ("load_balancer", "backend_services"), data["load_balancer"]["backend_services"][:2])
    yield case("cross-reference", "unlisted-backend-service", "services.2.load_balancer_backend", without)
    no_auth = put(data, ("services",), [data["services"][0], data["services"][2]])
    yield case("cross-reference", "golden-path-without-auth", "services", no_auth)
    no_backend = put(data, ("services",), data["services"][1:])
    yield case("cross-reference", "golden-path-without-backend", "services", no_backend)
    frontend_only = put(data, ("services",), data["services"][2:])
    yield case("cross-reference", "golden-path-frontend-only", "services", frontend_only)
    hc = {**data["load_balancer"]["health_checks"][0], "min_timeout_s": 30, "max_timeout_s": 10}
    hc_data = put(data, ("load_balancer", "health_checks"), [hc])
    yield case("cross-reference", "health-check-timeout-range", "load_balancer.health_checks.0.min_timeout_s", hc_data)
    hc = {**data["load_balancer"]["health_checks"][0], "min_unhealthy_threshold": 8, "max_unhealthy_threshold": 3}
    hc_data = put(data, ("load_balancer", "health_checks"), [hc])
    yield case(
        "cross-reference",
        "health-check-threshold-range",
        "load_balancer.health_checks.0.min_unhealthy_threshold",
        hc_data,
    )
    neither = drop(put(data, ("golden_path", "auth"), "e2e-bypass"), ("golden_path", "bypass_key_secret"))
    yield case("cross-reference", "bypass-without-key", "golden_path.bypass_key_secret", neither)
    both_sources = put(data, ("database", "password_block"), "netra-db-password")
    yield case("cross-reference", "password-env-and-block", "database.password_block", both_sources)
    short = {"checks": {"secrets": {"deadline_s": 3}}}  # the dev profile's calls take up to 5 s each
    yield case("cross-reference", "check-deadline-below-call-timeout", "checks.secrets.deadline_s", {**data, **short})
    phases = {
        "infrastructure": CHECKS[:7],
        "restoration": ("cloud-run-ready", "health-endpoints", "websocket-handshake", "post-restore-monitoring"),
        "business": ("golden-path", "performance"),
    }
    for phase, ids in phases.items():
        off = {"checks": {check_id: {"enabled": False} for check_id in ids}}
        yield case("cross-reference", f"every-{phase}-check-disabled", "checks", {**data, **off})
    every = {"checks": {check_id: {"enabled": False} for check_id in CHECKS}}
    yield case("cross-reference", "every-check-disabled", "checks", {**data, **every}, 3)


CHECKS = (
    "vpc-connector",
    "cloud-sql-instance",
    "database-connectivity",
    "secrets",
    "load-balancer",
    "service-drift",
    "monitoring",
    "cloud-run-ready",
    "health-endpoints",
    "websocket-handshake",
    "redeploy",
    "post-restore-monitoring",
    "golden-path",
    "performance",
    "stakeholder-summary",
)


# --- control characters and bidi marks in free text ------------------------------------------------------------------

HIDDEN: tuple[tuple[Path_, str], ...] = (
    (("services", 0, "health_paths", 0), "/health\u0000"),
    (("services", 1, "health_paths", 1), "/health/\u202eydaer"),
    (("golden_path", "message"), "What is the status?\nnew line"),
    (("golden_path", "websocket_path"), "/ws\t"),
    (("slack", "next_update"), "tomorrow\r\n*Staging is healthy*"),
    (("slack", "infrastructure", "handle"), "@infra\u202eenoyreve"),
    (("slack", "channel"), "#staging\u0085"),
    (("name",), "local\u2066"),
    (("services", 2, "name"), "netra-frontend\x1b[31m"),
    (("database", "user"), "netra_app\u0000"),
    (("gcp", "endpoints", "default"), "http://127.0.0.1:8765/\u202e"),
    (("slack", "chatops", "deployment"), "staging-handoff/manual\x7f"),
)


def hidden_cases() -> Iterator[BadConfig]:
    for path, value in HIDDEN:
        list_item = isinstance(path[-1], int)
        data = base()
        if list_item:
            items = list(get(data, path[:-1]))
            items[path[-1]] = value
            data = put(data, path[:-1], items)
        else:
            data = put(data, path, value)
        yield case("hidden", f"{key_of(path)}={value.encode('unicode_escape').decode()}", key_of(path), data)
    # a secret-looking value with a NUL byte: the character is named, the value never shown
    secret = "xoxb-1234567890-0987654321-AbCdEf\u0000"
    yield mutate("hidden", ("slack", "token_env"), secret, label="token-with-nul", secrets=(secret[:-1],))


# --- secrets in the wrong field --------------------------------------------------------------------------------------

SECRETS_IN_FIELDS: tuple[tuple[Path_, str], ...] = (
    (("database", "password_env"), "netra-app-test-password"),
    (("database", "password_env"), "hunter2!"),
    (("database", "password_block"), "Hunter2Password!"),
    (("golden_path", "password_env"), "S3cr3t-Passw0rd-2024"),
    (("golden_path", "bypass_key_block"), "e2e key with spaces 42"),
    (("golden_path", "bypass_key_secret"), "sk-ant-api03-abc/def+ghi=="),
    (("slack", "token_env"), "xoxb-1234567890-0987654321-AbCdEfGhIjKl"),
    (("slack", "token_block"), "xoxb-1234567890-0987654321-AbCdEfGhIjKl"),
    (("slack", "webhook_url_env"), "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX"),
    (("slack", "chatops", "app_token_env"), "xapp-1-A0123-4567-abcdef0123456789"),
    (("slack", "chatops", "app_token_block"), "xapp-1-A0123-4567-abcdef0123456789"),
    (("gcp", "endpoints", "default"), "http://admin:hunter2pass@127.0.0.1:8765"),
    (("gcp", "endpoints", "compute"), "http://admin:hunter2pass@127.0.0.1:8765"),
    (("services", 0, "url"), "https://deploy:pa55w0rd-x@netra-backend.example"),
    (("slack", "api_base_url"), "https://bot:xoxb-secret-token-1@slack.com/api/"),
    (("database", "host"), "netra_app:hunter2pass@10.0.0.5"),
    (("database", "user"), "netra_app:hunter2pass"),
)


def secret_cases() -> Iterator[BadConfig]:
    data = base()
    for index, (path, secret) in enumerate(SECRETS_IN_FIELDS):
        yield mutate("secret", path, secret, label=f"secret-{index}", secrets=(secret, secret[3:15]))
    for path in (("database", "password"), ("slack", "token"), ("golden_path", "bypass_key")):
        secret = "Pl41n-T3xt-S3cret-Value"
        yield mutate("secret", path, secret, label="unknown-key", secrets=(secret,))
    for wrong_type in (123456789, True):
        yield mutate("secret", ("database", "password_env"), wrong_type, label=f"{type(wrong_type).__name__}")
    hidden_key = 'slack."<a key that looks like a secret>"'
    yield case(
        "secret",
        "secret-as-key",
        hidden_key,
        put(data, ("slack", "xoxb-1234567890-0987654321-AbCdEfGh"), 1),
        secrets=("xoxb-1234567890-0987654321-AbCdEfGh",),
    )


# --- odd files --------------------------------------------------------------------------------------------------------


def nested(depth: int, open_: str, close: str, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def odd_file_cases() -> Iterator[BadConfig]:
    valid = LOCAL.read_text()
    file_ = "(file)"
    yield BadConfig("file:empty", "file", "name", b"", problems=None)
    yield BadConfig("file:only-comments", "file", "name", b"# nothing here\n", problems=None)
    yield BadConfig("file:binary-with-nul", "file", file_, bytes(range(256)) * 4)
    yield BadConfig("file:binary-without-nul", "file", file_, bytes(range(128, 256)) * 8)
    yield BadConfig("file:latin-1", "file", file_, ("# café\n" + valid).encode("latin-1"))
    yield BadConfig("file:utf-16-le", "file", file_, valid.encode("utf-16"))
    yield BadConfig("file:utf-16-be", "file", file_, b"\xfe\xff" + valid.encode("utf-16-be"))
    yield BadConfig("file:utf-16-no-bom", "file", file_, valid.encode("utf-16-le"))
    yield BadConfig("file:utf-32", "file", file_, valid.encode("utf-32"))
    yield BadConfig("file:nul-in-the-middle", "file", file_, valid.replace("[gcp]", "[gcp]\x00").encode())
    yield BadConfig("file:gzip", "file", file_, gzip.compress(valid.encode()))
    yield BadConfig("file:directory", "file", file_, special="directory")
    yield BadConfig("file:symlink-loop", "file", file_, special="symlink-loop")
    yield BadConfig("file:fifo", "file", file_, special="fifo")
    yield BadConfig("file:missing", "file", file_, special="missing")
    yield BadConfig("file:2-MiB-of-comments", "file", file_, (valid + ("# " + "x" * 98 + "\n") * 21000).encode())
    ids = ", ".join(f'"secret-{i:07d}"' for i in range(700_000))
    huge = valid.replace("expected = [\n", f"expected = [{ids},\n", 1)
    yield BadConfig("file:700000-secret-ids-10-MB", "file", file_, huge.encode())
    yield BadConfig(
        "file:nested-arrays-5000", "file", "(syntax)", (valid + f"\ndeep = {nested(5000, '[', ']')}\n").encode()
    )
    yield BadConfig(
        "file:nested-tables-5000", "file", "(syntax)", (f"deep = {nested(5000, '{ a = ', ' }')}\n" + valid).encode()
    )
    deep_value = valid.replace('name = "local"', f"name = {nested(50, '[', ']', '1')}")
    yield BadConfig("file:nested-arrays-50-in-name", "file", "name", deep_value.encode())
    deep_key = valid.replace('name = "local"', f'name = "local"\nextra = {nested(50, "{ a = ", " }")}')
    yield BadConfig("file:nested-tables-50-unknown-key", "file", "extra", deep_key.encode())
    deep_secrets = valid.replace("expected = [\n", f"expected = [{nested(200, '[', ']', '1')},\n", 1)
    yield BadConfig("file:nested-arrays-200-in-secrets", "file", "secrets.expected.0", deep_secrets.encode())
    yield BadConfig(
        "file:profile-array", "file", "profile", valid.replace('profile = "dev"', 'profile = ["dev"]').encode()
    )
    yield BadConfig(
        "file:profile-table", "file", "profile", valid.replace('profile = "dev"', "profile = { a = 1 }").encode()
    )
    yield BadConfig(
        "file:long-line", "file", "name", valid.replace('name = "local"', f'name = "{"x" * 200_000}"').encode()
    )
    crlf_broken = valid.replace("\n", "\r\n").replace('name = "local"', "name = ")
    yield BadConfig("file:crlf-syntax-error", "file", "(syntax)", crlf_broken.encode())
    yield BadConfig(
        "file:control-character", "file", "(syntax)", valid.replace('name = "local"', 'name = "lo\x07cal"').encode()
    )


GENERATORS: tuple[Callable[[], Iterator[BadConfig]], ...] = (
    syntax_cases,
    unknown_key_cases,
    type_cases,
    missing_cases,
    range_cases,
    finite_cases,
    enum_cases,
    url_cases,
    target_cases,
    host_cases,
    connection_name_cases,
    email_cases,
    path_cases,
    channel_cases,
    length_cases,
    duplicate_cases,
    cross_reference_cases,
    secret_cases,
    odd_file_cases,
    hidden_cases,
)


def all_cases() -> list[BadConfig]:
    """Every generated bad configuration, ids unique."""
    cases = [c for generate in GENERATORS for c in generate()]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    return cases
