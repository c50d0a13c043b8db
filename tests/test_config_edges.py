"""The configuration's rules at their edges: the connector range is a /28 and nothing else, hosts, URLs and gRPC
targets at their limits, Slack ids, repeats, cross-key rules (instances, thresholds, the golden path's credentials).

Plain models only: `make mutate` reruns these for every mutant of the validators.
"""

from typing import Any

import pytest
from pydantic import ValidationError

from runbook.config.models import (
    GoldenPathConfig,
    HealthCheckPolicy,
    SecretsConfig,
    VpcConnectorConfig,
)
from runbook.config.slack_models import ChatOpsConfig, TeamRoute
from runbook.config.validators import check_http_url, duplicate_errors, is_host, slack_id


def connector(**fields: Any) -> VpcConnectorConfig:
    return VpcConnectorConfig(**{"name": "staging-connector", "network": "staging-vpc", **fields})


def errors(raised: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(e["loc"], e["msg"]) for e in raised.value.errors()]


# --- the connector's /28 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.2.0.0/28", "10.8.0.16/28", "192.168.255.240/28"])
def test_a_28_range_is_accepted(cidr: str) -> None:
    assert connector(ip_cidr_range=cidr).ip_cidr_range == cidr


@pytest.mark.parametrize("cidr", ["10.2.0.0/27", "10.2.0.0/29", "10.2.0.0/24", "10.2.0.0/32", "10.0.0.0/8"])
def test_any_other_prefix_is_refused_saying_connectors_use_a_28(cidr: str) -> None:
    with pytest.raises(ValidationError) as raised:
        connector(ip_cidr_range=cidr)
    assert errors(raised) == [
        (("ip_cidr_range",), "Value error, expected an IPv4 /28 range such as 10.2.0.0/28 (VPC connectors use a /28)")
    ]


@pytest.mark.parametrize("cidr", ["10.2.0.1/28", "10.2.0.0", "10.2.0.0/", "not-a-range", "10.2.0.0/33"])
def test_a_range_with_host_bits_or_no_prefix_is_not_cidr(cidr: str) -> None:
    if cidr == "10.2.0.0":  # a bare address is a /32: a valid network, the wrong size
        with pytest.raises(ValidationError, match="VPC connectors use a /28"):
            connector(ip_cidr_range=cidr)
        return
    with pytest.raises(ValidationError) as raised:
        connector(ip_cidr_range=cidr)
    assert errors(raised) == [
        (
            ("ip_cidr_range",),
            "Value error, expected an IPv4 range in CIDR notation such as 10.2.0.0/28 (host bits zero)",
        )
    ]


def test_an_ipv6_28_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected an IPv4 /28 range"):
        connector(ip_cidr_range="2001:db0::/28")


@pytest.mark.parametrize(("low", "high", "ok"), [(3, 3, True), (3, 4, True), (4, 3, False)])
def test_min_instances_may_equal_but_not_exceed_max(low: int, high: int, ok: bool) -> None:
    if ok:
        assert connector(min_instances=low, max_instances=high).min_instances == low
        return
    with pytest.raises(ValidationError) as raised:
        connector(min_instances=low, max_instances=high)
    assert errors(raised) == [(("min_instances",), "expected at most max_instances (3), found 4")]


# --- health check policy ------------------------------------------------------------------------------------------


def test_health_check_policy_bounds_may_meet_but_not_cross() -> None:
    assert HealthCheckPolicy(name="hc", min_timeout_s=5, max_timeout_s=5).min_timeout_s == 5
    assert HealthCheckPolicy(name="hc", min_unhealthy_threshold=4, max_unhealthy_threshold=4).max_unhealthy_threshold
    with pytest.raises(ValidationError) as raised:
        HealthCheckPolicy(
            name="hc", min_timeout_s=6, max_timeout_s=5, min_unhealthy_threshold=5, max_unhealthy_threshold=4
        )
    assert errors(raised) == [
        (("min_timeout_s",), "expected at most max_timeout_s (5), found 6"),
        (("min_unhealthy_threshold",), "expected at most max_unhealthy_threshold (4), found 5"),
    ]


