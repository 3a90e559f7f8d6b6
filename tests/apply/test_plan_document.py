"""The plan is a pure function of its snapshot, and matches its schema."""

from __future__ import annotations

from datetime import datetime, timezone

from pgrestore.adapters.connect import S3Options, s3_from_options
from pgrestore.adapters.kube import Kube
from pgrestore.contract.document import render, signed_by
from pgrestore.contract.model import to_dict
from pgrestore.contract.schema import errors
from pgrestore.core import services
from pgrestore.planner import build_plan
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.snapshot import BackupChoice, LocalInputs, take_snapshot

from .conftest import make_backup

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SALT = "00112233445566778899aabbccddeeff"
KEY = bytes(range(32))  # a plan key of the test's own



def _snapshot(kube, service, key):
    """What `pgrestore plan SERVICE --backup KEY` reads."""
    return take_snapshot(kube, service, LocalInputs(PlanOptions()), choice=BackupChoice(key),
                         connect_s3=lambda: s3_from_options(kube, S3Options()))

def test_same_snapshot_salt_and_time_give_a_byte_identical_plan(sandbox):
    key = make_backup(sandbox, "psql")
    service = services.load("keycloak")
    kube = Kube(str(sandbox.state.kubeconfig))
    first, second = _snapshot(kube, service, key), _snapshot(kube, service, key)  # nothing changed in between
    plans = [render(build_plan(s, service, now=NOW, salt=SALT, key=KEY)) for s in (first, first, second)]
    assert plans[0] == plans[1] == plans[2]

    other_salt = build_plan(first, service, now=NOW, salt="ff" * 16, key=KEY)
    assert render(other_salt) != plans[0], "digests are keyed by the salt"


def test_plan_matches_its_schema_and_checksum(sandbox):
    service = services.load("keycloak")
    snap = _snapshot(Kube(str(sandbox.state.kubeconfig)), service, make_backup(sandbox, "psql"))
    plan = to_dict(build_plan(snap, service, now=NOW, salt=SALT, key=KEY))
    assert errors(plan, "plan") == []
    assert signed_by(plan, KEY)
    assert [s["kind"] for s in plan["steps"]][:9] == [
        "verify-backup", "check-prerequisites", "pin-backup", "suspend-backup-jobs", "scale-workload", "safety-dump",
        "delete-cluster", "create-cluster", "restore-dump"]
    assert [s["id"] for s in plan["steps"] if s["destructive"]] == ["07-delete-cluster", "10-secrets-from-manifest"]
    # Secrets appear only as keyed digests.
    secret_fields = [o["fields"] for o in plan["prior_state"] if o["kind"] == "Secret"]
    assert len(secret_fields) == 3
    assert all(f["password_digest"].startswith("hmac-sha256:") and set(f) == {"username", "password_digest"}
               for f in secret_fields)
