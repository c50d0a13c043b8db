"""Every JSON answer of the simulated Google REST APIs conforms to Google's discovery documents.

The client libraries drop unknown fields and map unknown enum values to 0, so a misspelled field in the simulator
would pass unnoticed by client-level tests. Here each answer is matched to its discovery method by HTTP method and
path, and validated recursively against the method's response schema: unknown fields, wrong JSON types (int64 as a
decimal string, durations as "300s", ...) and values outside an `enum` all fail.
"""

import base64
import json
import re
import time
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
import requests

from simulator.scenario import SCENARIO_DIR, list_scenarios, load_scenario
from simulator.server import Simulator

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
API_DOCUMENTS = {
    "vpcaccess": "vpcaccess.v1.json",
    "sqladmin": "sqladmin.v1beta4.json",
    "run": "run.v2.json",
    "secretmanager": "secretmanager.v1.json",
    "compute": "compute.v1.json",
}
PROJECT, LOCATION = "netra-staging", "projects/netra-staging/locations/us-central1"
TIMEOUT = 5
_INT64 = re.compile(r"^-?\d+$")
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}


class DiscoveryDocument:
    """One API's discovery document: its methods (to find the response schema of a request) and its schemas."""

    def __init__(self, filename: str) -> None:
        document = json.loads((DOCUMENTS / filename).read_text())
        self.name = filename
        self.schemas: dict[str, Any] = document["schemas"]
        self._methods: list[tuple[str, re.Pattern[str], str, int]] = []
        self._collect(document, document["servicePath"])
        self._methods.sort(key=lambda method: -method[3])  # literal paths win over templates (listUsable, ...)

    def _collect(self, node: dict[str, Any], service_path: str) -> None:
        for method in node.get("methods", {}).values():
            if "response" not in method:
                continue
            template = "/" + service_path + method.get("flatPath", method["path"])
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            pattern = re.escape(template)
            pattern = re.sub(r"\\\{\\\+[^}]+\\\}", ".+", pattern)
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/:]+", pattern)
            self._methods.append(
                (method["httpMethod"], re.compile(f"^{pattern}$"), method["response"]["$ref"], literal)
            )
        for resource in node.get("resources", {}).values():
            self._collect(resource, service_path)

    def response_schema(self, http_method: str, path: str) -> str:
        for method, pattern, schema, _ in self._methods:
            if method == http_method and pattern.match(path):
                return schema
        raise AssertionError(f"{self.name} has no method {http_method} {path}")

    def validate(
        self, value: Any, schema: dict[str, Any] | str, where: str = "$", numeric_enums: bool = False
    ) -> list[str]:
        """Every way `value` departs from `schema` (a schema dict or a schema name), as readable strings.

        `numeric_enums`: the answer to `$alt=json;enum-encoding=int`, where every enum field must be a number.
        """
        if isinstance(schema, str):
            return self.validate(value, self.schemas[schema], where, numeric_enums)
        if "$ref" in schema:
            return self.validate(value, self.schemas[schema["$ref"]], where, numeric_enums)
        if numeric_enums and "enum" in schema:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return []
            return [f"{where}: expected an enum number (enum-encoding=int), got {value!r}"]
        kind = schema.get("type")
        errors: list[str] = []
        if kind == "any":
            return errors
        if kind == "object":
            if not isinstance(value, dict):
                return [f"{where}: expected an object, got {value!r}"]
            properties, additional = schema.get("properties"), schema.get("additionalProperties")
            for key, item in value.items():
                if properties is not None and key in properties:
                    errors += self.validate(item, properties[key], f"{where}.{key}", numeric_enums)
                elif additional is not None:
                    errors += self.validate(item, additional, f"{where}[{key!r}]", numeric_enums)
                elif properties is not None:
                    errors.append(f"{where}: unknown field {key!r} (known: {', '.join(sorted(properties))})")
            return errors
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {value!r}"]
            for index, item in enumerate(value):
                errors += self.validate(item, schema["items"], f"{where}[{index}]", numeric_enums)
            return errors
        if kind == "boolean" and not isinstance(value, bool):
            return [f"{where}: expected a boolean, got {value!r}"]
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                return [f"{where}: expected an integer ({schema.get('format')}), got {value!r}"]
            low, high = _INT_RANGES.get(schema.get("format", ""), (-(2**63), 2**64))
            if not low <= value <= high:
                return [f"{where}: {value} is out of range for {schema.get('format')}"]
        if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
            return [f"{where}: expected a number, got {value!r}"]
        if kind == "string":
            if not isinstance(value, str):
                return [f"{where}: expected a string ({schema.get('format', 'text')}), got {value!r}"]
            errors += _string_format(value, schema.get("format"), where)
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
        return errors


