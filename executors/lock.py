"""The apply lock: a coordination.k8s.io/v1 Lease `pgrestore-<service>`, renewed while running.

A second apply is refused with who holds the lock. After a crash the lease expires on
its own; `apply --resume` on the same machine may take over at once from a process that
is provably dead; `force-unlock` removes it by its lock id.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone

from core.adapters.kube import Kube
from core.errors import LockHeld, UsageError

DURATION = 60
RENEW_EVERY = 15
CHECKSUM_KEY, LOCK_ID_KEY = "pgrestore.dev/plan-checksum", "pgrestore.dev/lock-id"


def lease_name(service: str) -> str:
    return f"pgrestore-{service}"


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def holder_identity() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}/pid-{os.getpid()}"


def _holder_dead_here(holder: str) -> bool:
    """True only if the holder ran on this machine and its process is gone."""
    try:
        who, pid = holder.rsplit("/pid-", 1)
    except ValueError:
        return False
    return who.split("@", 1)[-1] == socket.gethostname() and not os.path.exists(f"/proc/{int(pid)}")


class Lock:
    def __init__(self, kube: Kube, namespace: str, service: str, plan_checksum: str):
        self.kube, self.ns, self.name, self.checksum = kube, namespace, lease_name(service), plan_checksum
        self.identity, self.lock_id = holder_identity(), str(uuid.uuid4())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False  # set when another holder took the lease: the engine stops before its next step

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
        if self.kube.create_lease(self.ns, self._body()):
            return self._start_renewing()
        current = self.kube.get_lease(self.ns, self.name)
        if current is None:  # released between our create and read
            return self.acquire(resume)
        spec = current.get("spec") or {}
        ann = current["metadata"].get("annotations") or {}
        renewed = _parse(spec.get("renewTime") or spec.get("acquireTime") or "1970-01-01T00:00:00Z")
        expired = renewed + timedelta(seconds=spec.get("leaseDurationSeconds") or DURATION) < datetime.now(timezone.utc)
        holder = spec.get("holderIdentity", "")
        ours_crashed = resume and ann.get(CHECKSUM_KEY) == self.checksum and _holder_dead_here(holder)
        if not (expired or ours_crashed):
            raise LockHeld(
                f"lease {self.ns}/{self.name} is held by {spec.get('holderIdentity')} since {spec.get('acquireTime')} "
                f"(plan {ann.get(CHECKSUM_KEY, '?')[:19]}…, lock id {ann.get(LOCK_ID_KEY)}); wait for it to finish, "
                f"or if that apply is dead: pgrestore force-unlock <service> {ann.get(LOCK_ID_KEY)}")
        if not self.kube.replace_lease(self.ns, self._body(current)):
            raise LockHeld(f"lease {self.ns}/{self.name} was taken by another apply just now; try again")
        self._start_renewing()

    def _start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew, daemon=True, name="lease-renew")
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            try:
                current = self.kube.get_lease(self.ns, self.name)
                if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
                    self.lost = True  # force-unlocked or taken over
                    return
                current["spec"]["renewTime"] = _micro(datetime.now(timezone.utc))
                if not self.kube.replace_lease(self.ns, current):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a missed renewal is retried; expiry is 4 renewals away
                continue

    def release(self) -> None:
        self._stop.set()
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
