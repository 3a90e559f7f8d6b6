"""When a step fails: before any change the error is the user's answer and nothing is rolled back;
after one the rollback steps put the service back as it was before apply (exit 5): after the delete
from the safety dump, data and secrets included; before it, the original cluster is left alone. A
hung stream fails its step."""

from __future__ import annotations

import json
import time

import pytest

from pgrestore.contract.model import ServiceDef
from pgrestore.core import services
from pgrestore.core.backups import BUCKET
from pgrestore.errors import (
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    Interrupted,
    KubernetesError,
    PgRestoreError,
    PlanRejected,
    RestoreKept,
    S3Error,
    StepFailed,
    StepTimeout,
    Unreachable,
)
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.snapshot import refuse_while_applying
from tests.fakes.fake_kube import is_ready, is_restore
from tests.fakes.rehearsal import (
    BACKUP_CRONJOB,
    CLIENT,
    CLIENT_SELECTOR,
    CLUSTER,
    GOOD_DUMP,
    GOOD_PSQL,
    NS,
    SPILO_SELECTOR,
)

from .conftest import every_secret_value, user_view

JOURNAL_CM = "pgrestore-journal-keycloak"


def _without_journal(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items() if k != f"configmap/{NS}/{JOURNAL_CM}"}


def _rollback_status(r, path) -> dict[str, str]:
    return {k: v["status"] for k, v in r.journal(path)["rollback"].items()}


# (step kind, which of that kind, adapter method, fault): each after the delete.
AFTER_THE_DELETE = {
    "delete answered, answer lost": ("delete-cluster", 0, "delete_postgresql",
                                     {"after": True, "error": Unreachable("the API VIP dropped the connection")}),
    # The new cluster exists but create-cluster never recorded its uid: ensure-cluster must still see it is
    # not the planned one (it was deleted) and restore the safety dump into a fresh one.
    "create answered, answer lost": ("create-cluster", 0, "create_postgresql",
                                     {"after": True, "error": Unreachable("the API VIP dropped the connection")}),
    "restore stream broke": ("restore-dump", 0, "exec", {"error": StepFailed("the exec stream broke")}),
    "secrets refused": ("secrets-from-manifest", 0, "put_secret", {"error": KubernetesError("forbidden")}),
    "leader restart refused": ("restart-leader", 0, "delete_pod", {"error": KubernetesError("forbidden")}),
    "members refused": ("set-instances", 0, "set_instances", {"error": KubernetesError("forbidden")}),
    "client never Ready": ("scale-workload", 1, "wait_pods", {"error": StepTimeout("timed out after 900s")}),
}

# (step kind, which of that kind, adapter method, fault): each once the client is back on the restored data.
AFTER_THE_CLIENT_IS_BACK = {
    "setup job refused": ("rerun-job", 0, "create_job", {"error": KubernetesError("forbidden")}),
    "verify broke": ("verify", 0, "read_secret", {"error": Unreachable("the API VIP dropped the connection")}),
}


@pytest.mark.parametrize("case", AFTER_THE_CLIENT_IS_BACK)
def test_a_failure_after_the_client_is_back_keeps_the_restore_and_resume_finishes_it(rehearsal, case):
    """Rolling back now would throw away a restore that was verified and every write made on it since:
    apply stops (exit 8), names what is left, and `--resume` finishes it."""
    kind, nth, method, fault = AFTER_THE_CLIENT_IS_BACK[case]
    path = rehearsal.plan()
    step = rehearsal.step(path, kind, nth)
    rehearsal.stage.inject(method, step=step, **fault)
    with pytest.raises(RestoreKept) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 8
    assert str(fault["error"]) in str(err.value) and f"Not done yet: {step}" in str(err.value)
    assert "--resume" in str(err.value)
    # the same, as data (what `--json` gives and a CLI could say otherwise)
    assert err.value.outcome.failed.startswith(f"{step} failed") and step in err.value.outcome.left
    assert err.value.outcome.cronjobs_suspended == any(s.endswith("resume-backup-jobs") for s in err.value.outcome.left)
    journal = rehearsal.journal(path)
    assert journal["status"] == "failed" and journal["steps"][step]["status"] == "failed"
    assert set(_rollback_status(rehearsal, path).values()) == {"pending"}, "nothing may roll back"
    kept = user_view(rehearsal)
    assert kept["rows"]["service_db"]["public.user_entity"].startswith("5 rows"), "the restored rows stay"
    assert (kept["client replicas"], kept["client pods ready"]) == (3, 3)
    assert rehearsal.kube.get_lease(NS, "pgrestore-keycloak") is None
    rehearsal.apply(path, resume=True)
    assert rehearsal.journal(path)["status"] == "done"
    assert user_view(rehearsal)["cronjobs suspended"] == {BACKUP_CRONJOB: False}


