"""The plan key: a random 32-byte value in the Secret `pgrestore-plan-key` of each service's namespace.

`plan` signs every plan with it (HMAC-SHA256 over the canonical plan, pgrestore/contract/document.py) and
creates it if the namespace has none; `apply`, `rollback` and `show --verify` read it from the
cluster and refuse a plan whose signature does not verify. So a plan edited after review is
refused even when its author recomputed a plain checksum: forging one needs `get` on this Secret,
the privilege apply's own ServiceAccount has (deploy/rbac.yaml), not what a reviewer of the JSON has.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from typing import Any

from pgrestore.errors import Conflict, PlanRejected

SECRET = "pgrestore-plan-key"
KEY_BYTES = 32
DATA_KEY = "key"
LABELS = {"app.kubernetes.io/managed-by": "pgrestore", "app.kubernetes.io/component": "plan-key"}


def _key_of(secret: dict | None, ns: str) -> bytes | None:
    """The key a Secret holds; None if there is no Secret; refused if it holds no 32-byte key."""
    if secret is None:
        return None
    try:
        key = base64.b64decode((secret.get("data") or {}).get(DATA_KEY) or "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise PlanRejected(f"Secret {ns}/{SECRET} holds no {KEY_BYTES}-byte `{DATA_KEY}`; delete it and re-run "
                           f"`pgrestore plan`, which makes a new one (plans signed with the old key are refused)")
    return key


def body(ns: str, key: bytes) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET, "namespace": ns, "labels": dict(LABELS)},
            "data": {DATA_KEY: base64.b64encode(key).decode()}}


def ensure(kube: Any, ns: str) -> bytes:
    """`plan`'s key for namespace ns: the Secret's, or a new one it creates. A concurrent `plan`
    that created it first wins (Conflict), and its key is the one used."""
    key = _key_of(kube.read_secret(ns, SECRET), ns)
    if key is not None:
        return key
    try:
        kube.create_secret(ns, body(ns, secrets.token_bytes(KEY_BYTES)))
    except Conflict:
        pass
    key = _key_of(kube.read_secret(ns, SECRET), ns)
    if key is None:  # deleted between our create and read: nothing sane to sign with
        raise PlanRejected(f"Secret {ns}/{SECRET} vanished right after it was created; re-run `pgrestore plan`")
    return key


def refuse_another_cluster(planned: dict, live: dict) -> None:
    """A plan made for one cluster (its recorded `cluster`) is refused on another (`cluster_identity()`)."""
    if live["kube_system_uid"] != planned.get("kube_system_uid"):
        raise PlanRejected(f"plan is for cluster {planned.get('server')} (kube-system uid "
                           f"{planned.get('kube_system_uid')}), but the kubeconfig points at {live['server']} "
                           f"(uid {live['kube_system_uid']}); use that cluster's kubeconfig or re-plan")


class ClusterKeys:
    """namespace -> plan key, read (never created) from the cluster the kubeconfig points at, each once.

    Called with the plan's recorded cluster: a plan for another cluster is refused as such (the
    message apply gave before plans were signed), not as a bad signature."""

    def __init__(self, kube: Callable[[], Any]):
        self._connect = kube
        self._kube: Any = None
        self._live: dict = {}
        self._keys: dict[str, bytes] = {}

    def __call__(self, ns: str, cluster: dict) -> bytes:
        if self._kube is None:
            self._kube = self._connect()
            self._live = self._kube.cluster_identity()
        live = self._live
        refuse_another_cluster(cluster, live)
        if ns not in self._keys:
            key = _key_of(self._kube.read_secret(ns, SECRET), ns)
            if key is None:
                raise PlanRejected(f"cannot verify the plan's signature: cluster {live['server']} has no Secret "
                                   f"{ns}/{SECRET} (`pgrestore plan` creates it); re-run `pgrestore plan` and "
                                   f"review the new plan")
            self._keys[ns] = key
        return self._keys[ns]


def fixed(key: bytes) -> Callable[[str, dict], bytes]:
    """The same key for every namespace: for tests and golden plans, which need a fixed key."""
    return lambda ns, cluster: key
