"""When a step fails: before any change the error is the user's answer and nothing is rolled back;
after one the rollback steps put the settings back (exit 5); a hung stream fails its step."""

from __future__ import annotations

import json
import time

import pytest

from core import services
from core.errors import (
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    Interrupted,
    KubernetesError,
    PgRestoreError,
    PlanRejected,
    S3Error,
    StepFailed,
    Unreachable,
)
from core.model import ServiceDef
from pgrestore.commands.plan import refuse_while_applying
from tests.fakes.fake_kube import is_ready, is_restore
from tests.fakes.rehearsal import CLIENT, CLIENT_SELECTOR, CLUSTER, NS, SPILO_SELECTOR

from .conftest import every_secret_value

JOURNAL_CM = "pgrestore-journal-keycloak"


def _settings(r) -> tuple[int, int]:
    """(client replicas, numberOfInstances): what a rollback must put back."""
    return (r.kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"],
            r.kube.get_postgresql(NS, CLUSTER)["spec"]["numberOfInstances"])


def _without_journal(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items() if k != f"configmap/{NS}/{JOURNAL_CM}"}


@pytest.mark.parametrize("step,method,after", [
    ("03-delete-cluster", "delete_postgresql", True),   # deleted, and then the answer was lost
    ("04-create-cluster", "create_postgresql", True),
    ("05-restore-dump", "exec", False),                 # the exec stream broke before psql took anything
])
def test_a_failure_after_the_delete_rolls_the_settings_back(rehearsal, step, method, after):
    path = rehearsal.plan()
    rehearsal.stage.inject(method, step=step, after=after, error=Unreachable("the API VIP dropped the connection"))
    with pytest.raises(ApplyFailedRolledBack) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 5
    assert "the API VIP dropped the connection" in str(err.value) and "NOT restored" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rolled-back"
    assert journal["steps"][step]["status"] == "failed"
    assert {k: v["status"] for k, v in journal["rollback"].items()} == {
        "r01-ensure-cluster": "done", "r02-set-instances": "done", "r03-scale-workload": "done"}
    assert _settings(rehearsal) == (3, 3)
    rehearsal.kube.settle()
    assert len(rehearsal.kube.pods(NS, SPILO_SELECTOR)) == 3 and len(rehearsal.kube.pods(NS, CLIENT_SELECTOR)) == 3
    assert rehearsal.kube.get_lease(NS, "pgrestore-keycloak") is None
    with pytest.raises(PlanRejected, match="already applied"):
        rehearsal.apply(path)  # a rolled-back plan is not reused: the cluster no longer looks as planned


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
    assert not [c for c in rehearsal.stage.calls if c.method in ("scale", "delete_postgresql", "set_instances")]


def test_ctrl_c_before_any_change_says_so_and_touches_nothing(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("stream", step="01-verify-backup", error=KeyboardInterrupt())
    with pytest.raises(Interrupted) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 130 and "nothing to roll back" in str(err.value)
    assert _settings(rehearsal) == (3, 3)


def test_ctrl_c_after_a_change_rolls_back(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("wait_postgresql", step="03-delete-cluster", error=KeyboardInterrupt())
    with pytest.raises(ApplyFailedRolledBack, match="interrupted"):
        rehearsal.apply(path)
    assert _settings(rehearsal) == (3, 3)


def test_an_exec_that_hangs_past_the_step_deadline_fails_the_step(make):
    keycloak = services.load("keycloak")
    short = ServiceDef(**{**keycloak.__dict__, "timeouts": {"restore-dump": 1}})
    r = make(service=short)
    path = r.plan()
    assert next(s for s in r.loaded(path).steps if s.kind == "restore-dump").timeout_seconds == 1
    r.stage.inject("exec", step="05-restore-dump", hang=True)
    started = time.monotonic()
    with pytest.raises(ApplyFailedRolledBack, match="ran past its step's deadline"):
        r.apply(path)
    assert time.monotonic() - started < 10
    step = r.journal(path)["steps"]["05-restore-dump"]
    assert step["status"] == "failed" and "ran past its step's deadline" in step["error"]
    assert _settings(r) == (3, 3)


# What psql -f - prints when a COPY meets a table that is not there: an error in the application's data.
UNEXPECTED = ('psql:<stdin>:200: ERROR:  relation "public.user_entity" does not exist\n'
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
    rehearsal.stage.inject("exec", step="05-restore-dump", **fault)
    with pytest.raises(PgRestoreError) as err:
        rehearsal.apply(path)
    assert words in str(err.value)
    step = rehearsal.journal(path)["steps"]["05-restore-dump"]
    assert step["status"] == "failed" and words in step["error"]


@pytest.mark.parametrize("secrets_mode", [None, "alter-users"])
def test_a_restore_that_fails_after_psql_ran_is_rolled_back_to_a_cluster_its_secrets_open(rehearsal,
                                                                                          secrets_mode):
    """psql ran the dump, so the roles now have the backup's passwords, while the secrets are the new
    cluster's; then the restore is judged failed (here: an unexpected error). The rollback must leave
    a cluster that comes up: replicas clone as standby and the client logs in with its secret. Today
    r02-set-instances waits (30 min in production) for replicas that cannot clone, ends in exit 6, and
    its "by hand" advice (set numberOfInstances and wait) cannot work either."""
    path = rehearsal.plan(secrets_mode)
    rehearsal.stage.inject("exec", step="05-restore-dump", result={"stderr": UNEXPECTED})
    with pytest.raises(ApplyFailedRolledBack):
        rehearsal.apply(path)
    kube = rehearsal.kube
    kube.settle()
    assert len([p for p in kube.pods(NS, SPILO_SELECTOR) if is_ready(p)]) == 3
    assert len([p for p in kube.pods(NS, CLIENT_SELECTOR) if is_ready(p)]) == 3


def test_a_rollback_that_fails_says_what_is_left_to_do(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("exec", step="05-restore-dump", error=StepFailed("stream broke"))
    rehearsal.stage.inject("set_instances", step="r02-set-instances", error=KubernetesError("forbidden"))
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 6
    assert "set numberOfInstances of keycloak-postgres to 3" in str(err.value) and "forbidden" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rollback-incomplete"
    assert journal["rollback"]["r03-scale-workload"]["status"] == "done"  # every rollback step got its chance
    for value in every_secret_value(rehearsal):
        assert value not in str(err.value) and value not in json.dumps(journal)


def test_a_lost_final_journal_write_does_not_block_the_next_plan(rehearsal):
    """The restore is done, but the last ConfigMap write of the journal failed (an API blip: Journal.save
    keeps going on KubernetesError). The next `pgrestore plan` must not refuse with "stopped while running;
    resume it": `apply --resume` then refuses too ("already applied"), and the user is stuck."""
    path = rehearsal.plan()
    rehearsal.stage.inject("upsert_configmap", error=Unreachable("the API VIP dropped the connection"),
                           where=lambda c: json.loads(c.args["data"]["journal.json"])["status"] == "done")
    assert rehearsal.apply(path).startswith("restored")
    assert rehearsal.journal(path)["status"] == "done"
    refuse_while_applying(rehearsal.kube, rehearsal.service)  # `pgrestore plan keycloak` may go ahead
