"""Golden plans: a recorded world (tests/fakes/worlds/keycloak.json: the objects planner/read.py
reads, as `kubectl get -o json` shows them) and a bucket of fixture backups, read by the real
planner through the fake adapters, built with a fixed salt and time, and compared byte for byte
with tests/planner/goldens/*.golden.json.

A plan that changes on purpose: `PGRESTORE_UPDATE_GOLDENS=1 pytest tests/planner`, then review
the diff of the golden files like any other change of behaviour.

Plans of a local dump (`--dump FILE`) and with local folders (`--pin-dir`, `--safety-dir`) hold
absolute paths: their fixtures are copied to one fixed folder, FIXTURES, so the goldens are the same
bytes on every machine.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pgrestore.contract.document import render
from pgrestore.contract.model import Plan
from pgrestore.contract.schema import errors as schema_errors
from pgrestore.core import services
from pgrestore.core.manifest import parse_manifest
from pgrestore.errors import BackupError, UsageError
from pgrestore.planner import build_plan
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.read import read_backup_file, read_backup_s3, read_cluster, recover_spec, require_cluster
from pgrestore.planner.world import Snapshot
from tests.fakes.fake_kube import FakeKube
from tests.fakes.helm_release import cluster_gone, rendered
from tests.fakes.rehearsal import (
    CLUSTER,
    GOOD_DUMP,
    GOOD_PSQL,
    LOGICAL,
    MANIFEST,
    NOW,
    SALT,
    TRUNCATED_PSQL,
    WORLDS,
    keycloak_s3,
)

GOLDENS = Path(__file__).parent / "goldens"
SITE = Path(__file__).parent / "site"
UPDATE = os.environ.get("PGRESTORE_UPDATE_GOLDENS") == "1"
# Where the local files of the file-based cases live: a fixed path, so their plans are the same bytes anywhere.
FIXTURES = Path("/tmp/pgrestore-golden-fixtures")
LOCAL_DUMP = FIXTURES / GOOD_PSQL
LOCAL_MANIFEST = FIXTURES / GOOD_PSQL.replace(".psql", ".manifest")
PIN_DIR, SAFETY_DIR = FIXTURES / "pin", FIXTURES / "safety"

# A fixed plan key (in a cluster: Secret pgrestore-plan-key), so the goldens' signatures stay byte-stable.
PLAN_KEY = bytes.fromhex("70" * 32)


@dataclass(frozen=True)
class Case:
    layout: str = "psql"  # the backups in the bucket (tests/fakes/rehearsal.py BACKUPS)
    options: PlanOptions = field(default_factory=PlanOptions)
    site: Path | None = None  # PGRESTORE_SERVICES_DIR
    local: bool = False  # --dump LOCAL_DUMP --manifest LOCAL_MANIFEST
    gone: bool = False  # the postgresql resource deleted (tests/fakes/helm_release.py), its Helm release kept
    spec_file: bool = False  # --postgresql-spec SPEC_FILE


CASES = {
    "keycloak-from-manifest": Case(),
    "keycloak-alter-users": Case(options=PlanOptions(secrets_mode="alter-users")),
    "keycloak-logical": Case("logical"),
    "keycloak-truncated-newest-skipped": Case("truncated-newest"),
    "site-keycloak-oauth2-proxies": Case(site=SITE),
    "keycloak-no-safety-dump": Case(options=PlanOptions(safety_dump=False)),
    "keycloak-pin-dir-safety-dir": Case(options=PlanOptions(pin_dir=PIN_DIR, safety_dir=SAFETY_DIR)),
    "keycloak-local-dump": Case(local=True),
    "keycloak-local-dump-pin-dir": Case(local=True, options=PlanOptions(pin_dir=PIN_DIR)),
    "keycloak-gone-helm-release": Case(gone=True),
    "keycloak-gone-spec-file": Case(gone=True, spec_file=True),
}
SPEC_FILE = FIXTURES / "keycloak-postgres.spec.yaml"


def local_fixtures() -> None:
    """The local dump and manifest at their fixed paths (written whole, then renamed: runs may overlap)."""
    for folder in (FIXTURES, PIN_DIR, SAFETY_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    for source, target in ((GOOD_DUMP, LOCAL_DUMP), (MANIFEST, LOCAL_MANIFEST)):
        if not target.exists() or target.read_bytes() != source.read_bytes():
            fd, tmp = tempfile.mkstemp(dir=FIXTURES)
            os.close(fd)
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)


def make_plan(case: str, monkeypatch) -> Plan:
    c = CASES[case]
    if c.site is not None:
        monkeypatch.setenv("PGRESTORE_SERVICES_DIR", str(c.site))
    else:
        monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    service = services.load("keycloak")
    world = json.loads((WORLDS / "keycloak.json").read_text())
    kube = FakeKube.from_world(cluster_gone(world) if c.gone else world)
    spec_file = None
    if c.spec_file:
        local_fixtures()
        SPEC_FILE.write_text(yaml.safe_dump(rendered(world)))
        spec_file = SPEC_FILE
    cluster = recover_spec(kube, read_cluster(kube, service), service, spec_file)
    require_cluster(cluster, service)
    if c.local:
        local_fixtures()
        backup = read_backup_file(LOCAL_DUMP, LOCAL_MANIFEST)
    else:
        backup = read_backup_s3(keycloak_s3(kube.stage, c.layout), service.cluster, "latest")
    return build_plan(Snapshot(cluster, backup), service, NOW, SALT, c.options, key=PLAN_KEY)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_matches_its_golden_file(case, monkeypatch):
    text = render(make_plan(case, monkeypatch))
    golden = GOLDENS / f"{case}.golden.json"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden {golden.name}; run with PGRESTORE_UPDATE_GOLDENS=1 and review it"
    expected = golden.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "now", n=2))
        pytest.fail(f"plan {case} differs from its golden file (PGRESTORE_UPDATE_GOLDENS=1 to accept):\n{diff[:6000]}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_is_schema_valid_and_holds_no_secret_value(case, monkeypatch):
    text = render(make_plan(case, monkeypatch))
    assert schema_errors(json.loads(text), "plan") == []
    for secret in _secret_values():
        assert secret not in text, f"a secret value of the fixtures appears in plan {case}"


def _secret_values() -> set[str]:
    """Every password of the world and of the backups, as text, base64 and md5 verifier."""
    world = json.loads((WORLDS / "keycloak.json").read_text())
    values = set()
    for obj in world["objects"]:
        if obj["kind"] == "Secret":
            values |= {base64.b64decode(v).decode() for v in obj["data"].values()} | set(obj["data"].values())
    for s in parse_manifest(MANIFEST.read_text(), "fixture"):
        values |= {s.password, base64.b64encode(s.password.encode()).decode()}
    dump = GOOD_DUMP.read_text()
    values |= {line.rsplit("'", 2)[1] for line in dump.splitlines() if " PASSWORD 'md5" in line}
    usernames = {"postgres", "standby", "service_account"}
    return {v for v in values - usernames - {base64.b64encode(u.encode()).decode() for u in usernames} if len(v) >= 8}


def test_the_same_world_salt_and_time_give_the_same_bytes(monkeypatch):
    assert render(make_plan("keycloak-from-manifest", monkeypatch)) == render(make_plan("keycloak-from-manifest",
                                                                                        monkeypatch))


def test_latest_passes_over_a_truncated_newest_backup_and_says_why(monkeypatch):
    plan = make_plan("keycloak-truncated-newest-skipped", monkeypatch)
    assert plan.backup.key == GOOD_PSQL
    assert [s.key for s in plan.backup.skipped] == [TRUNCATED_PSQL]
    assert any(n.startswith(f"passed over newer backup {TRUNCATED_PSQL}:") and "trailer" in n for n in plan.notes)


def test_a_truncated_backup_asked_for_by_name_is_refused(monkeypatch):
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    s3 = keycloak_s3(kube.stage, "truncated-newest")
    with pytest.raises(BackupError, match="trailer"):
        read_backup_s3(s3, CLUSTER, TRUNCATED_PSQL)


def test_a_logical_backup_has_no_manifest_so_the_roles_are_altered(monkeypatch):
    plan = make_plan("keycloak-logical", monkeypatch)
    assert (plan.backup.key, plan.backup.format, plan.secrets_mode) == (LOGICAL, "logical", "alter-users")
    assert [s.kind for s in plan.steps][9] == "alter-users"
    assert not any(s.kind == "secrets-from-manifest" for s in plan.steps + plan.rollback[:2])


def test_from_manifest_cannot_be_asked_of_a_backup_without_one(monkeypatch):
    monkeypatch.setitem(CASES, "logical-from-manifest", Case("logical", PlanOptions(secrets_mode="from-manifest")))
    with pytest.raises(UsageError, match="needs a backup with a .manifest"):
        make_plan("logical-from-manifest", monkeypatch)


def test_the_newest_revision_of_a_job_is_the_one_rerun(monkeypatch):
    plan = make_plan("keycloak-from-manifest", monkeypatch)
    jobs = [(s.target.name, s.target.selector) for s in plan.steps if s.kind == "rerun-job"]
    assert jobs == [("keycloak-setup-2", "app.kubernetes.io/instance=cray-keycloak"),
                    ("keycloak-users-localize-1", "app.kubernetes.io/instance=cray-keycloak-users-localize")]


def test_a_site_selector_restarts_every_workload_it_matches_and_only_those(monkeypatch):
    plan = make_plan("site-keycloak-oauth2-proxies", monkeypatch)
    restarts = [s for s in plan.steps if s.kind == "rollout-restart"]
    assert [(s.target.kind, s.target.name) for s in restarts] == [
        ("Deployment", "cray-oauth2-proxies-customer-access-ingress"),
        ("Deployment", "cray-oauth2-proxies-customer-management-ingress")]
    assert {s.timeout_seconds for s in restarts} == {300}
    assert "site definition: the oauth2-proxies replace the CSM 1.0 gatekeeper" in plan.notes
    recorded = {o.name for o in plan.prior_state}
    assert "cray-keycloak-gatekeeper-ingress" not in recorded and "cray-keycloak-admin-console" not in recorded


def test_secrets_are_recorded_as_keyed_digests_of_what_the_cluster_and_backup_hold(monkeypatch):
    plan = make_plan("keycloak-from-manifest", monkeypatch)
    from pgrestore.core.observe import digest
    manifest = {s.name: s.password for s in parse_manifest(MANIFEST.read_text(), "m")}
    after = {c.address.split("/")[-1]: c.after for c in plan.changes if c.address.startswith("secret/")}
    assert after == {name: {"username": user, "password_digest": digest(SALT, manifest[name])}
                     for name, user in (("postgres.keycloak-postgres.credentials", "postgres"),
                                        ("service-account.keycloak-postgres.credentials", "service_account"),
                                        ("standby.keycloak-postgres.credentials", "standby"))}
    assert "keycloak-postgres-tls" not in {o.name for o in plan.prior_state}  # not a credential secret


FORWARD = ["verify-backup", "check-prerequisites", "pin-backup", "suspend-backup-jobs", "scale-workload", "safety-dump",
           "delete-cluster",
           "create-cluster", "restore-dump", "secrets-from-manifest", "restart-leader", "set-instances",
           "scale-workload", "rerun-job", "rerun-job", "rollout-restart", "resume-backup-jobs", "verify"]
ROLLBACK = ["ensure-cluster", "restore-dump", "secrets-from-manifest", "restart-leader", "set-instances",
            "scale-workload", "resume-backup-jobs"]


def _kinds(steps) -> list[str]:
    return [s.kind for s in steps]


def test_nothing_destructive_comes_before_the_backup_is_pinned_and_the_live_data_dumped(monkeypatch):
    plan = make_plan("keycloak-from-manifest", monkeypatch)
    assert _kinds(plan.steps) == FORWARD
    assert _kinds(plan.rollback) == ROLLBACK
    steps = {s.kind: s for s in plan.steps}
    pinned, safety = steps["pin-backup"], steps["safety-dump"]
    restore = next(s for s in plan.steps if s.kind == "restore-dump")
    # The restore reads the pinned copy, proven by the pin step's sha256, under pgrestore/ where no backup job deletes.
    assert restore.params["dump"] == pinned.params["pinned"] and restore.params["verified_by"] == pinned.id
    assert restore.params["dump"]["key"].startswith("pgrestore/keycloak/20240502T030405Z-00112233/pinned/")
    # The safety dump goes back only into a cluster the rollback had to re-create.
    recreated = {"step": "r01-ensure-cluster", "observed": "recreated", "equals": True}
    conditional = [s for s in plan.rollback if s.when is not None]
    assert [s.kind for s in conditional] == ["restore-dump", "secrets-from-manifest", "restart-leader"]
    assert all(s.when.__dict__ == recreated for s in conditional)
    back = plan.rollback[1]
    assert back.params["dump"] == safety.params["dump"] and back.params["verified_by"] == safety.id
    assert plan.rollback[0].params["replace_ours"] is True
    # Both resume steps carry what to put back: the CronJob as it was, and the operator's, which a
    # re-create makes anew and create-cluster holds suspended, unsuspended as the operator makes it.
    recorded = [{"name": "keycloak-postgres-postgresql-db-backup", "suspended": False}]
    assert steps["suspend-backup-jobs"].params == {"cronjobs": recorded}
    assert steps["resume-backup-jobs"].params == plan.rollback[-1].params == {
        "cronjobs": recorded + [{"name": "logical-backup-keycloak-postgres", "suspended": False}]}


def test_the_safety_dump_is_taken_after_the_client_has_stopped_writing(monkeypatch):
    """A dump taken while the client runs misses every write between its snapshot and the stop."""
    for plan in (make_plan("keycloak-from-manifest", monkeypatch), make_hms_plan("hsm-from-manifest", monkeypatch),
                 make_hms_plan("sls-from-manifest", monkeypatch)):
        kinds = _kinds(plan.steps)
        stop = next(i for i, s in enumerate(plan.steps) if s.kind == "scale-workload" and s.params["replicas"] == 0)
        assert stop < kinds.index("safety-dump") < min(i for i, s in enumerate(plan.steps) if s.destructive)


def test_only_the_client_and_the_cronjobs_wait_for_the_data_and_the_restore_is_kept_once_the_client_is_back(
        monkeypatch):
    for plan in (make_plan("keycloak-from-manifest", monkeypatch), make_hms_plan("sls-no-safety-dump", monkeypatch)):
        assert [s.kind for s in plan.rollback if s.hold_unless_data] == ["scale-workload", "resume-backup-jobs"]
        assert not any(s.hold_unless_data for s in plan.steps)
        commit = [s for s in plan.steps if s.commit]
        assert len(commit) == 1 and commit[0].kind == "scale-workload" and commit[0].params["replicas"] > 0
        assert not any(s.commit for s in plan.rollback)


def test_no_safety_dump_warns_loudly_and_keeps_the_old_rollback(monkeypatch):
    plan = make_plan("keycloak-no-safety-dump", monkeypatch)
    assert any(n.startswith("WARNING: --no-safety-dump") and "cannot put the data back" in n for n in plan.notes)
    assert _kinds(plan.steps) == [k for k in FORWARD if k != "safety-dump"]
    assert _kinds(plan.rollback) == ["ensure-cluster", "set-instances", "scale-workload", "resume-backup-jobs"]
    assert plan.rollback[0].params["replace_ours"] is False and all(s.when is None for s in plan.rollback)


def test_pin_dir_and_safety_dir_put_the_copies_in_local_files(monkeypatch):
    plan = make_plan("keycloak-pin-dir-safety-dir", monkeypatch)
    steps = {s.kind: s for s in plan.steps}
    for where, folder in ((steps["pin-backup"].params["pinned"], PIN_DIR),
                          (steps["pin-backup"].params["pinned_manifest"], PIN_DIR),
                          (steps["safety-dump"].params["dump"], SAFETY_DIR),
                          (steps["safety-dump"].params["manifest"], SAFETY_DIR)):
        assert where["source"] == "file" and where["bucket"] is None and Path(where["key"]).parent == folder


def test_a_local_dump_is_read_in_place_unless_a_pin_dir_is_given(monkeypatch):
    plan = make_plan("keycloak-local-dump", monkeypatch)
    assert "pin-backup" not in _kinds(plan.steps) and "safety-dump" in _kinds(plan.steps)
    restore = next(s for s in plan.steps if s.kind == "restore-dump")
    assert restore.params["dump"] == {"source": "file", "bucket": None, "key": str(LOCAL_DUMP)}
    assert restore.params["verified_by"] == plan.steps[0].id
    pinned = make_plan("keycloak-local-dump-pin-dir", monkeypatch)
    assert _kinds(pinned.steps) == FORWARD
    assert Path(next(s for s in pinned.steps if s.kind == "restore-dump").params["dump"]["key"]).parent == PIN_DIR


def test_the_safety_dump_and_the_pinning_get_time_that_grows_with_the_data(monkeypatch):
    """A 20 GB cluster: pg_dumpall streams it out through the exec stream at the rate a restore streams in
    (planner/timeouts.py: 5 MB/s, 4000 s), and the pin step reads the whole copy back for its sha256. Both
    get the 900 s fallback today, so the apply of a big cluster fails at its safety dump, every time."""
    from pgrestore.planner.timeouts import RESTORE_BYTES_PER_SECOND
    size = 20_000_000_000
    monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    service = services.load("keycloak")
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    backup = read_backup_s3(keycloak_s3(kube.stage), service.cluster, "latest")
    backup.ref.size = size
    plan = build_plan(Snapshot(read_cluster(kube, service), backup), service, NOW, SALT, key=PLAN_KEY)
    timeout = {s.kind: s.timeout_seconds for s in plan.steps}
    assert timeout["restore-dump"] >= size // RESTORE_BYTES_PER_SECOND
    assert timeout["safety-dump"] >= size // RESTORE_BYTES_PER_SECOND, "safety-dump keeps the fallback timeout"
    assert timeout["pin-backup"] >= size // (4 * RESTORE_BYTES_PER_SECOND), "pin-backup keeps the fallback timeout"


# -- HSM (recreate-all) and SLS (in-place): the world of tests/fakes/worlds/hms.json ----------------------
HMS_CASES = {
    "hsm-from-manifest": ("hsm", PlanOptions()),
    "hsm-alter-users": ("hsm", PlanOptions(secrets_mode="alter-users")),
    "hsm-no-safety-dump": ("hsm", PlanOptions(safety_dump=False)),
    "sls-from-manifest": ("sls", PlanOptions()),
    "sls-no-safety-dump": ("sls", PlanOptions(safety_dump=False)),
}


def make_hms_plan(case: str, monkeypatch, layout: str = "both", kube: FakeKube | None = None) -> Plan:
    from pgrestore.planner import prerequisites
    from tests.fakes.rehearsal import HMS_WORLD, hms_s3
    name, options = HMS_CASES[case]
    monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    service = services.load(name)
    kube = kube or FakeKube.from_world(HMS_WORLD)
    s3 = hms_s3(kube.stage, layout)
    snapshot = Snapshot(read_cluster(kube, service), read_backup_s3(s3, service.cluster, "latest"))
    prerequisites.check(kube, s3, service, snapshot)
    return build_plan(snapshot, service, NOW, SALT, options, key=PLAN_KEY)


@pytest.mark.parametrize("case", sorted(HMS_CASES))
def test_hsm_and_sls_plans_match_their_golden_files(case, monkeypatch):
    text = render(make_hms_plan(case, monkeypatch))
    assert schema_errors(json.loads(text), "plan") == []
    golden = GOLDENS / f"{case}.golden.json"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden {golden.name}; run with PGRESTORE_UPDATE_GOLDENS=1 and review it"
    expected = golden.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "now", n=2))
        pytest.fail(f"plan {case} differs from its golden file (PGRESTORE_UPDATE_GOLDENS=1 to accept):\n{diff[:6000]}")


HSM_FORWARD = ["verify-backup", "check-prerequisites", "pin-backup", "suspend-backup-jobs", "scale-workload",
               "safety-dump", "rerun-job",
               "delete-cluster", "create-cluster", "restore-dump", "run-sql", "secrets-from-manifest",
               "restart-members", "scale-workload", "manual", "manual", "resume-backup-jobs", "verify"]
SLS_FORWARD = ["verify-backup", "check-prerequisites", "pin-backup", "suspend-backup-jobs", "scale-workload",
               "safety-dump", "rerun-job",
               "drop-databases", "restore-dump", "grant-connect", "secrets-from-manifest", "restart-members",
               "scale-workload", "resume-backup-jobs", "verify"]


def test_hsm_reruns_its_init_job_before_the_delete_and_recreates_every_member(monkeypatch):
    plan = make_hms_plan("hsm-from-manifest", monkeypatch)
    assert _kinds(plan.steps) == HSM_FORWARD
    steps = {s.kind: s for s in plan.steps}
    assert (steps["rerun-job"].target.name, steps["rerun-job"].target.selector) == (
        "cray-smd-init", "app.kubernetes.io/name=cray-smd-init")
    assert steps["create-cluster"].params["numberOfInstances"] == 3  # unchanged: no one-instance phase
    assert steps["restore-dump"].restart_from == steps["delete-cluster"].id
    assert steps["run-sql"].params == {"database": "hmsds", "user": "hmsdsuser",
                                       "statement": "DELETE FROM comp_eth_interfaces",
                                       "pod_selector": "application=spilo,cluster-name=cray-smd-postgres"}
    assert steps["restart-members"].params["numberOfInstances"] == 3
    assert _kinds(plan.rollback) == ["ensure-cluster", "restore-dump", "secrets-from-manifest", "restart-members",
                                     "scale-workload", "resume-backup-jobs"]
    assert plan.rollback[0].params["numberOfInstances"] == 3
    assert plan.rollback[1].params["dump"] == steps["safety-dump"].params["dump"]
    manual = [s for s in plan.steps if s.kind == "manual"]  # the runbook's rediscovery and checks need `cray`
    assert manual[0].params["command"].startswith("cray hsm inventory discover create --xnames")
    assert manual[1].params["expect_output"] == "HSM is healthy"


def test_sls_keeps_its_resource_and_restarts_the_restore_from_the_drop(monkeypatch):
    plan = make_hms_plan("sls-from-manifest", monkeypatch)
    assert _kinds(plan.steps) == SLS_FORWARD
    steps = {s.kind: s for s in plan.steps}
    assert not any(s.kind in ("delete-cluster", "create-cluster") for s in plan.steps + plan.rollback)
    assert steps["drop-databases"].destructive and steps["drop-databases"].params["databases"] == ["sls", "service_db"]
    assert steps["restore-dump"].restart_from == steps["drop-databases"].id
    assert _kinds(plan.rollback) == ["drop-databases", "restore-dump", "secrets-from-manifest", "grant-connect",
                                     "restart-members", "scale-workload", "resume-backup-jobs"]
    assert plan.rollback[0].params["only_if_started"] == [steps["drop-databases"].id]
    assert plan.rollback[1].restart_from == plan.rollback[0].id
    assert plan.rollback[1].params["dump"] == steps["safety-dump"].params["dump"]
    no_safety = make_hms_plan("sls-no-safety-dump", monkeypatch)
    assert _kinds(no_safety.rollback) == ["grant-connect", "scale-workload", "resume-backup-jobs"]


def test_a_backup_of_another_hsm_schema_is_refused_at_plan_time(monkeypatch):
    with pytest.raises(BackupError) as refused:
        make_hms_plan("hsm-from-manifest", monkeypatch, layout="hsm-schema-20-newest")
    assert str(refused.value).startswith("backup is for schema 20, live HSM is 21: upgrade or downgrade first")
    assert refused.value.exit_code == 65


@pytest.mark.parametrize("broken,problem", [
    (lambda k: k.scale("Deployment", "services", "cray-sls", 0), "deployment services/cray-sls has 0 of 0 pods Ready"),
    (lambda k: k.delete_postgresql("services", "cray-sls-postgres"), "postgresql services/cray-sls-postgres does not"),
])
def test_hsm_is_not_planned_while_sls_is_unhealthy(monkeypatch, broken, problem):
    from pgrestore.errors import PgRestoreError
    from tests.fakes.rehearsal import HMS_WORLD
    kube = FakeKube.from_world(HMS_WORLD)
    broken(kube)
    kube.settle()
    with pytest.raises(PgRestoreError) as refused:
        make_hms_plan("hsm-from-manifest", monkeypatch, kube=kube)
    assert str(refused.value).startswith(f"SLS must be healthy before HSM is restored: {problem}")
    assert "\n" not in str(refused.value)


def test_a_gone_cluster_is_created_from_its_deployed_helm_release_with_nothing_of_it_to_delete(monkeypatch):
    plan = make_plan("keycloak-gone-helm-release", monkeypatch)
    assert (plan.postgresql_source.kind, plan.postgresql_source.ref) == ("helm", "sh.helm.release.v1.cray-keycloak.v2")
    assert plan.prior(f"postgresql/services/{CLUSTER}").fields == {"absent": True}  # apply re-checks it is
    kinds = _kinds(plan.steps)
    assert "safety-dump" not in kinds  # no live data to keep
    delete = next(s for s in plan.steps if s.kind == "delete-cluster")
    assert delete.params["uid"] == "" and not delete.destructive  # only a cluster this apply created
    create = next(s for s in plan.steps if s.kind == "create-cluster")
    resource = create.params["resource"]
    assert resource["spec"]["volume"] == {"size": "10Gi"}  # the deployed revision, not the superseded 5Gi
    assert resource["metadata"]["annotations"]["meta.helm.sh/release-name"] == "cray-keycloak"
    assert create.params["numberOfInstances"] == 1
    assert next(s for s in plan.steps if s.kind == "set-instances").params["numberOfInstances"] == 3
    secrets = next(s for s in plan.steps if s.kind == "secrets-from-manifest").params["secrets"]
    assert sorted(secrets) == sorted(f"{u}.{CLUSTER}.credentials" for u in ("postgres", "standby", "service-account"))
    assert _kinds(plan.rollback) == ["delete-cluster", "scale-workload", "resume-backup-jobs"]
    assert "chart-values-are-not-plan-material" not in render(plan)  # the release's values stay behind


def test_a_gone_cluster_without_a_release_or_a_spec_file_is_refused_naming_the_option(monkeypatch):
    monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    world = cluster_gone(json.loads((WORLDS / "keycloak.json").read_text()))
    world["objects"] = [o for o in world["objects"] if o.get("type") != "helm.sh/release.v1"]
    kube = FakeKube.from_world(world)
    service = services.load("keycloak")
    with pytest.raises(UsageError, match=r"does not exist and none of the 0 deployed Helm release\(s\) in services "
                                         r"renders it; pass its spec with --postgresql-spec FILE"):
        recover_spec(kube, read_cluster(kube, service), service, None)


def test_a_spec_file_for_a_cluster_that_exists_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    service = services.load("keycloak")
    with pytest.raises(UsageError, match="--postgresql-spec is for a postgresql resource that is gone"):
        recover_spec(kube, read_cluster(kube, service), service, tmp_path / "spec.yaml")
