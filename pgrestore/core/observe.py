"""What of a live object a plan records, computed the same way when planning and when
checking freshness at apply time.

Identity (uid) and the fields a restore depends on: replicas, selectors,
numberOfInstances, the postgresql spec, secret usernames and keyed password digests.
Never resourceVersion or status: a crash-looping client moves those every few seconds,
and a plan must not go stale for that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from pgrestore.contract.model import PriorObject, Target

SPILO_LABELS = "application=spilo"


def digest(salt: str, value: str) -> str:
    """Keyed digest of a secret value: comparable within one plan, useless elsewhere."""
    return "hmac-sha256:" + hmac.new(bytes.fromhex(salt), value.encode(), hashlib.sha256).hexdigest()


def spilo_selector(cluster: str) -> str:
    return f"{SPILO_LABELS},cluster-name={cluster}"


def selector_string(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def secret_value(obj: dict, key: str) -> str:
    return base64.b64decode((obj.get("data") or {}).get(key, "")).decode(errors="replace")


def fields_of(kind: str, obj: dict, salt: str) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if kind == "postgresql":
        return {"numberOfInstances": spec.get("numberOfInstances"), "spec": spec}
    if kind == "Secret":
        password = secret_value(obj, "password")
        return {"username": secret_value(obj, "username"), "password_digest": digest(salt, password)}
    if kind == "Job":
        return {}
    if kind == "CronJob":
        return {"suspend": bool(spec.get("suspend")), "schedule": spec.get("schedule")}
    selector = dict((spec.get("selector") or {}).get("matchLabels") or {})
    if kind == "DaemonSet":
        return {"selector": selector}
    return {"replicas": spec.get("replicas"), "selector": selector}


def observe(target: Target, obj: dict, salt: str) -> PriorObject:
    return PriorObject(address=target.address, kind=target.kind, namespace=target.namespace, name=target.name,
                       uid=obj["metadata"]["uid"], fields=fields_of(target.kind, obj, salt))
