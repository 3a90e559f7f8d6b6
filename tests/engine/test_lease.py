"""The apply lock (executors/lock.py) on the rehearsal stage: expiry judged by how long we watched the
record unchanged, never by our clock against the holder's; every step, forward and rollback, fenced by
our own view that we still hold the lease; and no renewal left running once the lock is released."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from pgrestore.errors import ApplyFailedRollbackIncomplete, LockHeld, StepFailed, Unreachable
from pgrestore.executors import lock as lease
from tests.fakes.rehearsal import NS

from .conftest import user_view

NAME = "pgrestore-keycloak"
OTHER = "admin@ncn-m002/pid-4242"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _other_holds(kube, renewed: datetime, duration: int = 60, holder: str = OTHER, lock_id: str = "other-lock-id",
                 checksum: str | None = None) -> None:
    """Another apply (by default on another node) holds the lease; it last wrote renewTime `renewed` (its
    clock); `checksum`: of the plan it applies."""
    annotations = {lease.LOCK_ID_KEY: lock_id, **({lease.CHECKSUM_KEY: checksum} if checksum else {})}
    assert kube.create_lease(NS, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                  "metadata": {"name": NAME, "annotations": annotations},
                                  "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                                           "acquireTime": _stamp(renewed), "renewTime": _stamp(renewed),
                                           "leaseTransitions": 1}})


def _renewing(rehearsal, skew: timedelta, stop: threading.Event) -> threading.Thread:
    """The other apply is alive: it renews its lease every second, stamping renewTime by its own clock;
    its next renewal comes just after our apply first read the lease."""
    kube, seen = rehearsal.kube, len(rehearsal.stage.calls)

    def renew() -> None:
        while not any(c.method == "get_lease" for c in rehearsal.stage.calls[seen:]):
            if stop.wait(0.01):
                return
        while not stop.wait(0.5):
            current = kube.get_lease(NS, NAME)
            current["spec"]["renewTime"] = _stamp(datetime.now(timezone.utc) - skew)
            kube.replace_lease(NS, current)
    thread = threading.Thread(target=renew, name="other-apply", daemon=True)
    thread.start()
    return thread


def _holder(kube) -> str | None:
    current = kube.get_lease(NS, NAME)
    return current["spec"]["holderIdentity"] if current else None


def _messages(rehearsal) -> list[str]:
    return [e["text"] for e in rehearsal.stage.events if e.get("event") == "message"]


def test_a_renewing_holder_whose_clock_is_behind_ours_is_not_taken_over(rehearsal):
    """Finding 1: our clock is 50 s ahead of the holder's, whose last renewal was 12 s ago, so its
    renewTime looks 62 s old here, past its 60 s duration. It is alive: it must not be taken over."""
    skew = timedelta(seconds=50)
    before = user_view(rehearsal)
    path = rehearsal.plan()
    _other_holds(rehearsal.kube, datetime.now(timezone.utc) - skew - timedelta(seconds=12))
    stop = threading.Event()
    other = _renewing(rehearsal, skew, stop)
    try:
        with pytest.raises(LockHeld) as err:
            rehearsal.apply(path)
    finally:
        stop.set()
        other.join()
    assert err.value.exit_code == 4
    assert f"held by {OTHER}" in str(err.value) and "renewed while we watched it" in str(err.value)
    assert "force-unlock <service> other-lock-id" in str(err.value)
    assert _holder(rehearsal.kube) == OTHER
    assert user_view(rehearsal) == before
    assert not [e for e in rehearsal.stage.events if e.get("event") == "step_started"], "no step ran"


def test_a_lease_renewed_recently_by_its_own_clock_is_refused_at_once(rehearsal):
    _other_holds(rehearsal.kube, datetime.now(timezone.utc) - timedelta(seconds=45))
    started = time.monotonic()
    with pytest.raises(LockHeld, match=r"renewed 4[5-9] s ago by its own clock"):
        rehearsal.apply(rehearsal.plan())
    assert time.monotonic() - started < 10
    assert _holder(rehearsal.kube) == OTHER


def test_a_stale_lease_is_taken_only_after_watching_it_unchanged_for_its_duration(rehearsal):
    """Its holder (another node) died long ago: nobody renews it. We take it over, but only after
    watching it unchanged for its whole leaseDurationSeconds on our own clock, and we say so."""
    _other_holds(rehearsal.kube, datetime.now(timezone.utc) - timedelta(hours=1), duration=3)
    path = rehearsal.plan()
    started = time.monotonic()
    assert rehearsal.apply(path).startswith("restored")
    assert time.monotonic() - started >= 3
    assert any("looks stale; watching it for 3 s before taking it over" in m for m in _messages(rehearsal))
    assert rehearsal.journal(path)["status"] == "done"
    assert rehearsal.kube.get_lease(NS, NAME) is None  # released after the apply


@pytest.fixture
def fast_renewals(monkeypatch):
    """Renewals every 50 ms and a 1.5 s renew deadline (30 renewals: a loaded machine does not miss it)."""
    monkeypatch.setattr(lease, "RENEW_EVERY", 0.05)
    monkeypatch.setattr(lease, "TICK", 0.01, raising=False)
    monkeypatch.setattr(lease, "RENEW_DEADLINE", 1.5, raising=False)


def _from_renewer(call) -> bool:
    return threading.current_thread().name == "lease-renew"


def _taking(seconds: float, only=lambda call: True):
    """A `where` for stage.inject that injects nothing: the matching call just takes this long
    (a long exec, or an API server that does not answer)."""
    def where(call) -> bool:
        if only(call):
            time.sleep(seconds)
        return False
    return where


def test_a_renewer_that_cannot_renew_stops_the_apply_at_once_without_rolling_back(rehearsal, fast_renewals):
    """The API server stops answering the renewals during the restore's long exec: once no renewal has
    succeeded for the renew deadline another apply may take the lease over, so the apply stops at once,
    mid-step, and rolls nothing back over it."""
    path = rehearsal.plan()
    restore = rehearsal.step(path, "restore-dump")
    started: list[float] = []

    def renewals_fail() -> None:
        started.append(time.monotonic())
        rehearsal.stage.inject("get_lease", error=Unreachable("the API VIP dropped the connection"), times=None,
                               where=_from_renewer)
    rehearsal.stage.at_step(restore, renewals_fail)
    rehearsal.stage.inject("exec", step=restore, where=_taking(8.0), error=StepFailed("never raised"))
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert time.monotonic() - started[0] < 6.0, "stopped mid-step, not after its 8 s exec"
    assert err.value.exit_code == 6
    assert f"lost lease {NAME} while running (not renewed for 1.5 s" in str(err.value)
    assert "nothing was rolled back" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "failed"
    assert journal["steps"][restore]["status"] == "failed" and "lost lease" in journal["steps"][restore]["error"]
    steps = [s.id for s in rehearsal.loaded(path).steps]
    assert {journal["steps"][s]["status"] for s in steps[steps.index(restore) + 1:]} == {"pending"}
    assert {v["status"] for v in journal["rollback"].values()} == {"pending"}
    assert any("not renewed" in m and "touches nothing more" in m for m in _messages(rehearsal))


def _failed_restore_then(rehearsal, path, during_first_rollback_step) -> list[str]:
    restore = rehearsal.step(path, "restore-dump")
    rehearsal.stage.inject("exec", step=restore, error=StepFailed("the exec stream broke"))
    rollback = [s.id for s in rehearsal.loaded(path).rollback]
    rehearsal.stage.at_step(rollback[0], during_first_rollback_step)
    return rollback


def test_a_lease_taken_during_the_rollback_stops_it_at_once(rehearsal, fast_renewals):
    """The restore fails, the rollback starts; during its first step another apply takes the lease
    (force-unlock and a new apply): the rollback stops at once instead of putting its safety dump into
    a cluster the new holder now works on."""
    path = rehearsal.plan()

    def taken_over() -> None:
        current = rehearsal.kube.get_lease(NS, NAME)
        current["spec"]["holderIdentity"] = OTHER
        rehearsal.kube.replace_lease(NS, current)
        time.sleep(5)  # the renewer notices within 50 ms and stops us here
    rollback = _failed_restore_then(rehearsal, path, taken_over)
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 6
    assert f"lost lease {NAME} during the rollback (taken over by {OTHER})" in str(err.value)
    assert "the rollback stopped there" in str(err.value)
    assert "finish with `pgrestore rollback PLAN`" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rolling-back"
    assert {journal["rollback"][s]["status"] for s in rollback} == {"pending"}
    assert _holder(rehearsal.kube) == OTHER  # not deleted by our release: it is not ours


def test_the_rollback_checks_the_lease_before_each_step(rehearsal, fast_renewals):
    """The renewer is stuck in a call the API server does not answer, so it cannot tell us anything; our
    own view still says that after the renew deadline the lease may be another's: the rollback stops
    before its next step."""
    path = rehearsal.plan()

    def renewer_stuck_and_a_long_step() -> None:
        rehearsal.stage.inject("get_lease", where=_taking(5.0, only=_from_renewer), error=StepFailed("never"))
        time.sleep(2.0)
    rollback = _failed_restore_then(rehearsal, path, renewer_stuck_and_a_long_step)
    with pytest.raises(ApplyFailedRollbackIncomplete) as err:
        rehearsal.apply(path)
    assert f"lost lease {NAME} before step {rollback[1]} (not renewed for 1.5 s" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rolling-back"
    assert journal["rollback"][rollback[0]]["status"] == "done"
    assert {journal["rollback"][s]["status"] for s in rollback[1:]} == {"pending"}


class SlowLeases:
    """The lease calls of a FakeKube, with an API server slow to answer the renewer's reads."""

    def __init__(self, kube, delay: float):
        self.kube, self.delay, self.in_flight = kube, delay, threading.Event()

    def get_lease(self, ns, name):
        if threading.current_thread().name == "lease-renew":
            self.in_flight.set()
            time.sleep(self.delay)
        return self.kube.get_lease(ns, name)

    def create_lease(self, ns, body):
        return self.kube.create_lease(ns, body)

    def replace_lease(self, ns, body):
        return self.kube.replace_lease(ns, body)

    def delete_lease(self, ns, name):
        return self.kube.delete_lease(ns, name)


