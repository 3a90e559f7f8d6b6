"""Backup, break, plan, apply: the database is back, clients log in, no secret leaks."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox import settings as sandbox_settings
from tests.helpers import wait_until

from .conftest import (
    break_keycloak,
    client_ready,
    credential_secrets,
    fingerprint,
    journal_text,
    make_backup,
    secrets_not_opening,
    server,
    settings,
    wait_healthy,
)


def _manifest_passwords(sandbox, key: str) -> set[str]:
    if not key.endswith(".psql"):
        return set()
    client = sandbox_s3.client(sandbox.s3_endpoint)
    body = client.get_object(Bucket="postgres-backup", Key=key.replace(".psql", ".manifest"))["Body"].read()
    return {base64.b64decode(d["data"]["password"]).decode() for d in yaml.safe_load_all(body) if d}


# The plain case (psql, from-manifest, v5, fast) is every service's restore in test_plan_set.py's `plan --all`.
@pytest.mark.parametrize("fmt,mode,protocol,timing", [
    ("psql", "from-manifest", "v4", "fast"),
    ("logical", "alter-users", "v4", "fast"),
    ("psql", "alter-users", "auto", "realistic"),
])
def test_restore_brings_back_every_table_and_working_credentials(sandbox, cli, tmp_path, fmt, mode, protocol,
                                                                  timing):
    """With Spilo's bootstrap objects and Patroni's and the exporter's sessions held (the sandbox's default),
    over both exec protocols, both backup formats, both secret paths, and once with real-world delays."""
    wait_healthy(sandbox)
    sandbox_settings.update(sandbox.state, timing=timing)
    key = make_backup(sandbox, fmt)
    before = fingerprint(sandbox)
    passwords = {pw for _, pw in credential_secrets(sandbox).values()} | _manifest_passwords(sandbox, key)
    settings_before = settings(sandbox)
    sandbox.state.exec_protocol.write_text(protocol + "\n")
    try:
        break_keycloak(sandbox)
        assert fingerprint(sandbox) != before
        plan = tmp_path / "plan.json"
        res = cli("plan", "keycloak", "--backup", key, "--secrets", mode, "-o", str(plan), "--detailed-exitcode")
        assert res.returncode == 2, res.stderr
        shown = cli("show", str(plan))
        assert shown.returncode == 0 and "DESTRUCTIVE" in shown.stdout
        assert "deletes the data volumes of keycloak-postgres" in shown.stdout
        assert json.loads(plan.read_text())["secrets_mode"] == mode

        res = cli("apply", str(plan), "--auto-approve")
        assert res.returncode == 0, res.stderr
    finally:
        sandbox.state.exec_protocol.write_text("auto\n")
        sandbox_settings.update(sandbox.state, timing="fast")

    assert fingerprint(sandbox) == before
    srv = server(sandbox)  # the restore met Spilo's objects and the sessions a real cluster holds
    spilo_schema = "SELECT count(*) FROM pg_namespace WHERE nspname = 'metric_helpers'"
    assert srv.psql(spilo_schema, db="service_db").strip() == "1"
    wait_until("the exporter's session in service_db", lambda: srv.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'service_db' AND pid <> pg_backend_pid()",
        db="service_db").strip() != "0", timeout=30)
    assert client_ready(sandbox), "clients must log in with their secrets"
    assert not secrets_not_opening(sandbox), "every credential secret opens the database"
    assert settings(sandbox) == settings_before
    after = {pw for _, pw in credential_secrets(sandbox).values()}
    if mode == "from-manifest":
        assert after == _manifest_passwords(sandbox, key), "secrets must be the backup's"
    passwords |= after

    # No secret value in the plan, the journal (file and ConfigMap) or anything printed.
    texts = [plan.read_text(), *journal_text(sandbox, plan), *cli.outputs, cli("show", str(plan), "--format",
                                                                               "markdown").stdout]
    leaked = [pw for pw in passwords for t in texts if pw in t]
    assert not leaked, "a password appeared in pgrestore's output"

    # A fresh plan sees the same scale settings as the first.
    again = tmp_path / "again.json"
    assert cli("plan", "keycloak", "--backup", key, "-o", str(again)).returncode == 0
    fields = lambda p: {o["address"]: o["fields"].get("replicas", o["fields"].get("numberOfInstances"))  # noqa: E731
                        for o in json.loads(p.read_text())["prior_state"] if o["kind"] != "Secret"}
    assert fields(again) == fields(plan)
