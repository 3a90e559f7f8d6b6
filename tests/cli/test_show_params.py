"""`pgrestore show` prints what apply will run, not only what each step is for: the SQL, the host
commands, the secrets by name. Through the real CLI (a subprocess), with no cluster: show only renders
and says it did not verify the signature. Also: a backup manifest naming one secret twice is refused
at plan (show would list one, apply write either)."""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from pgrestore.contract.model import HostStep
from pgrestore.core import services
from tests.fakes.rehearsal import GOOD_DUMP, MANIFEST, Rehearsal

from .test_messages import one_line, run

GOLDENS = Path(__file__).resolve().parents[1] / "planner" / "goldens"


def show(path: Path, *args: str) -> str:
    res = run("show", str(path), *args)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_show_prints_the_sql_of_run_sql_verbatim_with_its_role_and_database(fmt):
    out = show(GOLDENS / "hsm-alter-users.golden.json", "--format", fmt)
    assert "SET ROLE" in out and '"hmsdsuser"' in out and "DELETE FROM comp_eth_interfaces;" in out
    assert "SQL in database hmsds" in out


def test_show_prints_the_sql_of_drop_databases_for_each_database():
    out = show(GOLDENS / "sls-from-manifest.golden.json")
    for db in ("sls", "service_db"):
        assert f'REVOKE CONNECT ON DATABASE "{db}" FROM PUBLIC;' in out
        assert f"WHERE datname = '{db}' AND pid <> pg_backend_pid();" in out
        assert f'DROP DATABASE IF EXISTS "{db}";' in out
        assert f'GRANT CONNECT ON DATABASE "{db}" TO PUBLIC;' in out


def test_show_names_the_secrets_secrets_from_manifest_writes_and_where_from():
    out = show(GOLDENS / "hsm-from-manifest.golden.json")
    step = out[out.index("secrets-from-manifest"):]
    step = step[:step.index("\n  0") if "\n  0" in step else len(step)]
    for name in ("hmsdsuser.cray-smd-postgres.credentials", "postgres.cray-smd-postgres.credentials",
                 "service-account.cray-smd-postgres.credentials", "standby.cray-smd-postgres.credentials"):
        assert name in step
    assert "s3://postgres-backup/" in step and ".manifest" in step


def test_the_steps_print_no_digest_and_show_says_it_did_not_verify():
    """Digests mean nothing to a reader of a step (Changes shows them, to tell which secrets change)."""
    out = show(GOLDENS / "hsm-from-manifest.golden.json")
    steps = out[out.index("\nSteps"):out.index("\nPlan: ")]
    assert "hmac-sha256:" not in steps
    signature = next(line for line in out.splitlines() if line.startswith("Signature: "))
    assert signature.startswith("Signature: hmac-sha256:") and "NOT verified" in signature


def test_show_prints_the_manual_command_verbatim():
    out = show(GOLDENS / "hsm-alter-users.golden.json")
    assert ("command (you run it): cray hsm inventory discover create --xnames \"$(cray hsm inventory "
            "redfishEndpoints list --format json | jq -r '[.RedfishEndpoints[].ID] | join(\",\")')\"") in out


def test_show_prints_a_host_steps_command_and_its_nodes(tmp_path, monkeypatch):
    restart = HostStep("restart spire-agent on every management node", "systemctl restart spire-agent")
    service = dataclasses.replace(services.load("keycloak"), host_steps=[restart], storage_nodes=["ncn-s001"])
    path = Rehearsal.keycloak(tmp_path, monkeypatch, service=service).plan()
    out = show(path)
    command = next(line for line in out.splitlines() if "command: pdsh" in line)
    assert command.endswith("command: pdsh -S -w ncn-m001,ncn-m002,ncn-m003,ncn-s001,ncn-w001,ncn-w002,ncn-w003 "
                            "'systemctl restart spire-agent'")
    assert "host/ncn-m001," in out, "the target: kind/name (hosts have no namespace)"


def test_show_prints_targets_as_kind_namespace_name():
    out = show(GOLDENS / "hsm-alter-users.golden.json")
    assert "deployment/services/cray-smd" in out and "job/services/cray-smd-init (selector " in out


def test_a_manifest_naming_a_secret_twice_is_refused_at_plan(tmp_path):
    text = MANIFEST.read_text()
    first = text.split("\n---\n")[1]
    twice = tmp_path / "twice.manifest"
    other = re.sub(r"password: \S+", "password: " + base64.b64encode(b"another password").decode(), first)
    twice.write_text(text + "\n---\n" + other)  # the same name, another password
    dump = tmp_path / "backup.psql"
    shutil.copy(GOOD_DUMP, dump)
    res = run("plan", "keycloak", "--dump", str(dump), "--manifest", str(twice))
    line = one_line(res)
    assert res.returncode == 65, res.stderr
    assert "twice.manifest" in line and "2 times" in line and "choose another backup" in line