# --- hosts, URLs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("10.20.0.3", True),
        ("::1", True),
        ("db.internal", True),
        ("db.internal.", True),
        ("a" * 63 + ".internal", True),
        ("a" * 64 + ".internal", False),
        ("-db.internal", False),
        ("db-.internal", False),
        ("300.1.1.1", False),
        ("db..internal", False),
        (".".join(["a" * 49] * 5) + ".b", True),  # 251 characters
        (".".join(["a" * 50] * 5) + "." + "b" * 3, False),  # 258 characters
    ],
)
def test_hosts_at_their_limits(host: str, ok: bool) -> None:
    assert is_host(host) is ok


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:1", None),
        ("https://x.run.app:65535", None),
        ("http://127.0.0.1:0", "expected a URL whose port is from 1 to 65535"),
        ("http://127.0.0.1:65536", "expected a URL with a valid host and a port from 1 to 65535"),
        ("ftp://x.run.app", "expected an http:// or https:// URL"),
        ("https://user:pw@x.run.app", "expected a URL without user or password"),
        ("https://x.run.app/?q=1", "expected a base URL without ?query or #fragment"),
        ("https://x.run.app/#top", "expected a base URL without ?query or #fragment"),
        ("https://x.run.app/?", "expected a base URL without ?query or #fragment"),
        ("https://x.run.app/#", "expected a base URL without ?query or #fragment"),
        ("https://x.run .app", "expected a URL without spaces or control characters"),
        ("https:///path", "expected a URL with a host name or IP address"),
    ],
)
def test_urls_at_their_limits(url: str, problem: str | None) -> None:
    if problem is None:
        assert check_http_url(url) == url
        return
    with pytest.raises(ValueError) as raised:
        check_http_url(url)
    assert str(raised.value).startswith(problem)


# --- Slack ids --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("S0123ABCD", "S0123ABCD"),
        (" U0123ABCD ", "U0123ABCD"),
        ("W0123ABC", "W0123ABC"),
        ("<!subteam^S0123ABCD|@infra>", "S0123ABCD"),
        ("<@U0123ABCD>", "U0123ABCD"),
        ("S012345", "S012345"),  # 6 characters after the letter: the shortest
        ("S01234", None),
        ("S" + "0" * 20, "S" + "0" * 20),
        ("S" + "0" * 21, None),
        ("@infra-oncall", None),
        ("C0123ABCD", None),
        ("s0123abcd", None),
        (12345678, None),
    ],
)
def test_slack_ids_and_pasted_mentions(value: object, found: str | None) -> None:
    assert slack_id(value) == found


def test_approvers_and_runners_keep_ids_once_in_order() -> None:
    chatops = ChatOpsConfig(approvers=["<@U0LEAD0001>", "S0PLATFORM", "U0LEAD0001"], runners=[" W0RUNNER01 "])
    assert chatops.approvers == ("U0LEAD0001", "S0PLATFORM")
    assert chatops.runners == ("W0RUNNER01",)


@pytest.mark.parametrize("field", ["approvers", "runners"])
def test_a_handle_among_approvers_or_runners_is_refused(field: str) -> None:
    data = {"approvers": ["U0LEAD0001"], field: ["U0LEAD0001", "@platform-oncall"]}
    with pytest.raises(ValidationError) as raised:
        ChatOpsConfig(**data)
    ((loc, message),) = errors(raised)
    assert loc == (field,)
    assert message.startswith(
        "Value error, expected Slack member ids (U0123ABCD, W0123ABCD) or user-group ids (S0123ABCD), "
        "found '@platform-oncall'"
    )


def test_a_team_route_takes_an_id_and_a_handle_with_its_at() -> None:
    route = TeamRoute(id="<!subteam^S0INFRA001|@infra>", handle="infra-oncall")
    assert (route.id, route.handle, route.mention) == (
        "S0INFRA001",
        "@infra-oncall",
        "<!subteam^S0INFRA001|@infra-oncall>",
    )
    assert TeamRoute(id="U0PERSON01", handle="@ana").mention == "<@U0PERSON01>"


# --- repeats and the golden path's credentials ---------------------------------------------------------------------


