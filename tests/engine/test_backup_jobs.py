"""CSM's backup jobs and an apply: suspended for its duration and put back as they were, and a backup run
that happens anyway (`kubectl create job --from=cronjob/...`, or one already running) cannot take the
backup being restored away: the restore reads the pinned copy."""

from __future__ import annotations

import pytest

from pgrestore.core.backups import BUCKET
from pgrestore.errors import ApplyFailedRolledBack, PlanRejected, StepFailed
from pgrestore.planner.options import PlanOptions
from tests.fakes.fake_kube import logical_backup_cronjob
from tests.fakes.helm_release import cluster_gone
from tests.fakes.rehearsal import BACKUP_CRONJOB, CLUSTER, GOOD_DUMP, GOOD_PSQL, MANIFEST, NS, Rehearsal

from .conftest import DUMP_ROWS, user_view, world


def _ticking(r: Rehearsal, path) -> dict[str, list[str]]:
    """The CronJobs' schedule comes round as each step after suspend-backup-jobs starts, up to and with
    resume-backup-jobs: step (kind) -> the backup Jobs it started."""
    started: dict[str, list[str]] = {}
    steps = r.loaded(path).steps
    kinds = [s.kind for s in steps]
    for step in steps[kinds.index("suspend-backup-jobs") + 1:kinds.index("resume-backup-jobs") + 1]:
        r.stage.at_step(step.id, lambda s=f"{step.id} ({step.kind})": started.__setitem__(s, r.kube.cronjob_tick(NS)))
    return started


def test_no_backup_job_starts_from_the_suspend_until_the_resume(rehearsal):
    path = rehearsal.plan()
    started = _ticking(rehearsal, path)
    rehearsal.apply(path)
    assert len(started) == 13 and {step: jobs for step, jobs in started.items() if jobs} == {}
    assert rehearsal.kube.cronjob_tick(NS) != []  # after it, the schedule runs again
    assert rehearsal.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS


def test_the_operators_logical_backup_cronjob_stays_suspended_through_the_re_create(make):
    """With enableLogicalBackup the operator deletes logical-backup-<cluster> with the cluster and creates it
    again at create-cluster, without suspend (v1.8.2 Delete/Create). suspend-backup-jobs ran before the
    delete, so from create-cluster on the new CronJob runs on its schedule: a logical backup of the empty,
    then half-restored cluster lands in the bucket as the newest backup."""
    def logical(objects):
        objects[("postgresql", CLUSTER)]["spec"]["enableLogicalBackup"] = True
    r = make(world=world(logical))
    assert r.kube.get_cronjob(NS, logical_backup_cronjob(CLUSTER)) is not None
    path = r.plan()
    started = _ticking(r, path)
    r.apply(path)
    assert len(started) == 13 and {step: jobs for step, jobs in started.items() if jobs} == {}


def test_a_cluster_that_was_gone_gets_its_operators_logical_backup_cronjob_running_again(make):
    """Gone -> restored: the operator makes logical-backup-<cluster> with the new cluster, create-cluster
    holds it suspended, and it was not there to record when planning. It runs again at the end, as the
    operator made it: left suspended, no backup of the restored cluster would ever run."""
    def logical(objects):
        objects[("postgresql", CLUSTER)]["spec"]["enableLogicalBackup"] = True
    r = make(world=cluster_gone(world(logical)))
    assert r.kube.get_cronjob(NS, logical_backup_cronjob(CLUSTER)) is None
    path = r.plan()
    r.apply(path)
    cron = r.kube.get_cronjob(NS, logical_backup_cronjob(CLUSTER))
    assert cron is not None and not cron["spec"].get("suspend"), "the operator's CronJob runs again"
    assert r.kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is False


@pytest.mark.parametrize("fail", [False, True], ids=["applied", "rolled back"])
def test_a_cronjob_suspended_before_the_apply_stays_suspended(make, fail):
    def suspended(objects):
        objects[("CronJob", BACKUP_CRONJOB)]["spec"]["suspend"] = True
    r = make(world=world(suspended))
    before = user_view(r)
    path = r.plan()
    if fail:
        r.stage.inject("exec", step=r.step(path, "restore-dump"), error=StepFailed("stream broke"))
        with pytest.raises(ApplyFailedRolledBack):
            r.apply(path)
        assert user_view(r) == before
    else:
        r.apply(path)
    assert r.kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is True
    assert [c.args["suspend"] for c in r.stage.calls if c.method == "suspend_cronjob"] == [True, True]


