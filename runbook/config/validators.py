"""The rules an environment file's values must meet, apart from the models that declare the keys.

Patterns with a sentence for people (`files.py` shows the sentence instead of the regular expression), the value
types built from them, the host, URL, gRPC target and CIDR checks, the bounds on arrays, the Slack id rule, and the
errors of rules across keys (`rule_error`), which `runbook.config.files` turns into one line per problem. `Frozen`,
the base of every model, holds the policy they all share: strict, immutable, unknown keys are errors.
"""

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class Frozen(BaseModel):
    """Base of every config model: immutable, strict, unknown keys are errors (a typo must not pass silently).

    Strict: TOML already gives real integers, floats and booleans, so "28772" for a port or "yes" for a flag is a
    mistake to report, never a value to coerce. Arrays (TOML gives lists) and enums are the only lax fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


# Each pattern has a sentence for people: config_file shows it instead of the regular expression.
RESOURCE_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
PROJECT_PATTERN = r"^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$"
REGION_PATTERN = r"^[a-z]+-[a-z]+[0-9]+$"
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
BLOCK_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
SECRET_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
CONNECTION_NAME_PATTERN = (
    r"^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]:[a-z]+-[a-z]+[0-9]+:[a-z]([-a-z0-9]*[a-z0-9])?$"
)
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$"
)
PATH_PATTERN = r"^/[^\s#]*$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9-]*$"
DB_IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.@$+-]*$"
PROJECT_NUMBER_PATTERN = r"^[0-9]{6,20}$"
CHANNEL_PATTERN = r"^(#?[a-z0-9_][a-z0-9_.-]{0,79}|[CGDZ][A-Z0-9]{8,20})$"
HANDLE_PATTERN = r"^@?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
COMMAND_PATTERN = r"^/[a-z0-9_-]{1,31}$"
DEPLOYMENT_PATTERN = r"^[^/\s]+/[^/\s]+$"

PATTERN_DESCRIPTIONS: dict[str, str] = {
    RESOURCE_PATTERN: "a resource name: lowercase letters, digits and '-', starting with a letter (e.g. staging-vpc)",
    PROJECT_PATTERN: "a project id: 6-30 lowercase letters, digits and '-', from a letter (e.g. netra-staging)",
    REGION_PATTERN: "a region such as us-central1",
    ENV_VAR_PATTERN: (
        "the name of an environment variable (A-Z, 0-9, _), such as RUNBOOK_DB_PASSWORD; the secret itself never "
        "belongs in this file"
    ),
    BLOCK_PATTERN: (
        "the name of a Prefect Secret block (lowercase letters, digits and '-'), such as db-password; the secret "
        "itself never belongs in this file"
    ),
    SECRET_ID_PATTERN: "a Secret Manager secret id (letters, digits, '-' and '_'), not the secret's value",
    CONNECTION_NAME_PATTERN: "a Cloud SQL connection name project:region:instance (e.g. netra-staging:us-central1:db)",
    EMAIL_PATTERN: "an e-mail address such as e2e-tester@netrasystems.ai",
    PATH_PATTERN: "a path starting with '/' without spaces or '#' (e.g. /health)",
    ENVIRONMENT_PATTERN: "lowercase letters, digits and '-', starting with a letter (e.g. staging)",
    DB_IDENTIFIER_PATTERN: "a PostgreSQL name: letters, digits and _ . @ $ + -, starting with a letter or '_'",
    PROJECT_NUMBER_PATTERN: "the project number: 6 to 20 digits, as a string",
    CHANNEL_PATTERN: "a Slack channel: #name (lowercase, digits, '-', '_', '.') or a channel id such as C0123ABCD",
    HANDLE_PATTERN: (
        "a handle people read, such as @infra-oncall: '@' then up to 80 letters, digits, '.', '_' or '-' (no spaces)"
    ),
    COMMAND_PATTERN: "a slash command such as /runbook: '/' then 1-31 lowercase letters, digits, '_' or '-'",
    DEPLOYMENT_PATTERN: "a deployment as flow/deployment, such as staging-handoff/manual (no spaces)",
}

RULE_ERROR = "config_rule"

# Characters no value of an environment file may hold, whatever the key: C0 and C1 controls (NUL, tab, line breaks,
# escape...), DEL, and the invisible marks that reorder or hide text (bidi overrides and isolates, U+202E among them).
# A path, a name, a handle or a message with one of them either breaks a request later or shows something else than
# it is (a line forged in a Slack message, a name that reads backwards).
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_HIDDEN = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}]")
_CONTROL_NAMES = {"\x00": "NUL", "\t": "a tab", "\n": "a line feed", "\r": "a carriage return", "\x1b": "escape"}
HIDDEN_TEXT_EXPECTED = "text without control characters or bidirectional marks (NUL, tabs, line breaks, U+202E...)"


def hidden_character(value: str) -> str | None:
    """What is wrong with `value`: its first control character or bidi mark, named, with its position; else None."""
    found = _HIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "a control character").lower()
    return f"U+{ord(char):04X} ({name}) at character {found.start() + 1}"


def hidden_character_problems(data: object, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(key, what) for every string value of the file's data holding a control character or bidi mark."""
    if isinstance(data, str):
        found = hidden_character(data)
        return [(loc, found)] if found else []
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in hidden_character_problems(value, (*loc, str(key)))]
    if isinstance(data, list | tuple) and len(data) <= MAX_SECRETS:  # a longer array is refused for its length
        return [p for index, value in enumerate(data) for p in hidden_character_problems(value, (*loc, index))]
    return []