@pytest.mark.parametrize("case", AFTER_THE_DELETE)
def test_a_failure_after_the_delete_puts_the_service_back_as_it_was_data_included(rehearsal, case):
    kind, nth, method, fault = AFTER_THE_DELETE[case]
    before = user_view(rehearsal)
    path = rehearsal.plan()
    step = rehearsal.step(path, kind, nth)
    rehearsal.stage.inject(method, step=step, **fault)
    with pytest.raises(ApplyFailedRolledBack) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 5
    assert str(fault["error"]) in str(err.value)
    assert "the service is as it was before apply, data included (from the safety dump" in str(err.value), \
        str(err.value)
    safety = next(s for s in rehearsal.loaded(path).steps if s.kind == "safety-dump")
    assert (err.value.outcome.data, err.value.outcome.safety_dump) == ("safety-dump", safety.params["dump"]["key"])
    journal = rehearsal.journal(path)
    assert journal["status"] == "rolled-back" and journal["steps"][step]["status"] == "failed"
    assert _rollback_status(rehearsal, path) == {
        "r01-ensure-cluster": "done", "r02-restore-dump": "done", "r03-secrets-from-manifest": "done",
        "r04-restart-leader": "done", "r05-set-instances": "done", "r06-scale-workload": "done",
        "r07-resume-backup-jobs": "done"}
    # What the users of Keycloak see: the same rows, roles and secrets, the client logged in again, all members.
    assert user_view(rehearsal) == before
    assert rehearsal.kube.doubled_rows() == []
    assert rehearsal.kube.get_lease(NS, "pgrestore-keycloak") is None
    with pytest.raises(PlanRejected, match="already applied"):
        rehearsal.apply(path)  # a rolled-back plan is not reused: the cluster no longer looks as planned


def test_a_bad_statement_in_the_dump_fails_the_restore_and_the_rollback_brings_the_data_back(rehearsal):
    """The backup's COPY names a table it never creates: psql goes on, the judge calls it unexpected,
    the restore fails, and the safety dump goes back into a fresh cluster."""
    bad = GOOD_DUMP.read_text().replace("CREATE TABLE public.user_entity (", "CREATE TABLE public.user_entiti (")
    rehearsal.s3.put(BUCKET, GOOD_PSQL, bad)
    before = user_view(rehearsal)
    path = rehearsal.plan()
    with pytest.raises(ApplyFailedRolledBack) as err:
        rehearsal.apply(path)
    message = str(err.value)
    assert 'relation "public.user_entity" does not exist' in message
    assert "data included" in message and "Fix the cause, re-plan and apply again" in message
    restore = rehearsal.journal(path)["steps"][rehearsal.step(path, "restore-dump")]
    assert restore["status"] == "failed"
    assert restore["error"].startswith(f"restore into {NS}/{CLUSTER}-0 failed: psql:<stdin>:214: ERROR:  relation "
                                       f'"public.user_entity" does not exist (1 unexpected error(s); the journal '
                                       f"lists them)")
    assert restore["observed"]["unexpected_errors"] == [restore["error"].split(" failed: ")[1].split(" (1 ")[0]]
    assert user_view(rehearsal) == before


# (step kind, which of that kind, adapter method, fault): each after a change, before the delete.
BEFORE_THE_DELETE = {
    "a backup job runs on": ("suspend-backup-jobs", 0, "wait_jobs_of_cronjob_finished",
                             {"error": StepTimeout("timed out after 900s waiting for running jobs")}),
    "pinning refused": ("pin-backup", 0, "copy", {"error": S3Error("copy: S3 answered AccessDenied")}),
    "pg_dumpall failed": ("safety-dump", 0, "exec",
                          {"result": {"returncode": 1, "stderr": "pg_dumpall: error: query failed: ERROR:  out of "
                                                                 "memory\n"}}),
    "client never gone": ("scale-workload", 0, "wait_pods", {"error": StepTimeout("timed out after 900s")}),
}


@pytest.mark.parametrize("case", BEFORE_THE_DELETE)
def test_a_failure_before_the_delete_leaves_the_original_cluster_untouched(rehearsal, case):
    kind, nth, method, fault = BEFORE_THE_DELETE[case]
    kube = rehearsal.kube
    before, uid = user_view(rehearsal), kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"]
    path = rehearsal.plan()
    rehearsal.stage.inject(method, step=rehearsal.step(path, kind, nth), **fault)
    with pytest.raises(ApplyFailedRolledBack) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 5
    assert "rolled back before anything destructive: the service is as it was, data untouched" in str(err.value)
    assert kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"] == uid
    journal = rehearsal.journal(path)
    assert journal["rollback"]["r01-ensure-cluster"]["observed"]["action"] == "kept"
    assert _rollback_status(rehearsal, path) == {
        "r01-ensure-cluster": "done", "r02-restore-dump": "skipped", "r03-secrets-from-manifest": "skipped",
        "r04-restart-leader": "skipped", "r05-set-instances": "done", "r06-scale-workload": "done",
        "r07-resume-backup-jobs": "done"}
    assert not [c for c in rehearsal.stage.calls if c.method in ("delete_postgresql", "create_postgresql",
                                                                 "put_secret", "delete_pod")]
    assert not [e for e in kube.execs if e.kind == "restore"]
    assert user_view(rehearsal) == before


