"""HSM (recreate-all) and SLS (in-place) restored on the sandbox as a user would: backup → break →
plan → apply, then every table of every database, the workloads, the secrets and the scale settings
checked against the backup and the plan; and an HSM backup of another schema refused at plan time
with nothing changed."""

from __future__ import annotations

import json

from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox.backup import backup

from .conftest import confirm_manual_steps
from .service_state import (
    cluster_uid,
    credential_secrets,
    fingerprint,
    secrets_not_opening,
    server,
    service,
    settings,
    wait_healthy,
    workloads_not_ready,
)

REDISCOVERED = ("INSERT INTO comp_eth_interfaces SELECT lpad(to_hex(i), 12, '0'), 'Ethernet Interface', "
                "lpad(to_hex(i), 12, '0'), now(), 'x3000c0s' || i || 'b0n0', 'Node', '[]' "
                "FROM generate_series(1, 800) AS i ON CONFLICT DO NOTHING;")

def _restore(sandbox, cli, tmp_path, name: str, breaking: str, db: str) -> tuple[dict, dict, str, str]:
    """Back up, break, plan, apply; returns (fingerprint before, settings before, uid before, plan text)."""
    svc = service(name)
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, name, "psql")[0][0]
    before, settings_before, uid = fingerprint(sandbox, svc), settings(sandbox, svc), cluster_uid(sandbox, svc)
    server(sandbox, svc).psql(breaking, db=db)
    assert fingerprint(sandbox, svc) != before
    plan = tmp_path / f"{name}.plan.json"
    res = cli("plan", name, "--backup", key, "-o", str(plan), "--detailed-exitcode")
    assert res.returncode == 2, res.stderr
    res = confirm_manual_steps(cli, plan, cli("apply", str(plan), "--auto-approve"))
    assert res.returncode == 0, res.stderr + res.stdout
    return before, settings_before, uid, plan.read_text()


def _users(sandbox, svc) -> dict[str, str]:
    return {u: pw for u, pw in credential_secrets(sandbox, svc).values()}


def test_sls_is_restored_in_place(sandbox, cli, tmp_path):
    svc = service("sls")
    wait_healthy(sandbox, svc)
    users = _users(sandbox, svc)  # what the backup's manifest will hold
    before, settings_before, uid, plan = _restore(
        sandbox, cli, tmp_path, "sls", "DROP TABLE network; DELETE FROM generic_hardware WHERE xname LIKE '%1b0n0';",
        "sls")
    assert fingerprint(sandbox, svc) == before, "every table of every database as backed up"
    assert cluster_uid(sandbox, svc) == uid, "in place: the postgresql resource is the same"
    assert "delete-cluster" not in plan and "drop-databases" in plan
    assert not workloads_not_ready(sandbox, svc)
    assert not secrets_not_opening(sandbox, svc), "every credential secret opens the database"
    assert _users(sandbox, svc) == users
    assert settings(sandbox, svc) == settings_before


def test_hsm_is_restored_into_a_recreated_cluster_and_comp_eth_interfaces_emptied(sandbox, cli, tmp_path):
    svc = service("hsm")
    wait_healthy(sandbox, service("sls"))  # HSM's plan refuses while SLS is unhealthy
    # An earlier restore in the session (plan --all) emptied comp_eth_interfaces; rediscovery refills it.
    server(sandbox, svc).psql(REDISCOVERED, db="hmsds")
    before, settings_before, uid, plan = _restore(
        sandbox, cli, tmp_path, "hsm", "DELETE FROM components WHERE nid % 2 = 0; DROP TABLE rf_endpoints;", "hmsds")
    after = fingerprint(sandbox, svc)
    assert after.pop("hmsds.comp_eth_interfaces").startswith("0:"), "comp_eth_interfaces is emptied after"
    assert not before.pop("hmsds.comp_eth_interfaces").startswith("0:")
    assert after == before, "every other table of every database as backed up"
    assert cluster_uid(sandbox, svc) != uid
    steps = [s["kind"] for s in json.loads(plan)["steps"]]
    assert steps.index("rerun-job") < steps.index("delete-cluster")
    assert not workloads_not_ready(sandbox, svc)
    assert not secrets_not_opening(sandbox, svc), "every credential secret opens the database"
    assert settings(sandbox, svc) == settings_before


def test_an_hsm_backup_of_another_schema_is_refused_and_nothing_changes(sandbox, cli, tmp_path):
    svc = service("hsm")
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, "hsm", "psql")[0][0]
    srv = server(sandbox, svc)
    live = srv.psql("SELECT schema_version FROM system", db="hmsds").strip()
    srv.psql("UPDATE system SET schema_version = schema_version + 1", db="hmsds")  # HSM was upgraded since
    try:
        state = fingerprint(sandbox, svc), settings(sandbox, svc), cluster_uid(sandbox, svc)
        plan = tmp_path / "hsm.plan.json"
        res = cli("plan", "hsm", "--backup", key, "-o", str(plan))
        assert res.returncode == 65, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"Error: backup is for schema {live}, live HSM is {int(live) + 1}: upgrade or downgrade first"), lines
        assert "Traceback" not in res.stderr and not plan.exists()
        assert (fingerprint(sandbox, svc), settings(sandbox, svc), cluster_uid(sandbox, svc)) == state
    finally:
        srv.psql(f"UPDATE system SET schema_version = {live}", db="hmsds")


def test_sls_a_restore_that_fails_after_the_drop_puts_the_live_data_back_in_place(sandbox, cli, tmp_path):
    """A backup that passes the checks of its header, trailer and rows but fails in the application's data
    (a table created twice): the rollback drops the half-restored databases and restores the safety dump
    into the same cluster; exit 5, the service as it was before apply, data included."""
    svc = service("sls")
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, "sls", "psql")[0][0]
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    dump, manifest = tmp_path / "sls.psql", tmp_path / "sls.manifest"
    s3.download_file(sandbox_s3.BUCKET, key, str(dump))
    s3.download_file(sandbox_s3.BUCKET, key.replace(".psql", ".manifest"), str(manifest))
    trailer = "--\n-- PostgreSQL database cluster dump complete\n"
    text = dump.read_text()
    assert trailer in text
    dump.write_text(text.replace(trailer, "\\connect sls\nCREATE TABLE public.generic_hardware (xname text);\n\n"
                                          + trailer))
    server(sandbox, svc).psql("DELETE FROM generic_hardware WHERE xname LIKE '%2b0n0';", db="sls")
    live, settings_before, uid = fingerprint(sandbox, svc), settings(sandbox, svc), cluster_uid(sandbox, svc)
    users = _users(sandbox, svc)
    plan = tmp_path / "sls.plan.json"
    res = cli("plan", "sls", "--dump", str(dump), "--manifest", str(manifest), "-o", str(plan))
    assert res.returncode == 0, res.stderr
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 5, res.stderr + res.stdout
    assert "data included" in res.stderr and 'relation "generic_hardware" already exists' in res.stderr
    assert fingerprint(sandbox, svc) == live, "the live data, as it was before apply"
    assert cluster_uid(sandbox, svc) == uid
    wait_healthy(sandbox, svc)
    assert not secrets_not_opening(sandbox, svc) and _users(sandbox, svc) == users
    assert settings(sandbox, svc) == settings_before