def test_release_waits_for_a_renewal_under_way_so_no_renewal_outlives_it(rehearsal, fast_renewals):
    """Finding A: a renewal mid-call when apply ends (exit 7 at HSM's manual step) ran on while the
    interpreter shut down and the process died of SIGABRT. After release() no renewal thread is left."""
    kube = SlowLeases(rehearsal.kube, delay=0.5)
    lock = lease.Lock(kube, NS, "keycloak", "sha256:" + "0" * 64)  # type: ignore[arg-type]
    lock.acquire(resume=False)
    assert kube.in_flight.wait(5), "a renewal started"
    lock.release()
    assert not [t.name for t in threading.enumerate() if t.name == "lease-renew" and t.is_alive()]
    assert rehearsal.kube.get_lease(NS, NAME) is None


POD_HOLDER = "pod services/pgrestore-apply-keycloak-20261207230000-x7k2p/pid-1"
CHECKSUM = "sha256:" + "1" * 64


def _job_pod_holds(kube, phase: str | None, duration: int = 60) -> None:
    """An in-cluster apply of the plan holds the lease, renewed just now; its pod has `phase` (None: gone)."""
    _other_holds(kube, datetime.now(timezone.utc), duration, holder=POD_HOLDER, lock_id="job-lock-id",
                 checksum=CHECKSUM)
    if phase is not None:
        kube.add({"kind": "Pod", "metadata": {"name": POD_HOLDER.split("/")[1], "namespace": NS},
                  "spec": {"containers": [{"name": "pgrestore", "image": "registry.local/pgrestore:0.2.0"}]},
                  "status": {"phase": phase}})


