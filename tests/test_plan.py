"""`runbook plan` for one environment file: every Google API call its checks may make, with the role it needs."""

from runbook.config.files import load_config
from runbook.plan import plan_text


def test_the_plan_lists_the_calls_the_issue_found_missing() -> None:
    text = plan_text(load_config("local"), width=400)
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 4}
    for check in ("websocket-handshake", "golden-path", "performance"):
        assert "secretmanager: secrets.versions.access (the E2E key's payload" in rows[check], check
    assert "services.revisions.get" in rows["cloud-run-ready"] and "services.revisions.get" in rows["redeploy"]
    assert "roles/secretmanager.secretAccessor on that secret only" in text
    assert "services.patch (mutates)" in rows["redeploy"] and "roles/run.developer" in text


def test_the_plan_follows_the_file_the_connector_calls_only_in_connector_mode() -> None:
    direct = plan_text(load_config("local"), width=400)
    connector = plan_text(load_config("local", {"database": {"mode": "connector"}}), width=400)
    assert "connect.get" not in direct and "roles/cloudsql.client" not in direct
    assert (
        "sqladmin: connect.get (connectSettings; [database] mode = connector), connect.generateEphemeral" in connector
    )
    assert "roles/cloudsql.client" in connector


def test_a_disabled_check_needs_no_role() -> None:
    text = plan_text(load_config("local", {"checks": {"monitoring": {"enabled": False}}}), width=400)
    assert "monitoring, post-restore-monitoring" not in text and "post-restore-monitoring" in text