def test_each_repeat_is_reported_at_its_index_up_to_ten_then_counted() -> None:
    names = ["a", "b", "a", "a", *(["b"] * 10)]
    problems = duplicate_errors(names, ("secrets",), None, "secret id")
    assert [p["loc"] for p in problems[:3]] == [("secrets", 2), ("secrets", 3), ("secrets", 4)]
    assert len(problems) == 11
    assert problems[-1]["loc"] == ("secrets",)
    assert problems[-1]["type"].message_template == "expected {expected}, found {found}"
    assert problems[0]["type"].context == {"expected": "each secret id listed once", "found": "'a' again (first at 0)"}
    assert problems[-1]["type"].context == {"expected": "each secret id listed once", "found": "2 more repeats"}
    assert duplicate_errors(["a", "b"], ("x",), "name", "name") == []
    assert duplicate_errors(["a", "a"], ("x",), "name", "name")[0]["loc"] == ("x", 1, "name")


def test_a_secret_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        SecretsConfig(expected=["jwt", "db", "jwt"])
    assert errors(raised) == [(("expected", 2), "expected each secret id listed once, found 'jwt' again (first at 0)")]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"auth": "login", "password_env": "E2E_PASSWORD"}, None),
        ({"auth": "login"}, (("password_env",), "the environment variable with the test user's password")),
        ({"auth": "e2e-bypass", "bypass_key_secret": "e2e-key"}, None),
        ({"auth": "e2e-bypass", "bypass_key_block": "e2e-key"}, None),
        ({"auth": "e2e-bypass"}, (("bypass_key_secret",), "a Secret Manager secret id (or bypass_key_block)")),
    ],
)
def test_the_golden_path_needs_the_credentials_of_its_auth_mode(
    fields: dict[str, str], problem: tuple[tuple[str, ...], str] | None
) -> None:
    if problem is None:
        assert GoldenPathConfig(email="e2e@netrasystems.ai", **fields).auth == fields["auth"]
        return
    with pytest.raises(ValidationError) as raised:
        GoldenPathConfig(email="e2e@netrasystems.ai", **fields)
    ((loc, message),) = errors(raised)
    assert loc == problem[0] and message.startswith(f"expected {problem[1]}")


# --- [checks] -----------------------------------------------------------------------------------------------------


def local_with(checks: dict[str, Any]) -> Any:
    from runbook.config.files import PROJECT_ROOT, deep_merge, read_toml
    from runbook.config.models import RunbookConfig

    data = deep_merge(read_toml(PROJECT_ROOT / "environments" / "local.toml"), {"checks": checks})
    return RunbookConfig.model_validate(data)


def test_an_unknown_check_id_is_named_in_its_first_80_characters() -> None:
    with pytest.raises(ValidationError) as raised:
        local_with({"vpc-conector": {"enabled": False}, "x" * 100: {"enabled": False}})
    found = [(loc, message.rsplit(", found ", 1)[1]) for loc, message in errors(raised)]
    assert found == [(("checks", "vpc-conector"), "'vpc-conector'"), (("checks", "x" * 100), repr("x" * 100)[:80])]
    assert errors(raised)[0][1].startswith("expected a check id, one of vpc-connector, cloud-sql-instance, ")


def test_a_checks_overrides_apply_to_it_alone() -> None:
    config = local_with({"secrets": {"timeout_s": 3, "deadline_s": 20}, "monitoring": {"enabled": False}})
    defaults = (config.timeouts.api_call_s, config.timeouts.check_deadline_s)
    assert (config.call_timeout("secrets"), config.check_deadline("secrets")) == (3.0, 20.0)
    assert (config.call_timeout("vpc-connector"), config.check_deadline("vpc-connector")) == defaults
    assert (config.call_timeout("monitoring"), config.check_deadline("monitoring")) == defaults
    assert [config.check_enabled(c) for c in ("monitoring", "secrets", "vpc-connector")] == [False, True, True]
    deadline_only = local_with({"secrets": {"deadline_s": 20}})
    assert deadline_only.call_timeout("secrets") == deadline_only.timeouts.api_call_s
