"""Pod predicates the waits share."""

from __future__ import annotations


def ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def live(pods: list[dict]) -> list[dict]:
    """Pods of a running workload: not finishing, not finished, not a Job's.

    Client selectors also match Job pods (keycloak-setup carries
    app.kubernetes.io/instance=cray-keycloak), which must not count.
    """
    return [p for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not any(o.get("kind") == "Job" for o in p["metadata"].get("ownerReferences") or [])]


def selector(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def spilo_selector(cluster: str) -> str:
    return f"application=spilo,cluster-name={cluster}"


def leader_ready(pods: list[dict], cluster: str) -> bool:
    return any(p["metadata"]["name"] == f"{cluster}-0" and ready(p)
               and (p["metadata"].get("labels") or {}).get("spilo-role") == "master" for p in live(pods))
