"""Numeric enums on request, as Google's REST front ends answer `$alt=json;enum-encoding=int`.

The REST transports of google-cloud-vpc-access, -run, -secret-manager and sqladmin_v1beta4 send
`$alt=json;enum-encoding=int` on every call (`rest_numeric_enums=True`), and Google then answers each enum field with
its number instead of its name. The simulator builds its answers with enum names (what the discovery documents list);
`google_json` turns them into numbers when a request asks for it.

Enum numbers come from the client libraries' own proto descriptors, never from the order of a discovery document's
`enum` list (Cloud SQL's `databaseVersion` numbers have gaps: POSTGRES_15 is 172). A field the proto does not know is
left as it is.
"""

import importlib
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from starlette.requests import Request
from starlette.responses import JSONResponse

NUMERIC = "enum-encoding=int"
ANY_TYPE = "google.protobuf.Any"
# Proto package -> the module whose import registers its descriptors in the default pool.
MODULES = {
    "google.cloud.vpcaccess.v1": "google.cloud.vpcaccess_v1",
    "google.cloud.sql.v1beta4": "google.cloud.sqladmin_v1beta4",
    "google.cloud.run.v2": "google.cloud.run_v2",
    "google.cloud.secretmanager.v1": "google.cloud.secretmanager_v1",
    "google.longrunning": "google.longrunning.operations_pb2",
}


def wants_numeric_enums(request: Request) -> bool:
    """True when the request's `$alt` asks for `enum-encoding=int` (e.g. `$alt=json;enum-encoding=int`)."""
    return any(NUMERIC in value.replace(" ", "") for value in request.query_params.getlist("$alt"))


def message_descriptor(full_name: str) -> Descriptor | None:
    """The descriptor of a proto message (`google.cloud.run.v2.Service`), importing its client library once."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindMessageTypeByName(full_name)
    except KeyError:
        package = next((p for p in MODULES if full_name.startswith(p + ".")), None)
        if package is None:
            return None
        importlib.import_module(MODULES[package])
    try:
        return pool.FindMessageTypeByName(full_name)
    except KeyError:
        return None


def numeric_enums(value: Any, message: Descriptor) -> Any:
    """`value` (proto3 JSON of `message`) with every enum name replaced by its number; unknown names stay names."""
    if not isinstance(value, dict):
        return value
    if message.full_name == ANY_TYPE:
        inner = message_descriptor(str(value.get("@type", "")).rsplit("/", 1)[-1])
        return (
            {**numeric_enums({k: v for k, v in value.items() if k != "@type"}, inner), "@type": value["@type"]}
            if (inner is not None and "@type" in value)
            else value
        )
    fields = {f.json_name: f for f in message.fields} | {f.name: f for f in message.fields}
    result: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        result[key] = item if field is None else _field_value(item, field)
    return result


def _field_value(item: Any, field: FieldDescriptor) -> Any:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        value_field = entry.fields_by_name["value"]
        return {k: _one(v, value_field) for k, v in item.items()} if isinstance(item, dict) else item
    if isinstance(item, list):
        return [_one(element, field) for element in item]
    return _one(item, field)


def _one(item: Any, field: FieldDescriptor) -> Any:
    if field.enum_type is not None and isinstance(item, str):
        enum_value = field.enum_type.values_by_name.get(item)
        return item if enum_value is None else enum_value.number
    if field.message_type is not None:
        return numeric_enums(item, field.message_type)
    return item


def google_json(request: Request, body: Any, message: str, status_code: int = 200) -> JSONResponse:
    """Answer `body` (proto3 JSON of the proto message named `message`), with numeric enums when asked."""
    if wants_numeric_enums(request):
        descriptor = message_descriptor(message)
        if descriptor is None:
            raise LookupError(f"no proto descriptor for {message}: add its client library to MODULES")
        body = numeric_enums(body, descriptor)
    return JSONResponse(body, status_code)