def rule_error(
    loc: tuple[str | int, ...], expected: str, found: str | None = None, value: object = None
) -> InitErrorDetails:
    """A problem found by a rule across fields, at `loc` below the model whose validator reports it.

    `found` is shown to the operator as it is: never put a value there that could be a secret. Without it, the
    error report describes `value` itself (and hides it when it looks like a secret).
    """
    context = {"expected": expected, "found": found or ""}
    error = PydanticCustomError(RULE_ERROR, "expected {expected}, found {found}", context)
    return InitErrorDetails(type=error, loc=loc, input=value)


def raise_rule_errors(title: str, problems: list[InitErrorDetails]) -> None:
    """Report every rule problem at once, each at its own key (pydantic prefixes the parents' keys)."""
    if problems:
        raise ValidationError.from_exception_data(title, problems)


# Sane bounds on arrays: far above any real environment (24 secrets, 3 services), far below a pasted dump.
MAX_SECRETS = 5000
MAX_SERVICES = 500
MAX_ITEMS = 100


def at_most(limit: int, at_least: int = 0) -> BeforeValidator:
    """Check an array's length before its items are validated.

    Before, because a pasted 700,000-line list must answer at once, and because pydantic's own `min_length` also
    fires when the only item is invalid ("at least 1 item" beside the item's real problem).
    """

    def check(value: object) -> object:
        if isinstance(value, list | tuple) and len(value) > limit:
            raise ValueError(f"expected at most {limit} items, found {len(value)} items")
        if isinstance(value, list | tuple) and len(value) < at_least:
            raise ValueError(f"expected at least {at_least} item(s), found {len(value)}")
        return value

    return BeforeValidator(check)


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_host(value: str) -> bool:
    """A DNS host name or an IP address literal: no user, password, port, path or spaces."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    if len(value) > 253 or labels[-1].isdigit():  # 300.1.1.1 is neither an address nor a name
        return False
    return all(_HOST_LABEL.match(label) for label in labels)


def _host(value: str) -> str:
    if "@" in value:
        raise ValueError(
            "expected a host name or IP address, never user:password@host (the password comes from password_env "
            "or password_block)"
        )
    if not is_host(value):
        raise ValueError("expected a host name or IP address such as 10.20.0.3 or db.internal")
    return value


URL_EXAMPLE = "https://netra-backend-staging-pnovr5vsba-uc.a.run.app or http://127.0.0.1:8765"


def check_http_url(value: str) -> str:
    """An http(s) base URL with a host, a port from 1 to 65535 when given, no credentials, query or fragment."""
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(f"expected a URL without spaces or control characters, such as {URL_EXAMPLE}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(
            f"expected a URL with a valid host and a port from 1 to 65535, such as {URL_EXAMPLE}"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, such as {URL_EXAMPLE}")
    if "@" in parts.netloc:
        raise ValueError("expected a URL without user or password (credentials never belong in this file)")
    if not parts.hostname or not is_host(parts.hostname):
        raise ValueError(f"expected a URL with a host name or IP address, such as {URL_EXAMPLE}")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("expected a URL whose port is from 1 to 65535")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("expected a base URL without ?query or #fragment")
    return value


def _grpc_target(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not re.fullmatch(r"[0-9]{1,5}", port) or not is_host(host):
        raise ValueError("expected a gRPC target host:port such as 127.0.0.1:8766")
    if not 1 <= int(port) <= 65535:
        raise ValueError("expected a gRPC target host:port whose port is from 1 to 65535")
    return value


def _cidr_28(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError("expected an IPv4 range in CIDR notation such as 10.2.0.0/28 (host bits zero)") from None
    if network.version != 4 or network.prefixlen != 28:
        raise ValueError("expected an IPv4 /28 range such as 10.2.0.0/28 (VPC connectors use a /28)")
    return value


Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
ResourceName = Annotated[str, Field(min_length=1, max_length=63, pattern=RESOURCE_PATTERN)]
ConnectorName = Annotated[str, Field(min_length=1, max_length=25, pattern=RESOURCE_PATTERN)]
ServiceName = Annotated[str, Field(min_length=1, max_length=49, pattern=RESOURCE_PATTERN)]
EnvVarName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=ENV_VAR_PATTERN, description="Name of an environment variable.")
]
BlockName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=BLOCK_PATTERN, description="Name of a Prefect Secret block.")
]
SecretId = Annotated[str, Field(min_length=1, max_length=255, pattern=SECRET_ID_PATTERN)]
HttpUrl = Annotated[
    str, Field(min_length=1, max_length=2048, json_schema_extra={"format": "uri"}), AfterValidator(check_http_url)
]
UrlPath = Annotated[str, Field(min_length=1, max_length=2048, pattern=PATH_PATTERN)]
HostName = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
GrpcTarget = Annotated[str, Field(min_length=1, max_length=260), AfterValidator(_grpc_target)]
ConnectionName = Annotated[str, Field(min_length=1, max_length=160, pattern=CONNECTION_NAME_PATTERN)]
DbIdentifier = Annotated[str, Field(min_length=1, max_length=63, pattern=DB_IDENTIFIER_PATTERN)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
Channel = Annotated[str, Field(min_length=1, max_length=81, pattern=CHANNEL_PATTERN)]
Cidr28 = Annotated[str, Field(max_length=18), AfterValidator(_cidr_28)]


def duplicate_errors(
    names: Iterable[str], container: tuple[str | int, ...], field: str | None, what: str
) -> list[InitErrorDetails]:
    """One problem per repeat, at its own index (at most 10, then one summary). Linear: 700,000 ids are quick."""
    first: dict[str, int] = {}
    problems: list[InitErrorDetails] = []
    repeats = 0
    for index, name in enumerate(names):
        if name not in first:
            first[name] = index
            continue
        repeats += 1
        if repeats <= 10:
            loc = (*container, index, field) if field else (*container, index)
            problems.append(rule_error(loc, f"each {what} listed once", f"{name!r} again (first at {first[name]})"))
    if repeats > 10:
        problems.append(rule_error(container, f"each {what} listed once", f"{repeats - 10} more repeats"))
    return problems


SLACK_ID_HELP = (
    "Slack pings only ids, a literal @handle notifies nobody. A user group's id: in Slack, People > User groups > "
    "the group > ⋯ (More) > Copy group ID, or the usergroups.list API; a person's: their profile > ⋯ (More) > "
    "Copy member ID"
)
_SLACK_ID = re.compile(r"[SUW][A-Z0-9]{6,20}")
_SLACK_MARKUP = re.compile(r"<(?:!subteam\^|@)([A-Z0-9]+)(?:\|[^>]*)?>")  # a mention pasted from a message


def slack_id(value: object) -> str | None:
    """The Slack id in `value` (an id, or a mention pasted from a message such as `<!subteam^S0123ABCD|@x>`).

    None when `value` is neither: the caller says what it expected, with SLACK_ID_HELP.
    """
    if not isinstance(value, str):
        return None
    markup = _SLACK_MARKUP.fullmatch(value.strip())
    candidate = markup.group(1) if markup else value.strip()
    return candidate if _SLACK_ID.fullmatch(candidate) else None
