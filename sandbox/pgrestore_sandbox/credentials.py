"""The credential Secrets the operator owns, as postgres-operator v1.8.2 keeps them.

Names and labels: `{username}.{cluster}.credentials` ('_' becomes '-'; CSM's
secret_name_template) with application/cluster-name/team labels (pkg/cluster/k8sres.go).
Sync (pkg/cluster/sync.go syncSecrets/updateSecret) *creates* every secret with a new
random password and, only when it already exists, adopts the password it holds; a secret
whose `username` is not the role gets a new username and a new random password.
"""

from __future__ import annotations

import base64
import secrets as pysecrets
import string

from kubernetes import client

from .kube import Api, is_conflict

SYSTEM_USERS = ("postgres", "standby")


def secret_name(user: str, cluster: str) -> str:
    return f"{user}.{cluster}.credentials".replace("_", "-")


def cluster_users(spec: dict) -> list[str]:
    return [*SYSTEM_USERS, *sorted((spec.get("users") or {}).keys())]


def random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(pysecrets.choice(alphabet) for _ in range(64))


def _decode(sec: client.V1Secret, key: str) -> str:
    return base64.b64decode((sec.data or {}).get(key, "")).decode()


def sync_secrets(api: Api, ns: str, cluster: str, spec: dict) -> dict[str, str]:
    """Create missing secrets, adopt existing ones; returns each user's password."""
    passwords = {}
    for user in cluster_users(spec):
        sname, password = secret_name(user, cluster), random_password()
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=sname, labels={
                "application": "spilo", "cluster-name": cluster, "team": spec.get("teamId", "")}),
            type="Opaque", string_data={"username": user, "password": password})
        try:
            api.core.create_namespaced_secret(ns, body)
            passwords[user] = password
            continue
        except client.ApiException as e:
            if not is_conflict(e):
                raise
        existing = api.core.read_namespaced_secret(sname, ns)
        if _decode(existing, "username") != user:
            # updateSecret: "secret does not contain the role … resetting password".
            api.core.patch_namespaced_secret(sname, ns, {"stringData": {"username": user, "password": password}})
            passwords[user] = password
        else:
            passwords[user] = _decode(existing, "password")
    return passwords


def read_password(api: Api, ns: str, cluster: str, user: str) -> str | None:
    try:
        return _decode(api.core.read_namespaced_secret(secret_name(user, cluster), ns), "password")
    except client.ApiException:
        return None