def _string_format(value: str, fmt: str | None, where: str) -> list[str]:
    if fmt in ("int64", "uint64") and not _INT64.match(value):
        return [f"{where}: {value!r} is not a decimal {fmt}"]
    if fmt == "google-datetime" and not _DATETIME.match(value):
        return [f"{where}: {value!r} is not an RFC 3339 timestamp"]
    if fmt == "google-duration" and not _DURATION.match(value):
        return [f"{where}: {value!r} is not a duration like '300s'"]
    if fmt == "byte":
        try:
            base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except ValueError:
            return [f"{where}: {value!r} is not base64"]
    return []


@cache
def document(api: str) -> DiscoveryDocument:
    return DiscoveryDocument(API_DOCUMENTS[api])


class Crawler:
    """Reads every resource of a running simulator over plain HTTP and validates each answer."""

    def __init__(self, sim: Simulator, numeric_enums: bool = False) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.errors: list[str] = []
        self.checked = 0
        self.numeric_enums = numeric_enums

    def fetch(self, api: str, path: str, method: str = "GET", body: Any = None) -> Any:
        # What the google-cloud REST transports send (rest_numeric_enums=True); Compute's does not ask for it.
        numeric = self.numeric_enums and api != "compute"
        params = {"$alt": "json;enum-encoding=int"} if numeric else None
        response = self.session.request(method, self.sim.url + path, json=body, params=params, timeout=TIMEOUT)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text[:300]}"
        answer = response.json()
        doc = document(api)
        schema = doc.response_schema(method, path)
        self.errors += [f"{method} {path}: {error}" for error in doc.validate(answer, schema, numeric_enums=numeric)]
        self.checked += 1
        return answer

    def crawl(self) -> None:
        for connector in self.fetch("vpcaccess", f"/v1/{LOCATION}/connectors").get("connectors", []):
            self.fetch("vpcaccess", f"/v1/{connector['name']}")
        for instance in self.fetch("sqladmin", f"/sql/v1beta4/projects/{PROJECT}/instances").get("items", []):
            self.fetch("sqladmin", f"/sql/v1beta4/projects/{PROJECT}/instances/{instance['name']}")
            self.fetch("sqladmin", f"/sql/v1beta4/projects/{PROJECT}/instances/{instance['name']}/connectSettings")
            path = f"/sql/v1beta4/projects/{PROJECT}/instances/{instance['name']}:generateEphemeralCert"
            self.fetch("sqladmin", path, "POST", {"public_key": _public_key_pem()})
        for service in self.fetch("run", f"/v2/{LOCATION}/services").get("services", []):
            self.fetch("run", f"/v2/{service['name']}")
            for revision in self.fetch("run", f"/v2/{service['name']}/revisions").get("revisions", []):
                self.fetch("run", f"/v2/{revision['name']}")
        for secret in self.fetch("secretmanager", f"/v1/projects/{PROJECT}/secrets").get("secrets", []):
            self.fetch("secretmanager", f"/v1/{secret['name']}")
            versions = self.fetch("secretmanager", f"/v1/{secret['name']}/versions").get("versions", [])
            for version in versions:
                self.fetch("secretmanager", f"/v1/{version['name']}")
            if versions and versions[0]["state"] in ("ENABLED", 1):
                self.fetch("secretmanager", f"/v1/{versions[0]['name']}:access")
        compute = f"/compute/v1/projects/{PROJECT}/global"
        for check in self.fetch("compute", f"{compute}/healthChecks").get("items", []):
            self.fetch("compute", f"{compute}/healthChecks/{check['name']}")
        for backend in self.fetch("compute", f"{compute}/backendServices").get("items", []):
            self.fetch("compute", f"{compute}/backendServices/{backend['name']}")
            for group in backend.get("backends", []):
                path = f"{compute}/backendServices/{backend['name']}/getHealth"
                self.fetch("compute", path, "POST", {"group": group["group"]})


@cache
def _public_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _resource_scenarios() -> list[str]:
    """healthy plus every overlay that changes Google resources (fault-only overlays serve healthy resources)."""
    names = ["healthy"]
    for name in list_scenarios():
        google = tomllib.loads((SCENARIO_DIR / f"{name}.toml").read_text()).get("google", {})
        if set(google) - {"faults", "latency_ms", "api_latency_ms"} and name != "healthy":
            names.append(name)
    return names


def _without_faults(name: str) -> Any:
    scenario = load_scenario(name)
    google = scenario.google.model_copy(update={"faults": [], "latency_ms": 0, "api_latency_ms": {}})
    return scenario.model_copy(update={"google": google})


@pytest.fixture(scope="module")
def healthy_sim() -> Iterator[Simulator]:
    with Simulator("healthy") as sim:
        yield sim