def test_a_resume_takes_over_at_once_the_lease_of_an_in_cluster_apply_whose_pod_has_ended(rehearsal):
    """Phase Failed: the kubelet says its container has exited; the Job's next pod goes on at once."""
    _job_pod_holds(rehearsal.kube, "Failed")
    lock = lease.Lock(rehearsal.kube, NS, "keycloak", CHECKSUM)
    started = time.monotonic()
    lock.acquire(resume=True)
    try:
        assert time.monotonic() - started < 5, "taken over at once, not after watching the lease for 60 s"
        assert _holder(rehearsal.kube) == lock.identity
    finally:
        lock.release()


def test_the_lease_of_a_pod_that_is_gone_is_taken_only_once_it_stops_renewing(rehearsal, monkeypatch):
    """A gone pod object does not prove its container stopped (a forced delete on a node that stopped
    answering): a resume watches the lease for its whole duration, and a renewal meanwhile keeps it."""
    monkeypatch.setattr(lease, "POLL", 0.2)
    _job_pod_holds(rehearsal.kube, None, duration=2)
    said: list[str] = []
    lock = lease.Lock(rehearsal.kube, NS, "keycloak", CHECKSUM, say=said.append)
    started = time.monotonic()
    lock.acquire(resume=True)
    try:
        assert time.monotonic() - started >= 2, "watched for the lease's duration first"
        assert _holder(rehearsal.kube) == lock.identity and "looks stale; watching it for 2 s" in said[0]
    finally:
        lock.release()

    _job_pod_holds(rehearsal.kube, None, duration=2)
    stop = threading.Event()
    _renewing(rehearsal, timedelta(0), stop)
    try:
        with pytest.raises(LockHeld, match="renewed while we watched it"):
            lease.Lock(rehearsal.kube, NS, "keycloak", CHECKSUM).acquire(resume=True)
    finally:
        stop.set()