def test_a_failure_before_any_change_is_reraised_and_nothing_is_rolled_back(rehearsal):
    path = rehearsal.plan()
    before = rehearsal.kube.snapshot()
    rehearsal.stage.inject("stream", step="01-verify-backup", error=S3Error("read s3://postgres-backup/x: S3 "
                                                                             "answered SlowDown"))
    with pytest.raises(S3Error, match="SlowDown"):
        rehearsal.apply(path)
    journal = rehearsal.journal(path)
    assert journal["status"] == "failed"
    assert all(r["status"] == "pending" for r in journal["rollback"].values())
    assert all(s["status"] == "pending" for k, s in journal["steps"].items() if k != "01-verify-backup")
    assert _without_journal(rehearsal.kube.snapshot()) == _without_journal(before)
    assert not [c for c in rehearsal.stage.calls if c.method in ("scale", "delete_postgresql", "set_instances",
                                                                 "suspend_cronjob")]


def test_without_a_safety_dump_a_failure_after_the_delete_holds_the_client_and_the_cronjobs_exit_6(rehearsal):
    """The data is gone: a client on the empty cluster serves nothing, and a backup run would dump the
    empty cluster and delete the older backups, the one to restore included."""
    path = rehearsal.plan(PlanOptions(safety_dump=False))
    rehearsal.stage.inject("exec", step=rehearsal.step(path, "restore-dump"), error=StepFailed("stream broke"))
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 6
    assert "is NOT back" in str(err.value) and "re-plan from the backup (`pgrestore plan keycloak`)" in str(err.value)
    held = err.value.outcome.held
    assert (held.client, held.client_replicas, held.cronjobs, held.safety_dump) == (
        f"statefulset {NS}/{CLIENT}", 3, True, None)
    view = user_view(rehearsal)
    assert (view["client replicas"], view["numberOfInstances"], view["members ready"]) == (0, 3, 3)
    assert view["rows"]["service_db"] == {}  # an empty cluster, as the warning in the plan said
    assert view["cronjobs suspended"] == {BACKUP_CRONJOB: True}
    assert {k: v for k, v in _rollback_status(rehearsal, path).items() if v == "held"} == {
        "r03-scale-workload": "held", "r04-resume-backup-jobs": "held"}


def test_when_the_safety_dump_cannot_go_back_the_client_stays_at_0_and_the_cronjobs_suspended(rehearsal):
    """The restore fails, then the safety dump's own restore fails too (S3 down, the object gone):
    nothing may come back onto the empty cluster; exit 6 says so and what to run."""
    path = rehearsal.plan()
    rehearsal.stage.inject("exec", step=rehearsal.step(path, "restore-dump"), error=StepFailed("stream broke"))
    rehearsal.stage.inject("exec", step="r02-restore-dump", error=StepFailed("the safety dump is unreadable"),
                           times=None)
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    message = str(err.value)
    assert err.value.exit_code == 6 and "is NOT back" in message and "`pgrestore rollback <plan>`" in message
    assert "the safety dump is unreadable" in message
    view = user_view(rehearsal)
    assert view["client replicas"] == 0 and view["cronjobs suspended"] == {BACKUP_CRONJOB: True}
    statuses = _rollback_status(rehearsal, path)
    assert statuses["r06-scale-workload"] == statuses["r07-resume-backup-jobs"] == "held"