@pytest.mark.parametrize("name", _resource_scenarios())
def test_every_resource_conforms_to_the_discovery_documents(name: str) -> None:
    with Simulator(_without_faults(name)) as sim:
        crawler = Crawler(sim)
        crawler.crawl()
    assert not crawler.errors, "\n".join(crawler.errors)
    assert crawler.checked > 50


def test_numeric_enum_answers_conform_with_every_enum_a_number(healthy_sim: Simulator) -> None:
    crawler = Crawler(healthy_sim, numeric_enums=True)
    crawler.crawl()
    assert not crawler.errors, "\n".join(crawler.errors)
    assert crawler.checked > 50


def test_run_update_operation_and_its_service_conform(healthy_sim: Simulator) -> None:
    crawler = Crawler(healthy_sim)
    name = f"{LOCATION}/services/netra-auth-service"
    service = crawler.fetch("run", f"/v2/{name}")
    service["template"]["scaling"]["maxInstanceCount"] = 12
    operation = crawler.fetch("run", f"/v2/{name}", "PATCH", service)
    deadline = time.monotonic() + TIMEOUT
    while not operation.get("done") and time.monotonic() < deadline:
        time.sleep(0.1)
        operation = crawler.fetch("run", f"/v2/{operation['name']}")
    assert operation["done"] and operation["response"]["@type"] == "type.googleapis.com/google.cloud.run.v2.Service"
    for payload in (operation["metadata"], operation["response"]):
        crawler.errors += document("run").validate(
            {k: v for k, v in payload.items() if k != "@type"}, "GoogleCloudRunV2Service"
        )
    assert operation["response"]["template"]["scaling"]["maxInstanceCount"] == 12
    assert not crawler.errors, "\n".join(crawler.errors)


def test_error_answers_use_googles_error_format(healthy_sim: Simulator) -> None:
    answer = requests.get(f"{healthy_sim.url}/v1/{LOCATION}/connectors/nope", timeout=TIMEOUT)
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {
            "code": 404,
            "message": f"Resource '{LOCATION}/connectors/nope' was not found",
            "status": "NOT_FOUND",
        }
    }


# --- the validator itself ----------------------------------------------------------------------------------------


def _connector() -> dict[str, Any]:
    return {"name": f"{LOCATION}/connectors/c", "state": "READY", "minInstances": 2, "connectedProjects": ["p"]}


def test_validator_accepts_a_correct_resource() -> None:
    assert document("vpcaccess").validate(_connector(), "Connector") == []


def test_validator_catches_a_misspelled_field() -> None:
    broken = {**_connector(), "stat": "READY"}
    (error,) = document("vpcaccess").validate(broken, "Connector")
    assert "unknown field 'stat'" in error


def test_validator_catches_an_enum_value_google_does_not_define() -> None:
    (error,) = document("vpcaccess").validate({**_connector(), "state": "RUNNING"}, "Connector")
    assert "'RUNNING' is not one of" in error


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ("Connector", {"minInstances": "2"}, "expected an integer"),
        ("Connector", {"connectedProjects": "p"}, "expected an array"),
        ("Connector", {"subnet": "x"}, "expected an object"),
        ("GoogleCloudRunV2Service", {"generation": 3}, "expected a string (int64)"),
        ("GoogleCloudRunV2Service", {"generation": "three"}, "not a decimal int64"),
        ("GoogleCloudRunV2Service", {"reconciling": "false"}, "expected a boolean"),
        ("GoogleCloudRunV2Service", {"createTime": "yesterday"}, "not an RFC 3339 timestamp"),
        ("GoogleCloudRunV2Service", {"template": {"timeout": "300"}}, "not a duration"),
        ("GoogleCloudRunV2Service", {"template": {"vpcAccess": {"egress": "ALL"}}}, "is not one of"),
        ("GoogleCloudRunV2Service", {"template": {"containers": [{"nmae": "x"}]}}, "unknown field 'nmae'"),
    ],
)
def test_validator_catches_wrong_types_formats_and_nested_errors(schema: str, value: Any, message: str) -> None:
    api = "vpcaccess" if schema == "Connector" else "run"
    errors = document(api).validate(value, schema)
    assert len(errors) == 1 and message in errors[0], errors


def test_validator_finds_the_method_of_a_request_path() -> None:
    compute = "/compute/v1/projects/p/global/backendServices"
    assert document("compute").response_schema("GET", f"{compute}/bs") == "BackendService"
    assert document("compute").response_schema("GET", f"{compute}/listUsable") == "BackendServiceListUsable"
    assert document("compute").response_schema("POST", f"{compute}/bs/getHealth") == "BackendServiceGroupHealth"
    secret = "/v1/projects/1/secrets/s/versions/latest"
    assert document("secretmanager").response_schema("GET", f"{secret}:access") == "AccessSecretVersionResponse"
    assert document("secretmanager").response_schema("GET", secret) == "SecretVersion"