def test_the_lease_of_an_in_cluster_apply_whose_pod_runs_is_refused(rehearsal):
    _job_pod_holds(rehearsal.kube, "Running")
    with pytest.raises(LockHeld, match="held by pod services/pgrestore-apply-keycloak"):
        lease.Lock(rehearsal.kube, NS, "keycloak", CHECKSUM).acquire(resume=True)
    assert _holder(rehearsal.kube) == POD_HOLDER


def test_an_in_cluster_apply_names_its_pod_as_the_holder(monkeypatch):
    monkeypatch.setenv("PGRESTORE_POD_NAMESPACE", "services")
    monkeypatch.setenv("PGRESTORE_POD_NAME", "pgrestore-apply-keycloak-1-abcde")
    assert lease.holder_identity().startswith("pod services/pgrestore-apply-keycloak-1-abcde/pid-")


def test_a_resume_waits_for_the_holder_pod_that_is_terminating(rehearsal, monkeypatch):
    """A drained node's pod got SIGTERM: it stops where it is and releases the lease; the Job's next pod,
    made at once, waits for that instead of refusing (and failing the Job)."""
    monkeypatch.setattr(lease, "POLL", 0.2)
    _job_pod_holds(rehearsal.kube, "Running")
    pod = rehearsal.kube.obj("Pod", NS, POD_HOLDER.split("/")[1])
    rehearsal.kube.delete_pod(NS, pod["metadata"]["name"])  # deletionTimestamp: terminating

    def stops() -> None:
        time.sleep(1.0)
        rehearsal.kube.delete_lease(NS, NAME)  # its SIGTERM handler released the lease, then it exited
        rehearsal.kube.objects.pop(("Pod", NS, pod["metadata"]["name"]))
    threading.Thread(target=stops, daemon=True).start()
    said: list[str] = []
    lock = lease.Lock(rehearsal.kube, NS, "keycloak", CHECKSUM, say=said.append)
    lock.acquire(resume=True)
    try:
        assert _holder(rehearsal.kube) == lock.identity
        assert said == [f"lease holder pod services/{pod['metadata']['name']} is terminating; waiting for it to "
                        f"stop (at most {lease.TERMINATING_WAIT} s)"]
    finally:
        lock.release()
