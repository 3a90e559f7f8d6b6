"""Pod predicates, and finding the Patroni leader: a fact of the cluster, never "pod 0"."""

from __future__ import annotations

import json

from pgrestore.adapters.kube import Kube
from pgrestore.core.observe import spilo_selector
from pgrestore.errors import StepFailed


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


def all_ready(pods: list[dict], n: int) -> bool:
    members = live(pods)
    return len(members) == n and all(ready(p) for p in members)


def name(pod: dict) -> str:
    return pod["metadata"]["name"]


def leader(pods: list[dict]) -> dict | None:
    """The one live, Ready member that Patroni labelled spilo-role=master (Spilo's
    callback_role.py sets it on whichever member holds the leader key)."""
    masters = [p for p in live(pods) if (p["metadata"].get("labels") or {}).get("spilo-role") == "master"]
    return masters[0] if len(masters) == 1 and ready(masters[0]) else None


def leader_from_patroni(kube: Kube, ns: str, pods: list[dict], deadline: float | None) -> str | None:
    """Ask Patroni itself (`patronictl list -f json`) when the labels do not say."""
    for pod in [p for p in live(pods) if ready(p)]:
        res = kube.exec(ns, name(pod), "postgres", ["patronictl", "list", "-f", "json"], deadline=deadline)
        if res.returncode != 0:
            continue
        try:
            members = json.loads(res.stdout)
        except ValueError:
            continue
        leaders = [m.get("Member") for m in members if m.get("Role") == "Leader"]
        if len(leaders) == 1:
            return str(leaders[0])
    return None


def find_leader(kube: Kube, ns: str, cluster: str, deadline: float | None = None) -> str:
    pods = kube.list_pods(ns, spilo_selector(cluster))
    found = leader(pods)
    if found is not None:
        return name(found)
    via_patroni = leader_from_patroni(kube, ns, pods, deadline)
    if via_patroni is None:
        raise StepFailed(f"no Patroni leader among the pods of {ns}/{cluster} (no single Ready pod labelled "
                         f"spilo-role=master, and patronictl names none)")
    return via_patroni


def wait_leader(kube: Kube, ns: str, cluster: str, timeout: float) -> str:
    """Wait for a Ready leader and return its pod name."""
    pods = kube.wait_pods(ns, spilo_selector(cluster), lambda ps: leader(ps) is not None,
                          f"a Ready Patroni leader of {cluster}", timeout)
    found = leader(pods)
    assert found is not None  # the wait returned because there is one
    return name(found)