def test_a_backup_cronjob_suspended_by_someone_since_planning_makes_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    rehearsal.kube.suspend_cronjob(NS, BACKUP_CRONJOB, True)  # the plan would put back the wrong value
    with pytest.raises(PlanRejected, match=f"cronjob/{NS}/{BACKUP_CRONJOB}"):
        rehearsal.apply(path)


def test_a_backup_job_already_running_when_apply_starts_changes_nothing_of_the_outcome(make):
    """The nightly backup job is running when apply starts (CSM runs it at 02:10 for minutes). Suspending
    stops only new runs, so suspend-backup-jobs waits for it; when it ends it has dumped the broken cluster
    and deleted every older backup, the planned one too. Pinned first, the planned backup would survive
    it; pinned after the wait (the plan's order today: verify, suspend and wait, pin), the pin finds
    nothing, apply stops, and the good backup is gone: the newest left is the dump of the broken cluster."""
    quiet = make()
    quiet.apply(quiet.plan())
    r = make()
    path = r.plan()
    r.kube.run_cronjob(NS, BACKUP_CRONJOB)  # started at 02:10; this apply begins before it ends
    assert r.apply(path).startswith("restored")
    assert GOOD_PSQL not in r.s3.keys(BUCKET), "the backup job's cleanup deleted the planned backup"
    assert r.kube.database(NS, CLUSTER).summary() == quiet.kube.database(NS, CLUSTER).summary()


def test_a_backup_job_run_between_verify_and_restore_changes_nothing_of_the_outcome(make):
    """Someone runs the backup job by hand after the pin (`kubectl create job --from=cronjob/...`): it dumps
    the cluster as it is then and deletes every older backup, the one being restored too. The restore
    reads the pinned copy: the same end as an apply nobody disturbed."""
    quiet = make()
    quiet.apply(quiet.plan())
    r = make()
    path = r.plan()
    restore = r.step(path, "restore-dump")

    def backup_run() -> None:
        r.kube.run_cronjob(NS, BACKUP_CRONJOB)
        r.kube.settle()
    r.stage.at_step(restore, backup_run)
    assert r.apply(path).startswith("restored")
    assert GOOD_PSQL not in r.s3.keys(BUCKET), "the backup job's cleanup deleted the planned backup"
    pinned = next(s for s in r.loaded(path).steps if s.kind == "pin-backup").params["pinned"]["key"]
    assert {c.args["key"] for c in r.stage.calls_in(restore) if c.method == "stream"} == {pinned}
    assert user_view(r) == user_view(quiet)
    assert r.kube.database(NS, CLUSTER).summary() == quiet.kube.database(NS, CLUSTER).summary()


def test_a_local_dump_without_a_safety_dir_writes_its_safety_dump_to_the_bucket(make, workdir):
    """`--dump FILE` and no --safety-dir: the backup needs no S3, the safety dump does."""
    dump, manifest = workdir / "keycloak.psql", workdir / "keycloak.manifest"
    dump.write_bytes(GOOD_DUMP.read_bytes())
    manifest.write_bytes(MANIFEST.read_bytes())
    r = make()
    path = r.plan(dump=dump, manifest=manifest)
    assert r.apply(path).startswith("restored")
    safety = next(s for s in r.loaded(path).steps if s.kind == "safety-dump").params["dump"]
    assert safety["source"] == "s3" and r.s3.body(BUCKET, safety["key"]).startswith(b"--\n-- PostgreSQL database")
    assert r.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS


def test_local_pin_and_safety_folders_hold_the_copies_and_the_rollback_reads_them(make, workdir):
    pin, safety = workdir / "pin", workdir / "safety"
    pin.mkdir()
    safety.mkdir()
    r = make()
    before = user_view(r)
    path = r.plan(PlanOptions(pin_dir=pin, safety_dir=safety))
    r.stage.inject("exec", step=r.step(path, "restore-dump"), error=StepFailed("stream broke"))
    with pytest.raises(ApplyFailedRolledBack, match="data included"):
        r.apply(path)
    assert user_view(r) == before
    assert sorted(p.name for p in pin.iterdir()) == [
        "pgrestore_keycloak_20240502T030405Z-00112233_pinned_keycloak-postgres-2024-04-30T02:00:05.manifest",
        "pgrestore_keycloak_20240502T030405Z-00112233_pinned_keycloak-postgres-2024-04-30T02:00:05.psql"]
    assert sorted(p.name for p in safety.iterdir()) == ["pgrestore_keycloak_20240502T030405Z-00112233_safety.manifest",
                                                        "pgrestore_keycloak_20240502T030405Z-00112233_safety.psql"]
    assert {oct(p.stat().st_mode & 0o777) for p in [*pin.iterdir(), *safety.iterdir()]} == {"0o600"}
    assert not r.s3.keys(BUCKET, "pgrestore/")
