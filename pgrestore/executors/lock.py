"""The apply lock: a coordination.k8s.io/v1 Lease `pgrestore-<service>`, renewed while running.

Expiry is judged as client-go's leader election judges it (k8s.io/client-go
tools/leaderelection/leaderelection.go, master at 32ce75a7, 2026-07: tryAcquireOrRenew and
isLeaseValid): never by comparing the holder's renewTime with THIS machine's clock, which may be
ahead of the holder's (an admin node 45 s ahead took over a live apply), but by how long WE have
watched the lease record unchanged, on our own monotonic clock: observedTime + leaseDuration.

- A second apply is refused at once while the record looks renewed (renewTime within its duration
  by our clock: a wrong clock makes us refuse, never take over). A record that looks stale is
  watched: if it changes, its holder is alive and we refuse; if it stays unchanged for its full
  leaseDurationSeconds, its holder has stopped renewing and we take it over (a conditional
  replace, so two takers cannot both win).
- `apply --resume` on the same machine takes over at once from a holder that is provably dead
  (its pid is gone) and ran the same plan; `force-unlock` removes the lease by its lock id.
- The holder counts the lease lost when a renewal finds it taken or deleted, or when no renewal has
  succeeded for RENEW_DEADLINE (< DURATION, as client-go requires RenewDeadline < LeaseDuration):
  by then another apply that watched our record may be about to take over. The engine checks
  `held()` before every step, forward and rollback, and while a step runs `stop_when_lost` has the
  renewer interrupt it at once (SIGUSR1 to the main thread, raising the engine's LockLost there).
- The renewer is a non-daemon thread that release() stops and joins, and that stops by itself
  once the main thread has finished: no renewal is ever under way while the interpreter shuts
  down (a daemon thread mid-HTTPS call then made a clean exit 7 end in SIGABRT).
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from pgrestore.adapters.kube import Kube
from pgrestore.contract.model import Target, cancel_configmap_name, lease_name
from pgrestore.errors import LockHeld, PgRestoreError, UsageError

DURATION = 60        # leaseDurationSeconds we write: how long others watch our record before taking it
RENEW_EVERY = 15     # seconds between renewals (client-go's RetryPeriod)
RENEW_DEADLINE = 40  # no successful renewal for this long: we may have lost the lease, stop before the next step
POLL = 2.0           # seconds between reads while watching another holder's stale record
TERMINATING_WAIT = 90  # how long a resume waits for the holder's terminating pod (the Job's grace period: 60 s)
TICK = 0.5           # how often the renewer looks at its stop flag and the main thread
JOIN_TIMEOUT = 10.0  # release() waits this long for a renewal under way before deleting the lease
CHECKSUM_KEY, LOCK_ID_KEY = "pgrestore.dev/plan-checksum", "pgrestore.dev/lock-id"


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Set by an in-cluster apply's Job from the downward API (core/apply_job.py): the pod we run in.
POD_ENV = ("PGRESTORE_POD_NAMESPACE", "PGRESTORE_POD_NAME")


def holder_identity() -> str:
    namespace, pod = (os.environ.get(k) for k in POD_ENV)
    if namespace and pod:
        return f"pod {namespace}/{pod}/pid-{os.getpid()}"
    return f"{getpass.getuser()}@{socket.gethostname()}/pid-{os.getpid()}"


def _holder_state(kube: Kube, holder: str, say: Callable[[str], None]) -> str:
    """`ended` only if the holder is known to have stopped: a process of this machine that is gone, or an
    in-cluster apply whose pod is in phase Succeeded or Failed (a kubelet reports those only once the
    container has exited). `gone`: its pod object is gone, which does not prove its container stopped (a
    forced delete of a pod on a node that stopped answering). `alive` otherwise. While the holder's pod is
    terminating (a drained node: the Job makes the next pod at once), wait for it to end."""
    try:
        who, pid = holder.rsplit("/pid-", 1)
    except ValueError:
        return "alive"
    if not (who.startswith("pod ") and who.count("/") == 1):
        here = who.split("@", 1)[-1] == socket.gethostname()
        return "ended" if here and not os.path.exists(f"/proc/{int(pid)}") else "alive"
    namespace, name = who.removeprefix("pod ").split("/")
    waited_from, announced = time.monotonic(), False
    while True:
        pod = kube.read(Target("Pod", namespace, name))
        if pod is None:  # after a graceful delete the kubelet removes the pod once its containers stopped
            return "ended" if announced else "gone"
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return "ended"
        if not pod["metadata"].get("deletionTimestamp") or time.monotonic() - waited_from > TERMINATING_WAIT:
            return "alive"
        if not announced:
            say(f"lease holder pod {namespace}/{name} is terminating; waiting for it to stop (at most "
                f"{TERMINATING_WAIT} s)")
            announced = True
        time.sleep(POLL / 2)


def _record(lease: dict) -> tuple:
    """What tells one version of the record from the next (client-go compares the raw record)."""
    spec = lease.get("spec") or {}
    return (lease["metadata"].get("resourceVersion"), spec.get("holderIdentity"), spec.get("renewTime"),
            spec.get("acquireTime"), spec.get("leaseTransitions"))


def _duration(lease: dict) -> float:
    return float((lease.get("spec") or {}).get("leaseDurationSeconds") or DURATION)


class Lock:
    def __init__(self, kube: Kube, namespace: str, service: str, plan_checksum: str,
                 say: Callable[[str], None] = lambda text: None):
        self.kube, self.ns, self.name, self.checksum = kube, namespace, lease_name(service), plan_checksum
        self.service = service
        self.took_over: str | None = None  # the lock id of a stopped holder we took the lease from
        self.identity, self.lock_id = holder_identity(), str(uuid.uuid4())
        self.say = say  # what acquire waits for, and a lease lost while running
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at = 0.0  # time.monotonic() when our last successful write was sent
        self.lost: str | None = None  # why we no longer hold the lease (taken, deleted, not renewed)
        self._on_lost: Callable[[], None] | None = None  # set by stop_when_lost
        self._on_lost_lock = threading.Lock()

    # -- holding -----------------------------------------------------------------------------
    def held(self) -> bool:
        """Our own view: not lost, and renewed recently enough that nobody can have taken it over.
        Judged here, not only by the renewer, so a renewer stuck in a call cannot hide a loss."""
        if self.lost is None and time.monotonic() - self._renewed_at >= RENEW_DEADLINE:
            self._lose(f"not renewed for {RENEW_DEADLINE} s (the API server did not answer)")
        return self.lost is None

    def _lose(self, why: str) -> None:
        if self.lost is not None:
            return
        self.lost = why
        self.say(f"lost lease {self.ns}/{self.name}: {why}; the apply stops here and touches nothing more")
        if threading.current_thread() is not threading.main_thread():
            with self._on_lost_lock:
                if self._on_lost is not None:
                    self._on_lost()

    @contextmanager
    def stop_when_lost(self, error: Callable[[str], BaseException]) -> Iterator[None]:
        """While inside, a loss the renewer finds raises error(why) in the main thread at once, also
        mid-step (a signal interrupts a blocking read). Outside, only the checks before each step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            raise error(self.lost or "lost")
        before = signal.signal(signal.SIGUSR1, handler)
        main = threading.main_thread().ident
        assert main is not None
        with self._on_lost_lock:
            self._on_lost = lambda: signal.pthread_kill(main, signal.SIGUSR1)
        try:
            yield
        finally:
            with self._on_lost_lock:  # no signal can come once this is None: the default would kill us
                self._on_lost = None
            signal.signal(signal.SIGUSR1, before)

    # -- acquiring ---------------------------------------------------------------------------
    def _body(self, existing: dict | None = None) -> dict:
        now = datetime.now(timezone.utc)
        body = existing or {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                            "metadata": {"name": self.name, "namespace": self.ns}}
        body["metadata"].setdefault("annotations", {})
        body["metadata"]["annotations"].update({CHECKSUM_KEY: self.checksum, LOCK_ID_KEY: self.lock_id})
        body["spec"] = {"holderIdentity": self.identity, "leaseDurationSeconds": DURATION,
                        "acquireTime": _micro(now), "renewTime": _micro(now),
                        "leaseTransitions": ((existing or {}).get("spec") or {}).get("leaseTransitions", 0) + 1}
        return body

    def acquire(self, resume: bool) -> None:
        sent = time.monotonic()
        if self.kube.create_lease(self.ns, self._body()):
            return self._start_renewing(sent)
        current = self.kube.get_lease(self.ns, self.name)
        if current is None:  # released between our create and read
            return self.acquire(resume)
        spec = current.get("spec") or {}
        ann = current["metadata"].get("annotations") or {}
        holder = spec.get("holderIdentity", "")
        state = _holder_state(self.kube, holder, self.say) if resume and ann.get(CHECKSUM_KEY) == self.checksum \
            else "alive"
        if state == "ended":  # a terminating holder may have released or renewed it while we waited
            latest = self.kube.get_lease(self.ns, self.name)
            if latest is None or (latest.get("spec") or {}).get("holderIdentity") != holder:
                return self.acquire(resume)
            current = latest
        elif state == "gone":  # not proof that it stopped: taken only if it does not renew
            current = self._watch_unchanged(current)
        else:
            self._refuse_if_renewed(current)
            current = self._watch_unchanged(current)
        if resume and ann.get(CHECKSUM_KEY) == self.checksum:  # going on with that apply: a cancel asked of it
            self.took_over = ann.get(LOCK_ID_KEY)                # is asked of us
        sent = time.monotonic()
        if not self.kube.replace_lease(self.ns, self._body(current)):  # conditional: its resourceVersion
            raise LockHeld(f"lease {self.ns}/{self.name} was taken by another apply just now; try again")
        self._start_renewing(sent)

    def _held_by(self, lease: dict) -> str:
        spec, ann = lease.get("spec") or {}, lease["metadata"].get("annotations") or {}
        return (f"lease {self.ns}/{self.name} is held by {spec.get('holderIdentity')} since {spec.get('acquireTime')} "
                f"(plan {ann.get(CHECKSUM_KEY, '?')[:19]}…, lock id {ann.get(LOCK_ID_KEY)})")

    def _what_to_do(self, lease: dict) -> str:
        lock_id = (lease["metadata"].get("annotations") or {}).get(LOCK_ID_KEY)
        return (f"wait for it to finish, or if that apply is dead: pgrestore force-unlock "
                f"<service> {lock_id}")

    def _refuse_if_renewed(self, lease: dict) -> None:
        """A record that looks renewed by our clock is refused at once. Only a refusal is decided by
        comparing clocks: a wrong clock may make us refuse a dead holder, never take over a live one."""
        spec = lease.get("spec") or {}
        renewed = _parse(spec.get("renewTime") or spec.get("acquireTime") or "1970-01-01T00:00:00Z")
        age = (datetime.now(timezone.utc) - renewed).total_seconds()
        if age < _duration(lease):
            raise LockHeld(f"{self._held_by(lease)}, renewed {max(0, round(age))} s ago by its own clock; "
                           f"{self._what_to_do(lease)}")

    def _watch_unchanged(self, lease: dict) -> dict:
        """Take a stale record only after watching it unchanged for its full duration on our monotonic
        clock (client-go: observedTime + leaseDuration); any change means its holder is renewing."""
        seen, duration = _record(lease), _duration(lease)
        holder = (lease.get("spec") or {}).get("holderIdentity")
        self.say(f"lease {self.ns}/{self.name} of {holder} looks stale; watching it for {duration:g} s before "
                 f"taking it over (a live holder renews it meanwhile)")
        observed = time.monotonic()
        while time.monotonic() - observed < duration:
            time.sleep(min(POLL, max(0.0, duration - (time.monotonic() - observed))))
            now = self.kube.get_lease(self.ns, self.name)
            if now is None:
                raise LockHeld(f"lease {self.ns}/{self.name} was released while we watched it; try again")
            if _record(now) != seen:
                raise LockHeld(f"{self._held_by(now)}, renewed while we watched it: that apply is alive; "
                               f"{self._what_to_do(now)}")
        return lease

    # -- renewing ----------------------------------------------------------------------------
    def _start_renewing(self, sent: float) -> None:
        self._renewed_at = sent
        # Not a daemon: the interpreter never shuts down under a renewal in flight (see the module doc).
        self._thread = threading.Thread(target=self._renew, daemon=False, name="lease-renew")
        self._thread.start()

    def _renew(self) -> None:
        next_at = time.monotonic() + RENEW_EVERY
        while not self._stop.wait(TICK) and threading.main_thread().is_alive():
            if time.monotonic() < next_at:
                continue
            next_at = time.monotonic() + RENEW_EVERY
            if not self._renew_once():
                return
            if time.monotonic() - self._renewed_at >= RENEW_DEADLINE:
                self._lose(f"not renewed for {RENEW_DEADLINE} s (the API server did not answer)")
                return

    def _renew_once(self) -> bool:
        """False when the lease is no longer ours. A failed call is retried at the next renewal,
        until RENEW_DEADLINE says we may have lost it."""
        sent = time.monotonic()
        try:
            current = self.kube.get_lease(self.ns, self.name)
            spec = (current or {}).get("spec") or {}
            if current is None or spec.get("holderIdentity") != self.identity:
                self._lose("deleted (force-unlock)" if current is None else
                           f"taken over by {spec.get('holderIdentity')}")
                return False
            if self._stop.is_set():
                return False
            current["spec"]["renewTime"] = _micro(datetime.now(timezone.utc))
            if not self.kube.replace_lease(self.ns, current):
                self._lose("changed by another apply")
                return False
        except Exception:  # noqa: BLE001 - a missed renewal is retried; held() turns false after RENEW_DEADLINE
            return True
        self._renewed_at = sent
        return True

    def cancel_requested(self) -> str | None:
        """Why to stop, if `pgrestore cancel` asked the apply holding this lease (our lock id) to."""
        try:
            request = ((self.kube.get_configmap(self.ns, cancel_configmap_name(self.service))
                        or {}).get("data") or {})
        except PgRestoreError:  # not readable now (after the adapter's retries): looked at again next step
            return None
        if not request.get("lock_id") or request.get("lock_id") not in (self.lock_id, self.took_over):
            return None
        return f"cancelled by {request.get('requested_by', 'someone')} at {request.get('requested_at', '?')}"

    def release(self) -> None:
        """Stop the renewer and wait for a renewal under way, then delete the lease if still ours."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)
        current = self.kube.get_lease(self.ns, self.name)
        if current and (current.get("spec") or {}).get("holderIdentity") == self.identity:
            self.kube.delete_lease(self.ns, self.name)


def force_unlock(kube: Kube, namespace: str, service: str, lock_id: str) -> str:
    current = kube.get_lease(namespace, lease_name(service))
    if current is None:
        raise UsageError(f"no lease {namespace}/{lease_name(service)}: {service} is not locked")
    actual = (current["metadata"].get("annotations") or {}).get(LOCK_ID_KEY)
    if actual != lock_id:
        raise UsageError(f"lease {namespace}/{lease_name(service)} has lock id {actual}, not {lock_id}; "
                         f"check that you are unlocking the apply you mean")
    kube.delete_lease(namespace, lease_name(service))
    holder = (current.get("spec") or {}).get("holderIdentity")
    return f"removed lease {namespace}/{lease_name(service)} held by {holder}"


def request_cancel(kube: Kube, namespace: str, service: str, requested_by: str) -> str:
    """Ask the apply that holds the service's lease to stop before its next step and roll back: by its
    lock id, so a later apply or a resume of the same plan is never cancelled by this request."""
    current = kube.get_lease(namespace, lease_name(service))
    if current is None:
        raise UsageError(f"no apply of {service} is running (no lease {namespace}/{lease_name(service)}); "
                         f"nothing to cancel")
    lock_id = (current["metadata"].get("annotations") or {}).get(LOCK_ID_KEY) or ""
    holder = (current.get("spec") or {}).get("holderIdentity")
    kube.upsert_configmap(namespace, cancel_configmap_name(service), {
        "lock_id": lock_id, "requested_by": requested_by,
        "requested_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        labels={"app.kubernetes.io/managed-by": "pgrestore"})
    return (f"asked the apply of {service} held by {holder} (lock id {lock_id}) to stop before its next step "
            f"and roll back; `pgrestore attach {service}` or `pgrestore status {service}` shows how it ends")