def test_ctrl_c_before_any_change_says_so_and_touches_nothing(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("stream", step="01-verify-backup", error=KeyboardInterrupt())
    before = user_view(rehearsal)
    with pytest.raises(Interrupted) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 130 and "nothing to roll back" in str(err.value)
    assert user_view(rehearsal) == before


def test_ctrl_c_after_the_delete_rolls_back_data_included(rehearsal):
    before = user_view(rehearsal)
    path = rehearsal.plan()
    rehearsal.stage.inject("wait_postgresql", step=rehearsal.step(path, "delete-cluster"), error=KeyboardInterrupt())
    with pytest.raises(ApplyFailedRolledBack, match="interrupted .*data included"):
        rehearsal.apply(path)
    assert user_view(rehearsal) == before


def test_an_exec_that_hangs_past_the_step_deadline_fails_the_step(make):
    keycloak = services.load("keycloak")
    short = ServiceDef(**{**keycloak.__dict__, "timeouts": {"restore-dump": 1}})
    r = make(service=short)
    before = user_view(r)
    path = r.plan()
    restore = r.step(path, "restore-dump")
    assert next(s for s in r.loaded(path).steps if s.kind == "restore-dump").timeout_seconds == 1
    r.stage.inject("exec", step=restore, hang=True)
    started = time.monotonic()
    with pytest.raises(ApplyFailedRolledBack, match="ran past its step's deadline"):
        r.apply(path)
    assert time.monotonic() - started < 10
    step = r.journal(path)["steps"][restore]
    assert step["status"] == "failed" and "ran past its step's deadline" in step["error"]
    assert user_view(r) == before


# What psql -f - prints when a COPY meets a table that is not there: an error in the application's data.
UNEXPECTED = ('psql:<stdin>:214: ERROR:  relation "public.user_entity" does not exist\n'
              'CONTEXT:  COPY user_entity, line 1\n')
WRONG_COUNTS = ("public.client|3\npublic.credential|5\npublic.event_entity|7\npublic.realm|2\n"
                "public.user_entity|4\n")


def _is_count(call) -> bool:
    return not is_restore(call.args["argv"])


@pytest.mark.parametrize("fault,words", [
    ({"result": {"stderr": UNEXPECTED}}, 'relation "public.user_entity" does not exist'),
    ({"result": {"stdout": WRONG_COUNTS}, "where": _is_count},
     "restored data does not match the dump: service_db.public.user_entity: 4 rows, the dump has 5"),
])
def test_a_bad_restore_fails_its_step_and_says_why(rehearsal, fault, words):
    path = rehearsal.plan()
    restore = rehearsal.step(path, "restore-dump")
    rehearsal.stage.inject("exec", step=restore, **fault)
    with pytest.raises(PgRestoreError) as err:
        rehearsal.apply(path)
    assert words in str(err.value)
    step = rehearsal.journal(path)["steps"][restore]
    assert step["status"] == "failed" and words in step["error"]


@pytest.mark.parametrize("secrets_mode", [None, "alter-users"])
def test_a_restore_that_fails_after_psql_ran_is_rolled_back_to_a_cluster_its_secrets_open(rehearsal,
                                                                                          secrets_mode):
    """psql ran the dump, so the roles have the backup's passwords while the secrets are the new cluster's;
    then the restore is judged failed. The rollback must leave a cluster that comes up: replicas clone as
    standby and the client logs in with its secret."""
    path = rehearsal.plan(secrets_mode)
    rehearsal.stage.inject("exec", step=rehearsal.step(path, "restore-dump"), result={"stderr": UNEXPECTED})
    with pytest.raises(ApplyFailedRolledBack):
        rehearsal.apply(path)
    kube = rehearsal.kube
    kube.settle()
    assert len([p for p in kube.pods(NS, SPILO_SELECTOR) if is_ready(p)]) == 3
    assert len([p for p in kube.pods(NS, CLIENT_SELECTOR) if is_ready(p)]) == 3


def test_a_rollback_that_fails_says_what_is_left_to_do(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("exec", step=rehearsal.step(path, "restore-dump"), error=StepFailed("stream broke"))
    rehearsal.stage.inject("set_instances", step="r05-set-instances", error=KubernetesError("forbidden"))
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 6
    assert "set numberOfInstances of keycloak-postgres to 3" in str(err.value) and "forbidden" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rollback-incomplete"
    # Every rollback step got its chance: the client and the backup CronJob are back all the same.
    assert journal["rollback"]["r06-scale-workload"]["status"] == "done"
    assert journal["rollback"]["r07-resume-backup-jobs"]["status"] == "done"
    for value in every_secret_value(rehearsal):
        assert value not in str(err.value) and value not in json.dumps(journal)


def test_a_lost_final_journal_write_does_not_block_the_next_plan(rehearsal):
    """The restore is done, but the last ConfigMap write of the journal failed (an API blip: Journal.save
    keeps going on KubernetesError). The next `pgrestore plan` must not refuse with "stopped while running"."""
    path = rehearsal.plan()
    rehearsal.stage.inject("upsert_configmap", error=Unreachable("the API VIP dropped the connection"),
                           where=lambda c: json.loads(c.args["data"]["journal.json"])["status"] == "done")
    assert rehearsal.apply(path).startswith("restored")
    assert rehearsal.journal(path)["status"] == "done"
    refuse_while_applying(rehearsal.kube, rehearsal.service)  # `pgrestore plan keycloak` may go ahead
