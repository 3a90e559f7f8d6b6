"""A recorded world after `sandbox break --how delete-cluster`, with the Helm v3 release Secrets
that a `helm install` and one `helm upgrade` of the chart leave (helm/helm v3
pkg/storage/driver/secrets.go, util.go): revision 1 superseded, revision 2 deployed.

The operator's Delete took the resource, its pods and its credential secrets; the chart's
backup CronJob, the client and its jobs stay. Built here with gzip and base64 by hand, not with
core/helm.py, so the planner's decoding is tested against Helm's format, not against itself.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json

import yaml

NS, CLUSTER, RELEASE = "services", "keycloak-postgres", "cray-keycloak"


def rendered(world: dict) -> dict:
    """The postgresql resource as the chart renders it: no namespace, no server fields, no status."""
    pg = next(o for o in world["objects"] if o["kind"] == "postgresql" and o["metadata"]["name"] == CLUSTER)
    meta = {"name": CLUSTER, "labels": {k: v for k, v in pg["metadata"].get("labels", {}).items()
                                        if k != "app.kubernetes.io/managed-by"}}
    return {"apiVersion": pg["apiVersion"], "kind": "postgresql", "metadata": meta, "spec": copy.deepcopy(pg["spec"])}


def manifest(*docs: dict) -> str:
    return "".join(f"---\n# Source: {RELEASE}/templates/{d['kind'].lower()}.yaml\n{yaml.safe_dump(d, sort_keys=False)}"
                   for d in docs)


def release_secret(release: str, revision: int, status: str, text: str, stamp: str) -> dict:
    body = {"name": release, "namespace": NS, "version": revision,
            "info": {"first_deployed": "2023-11-02T14:21:05Z", "last_deployed": stamp, "status": status,
                     "description": "Install complete" if revision == 1 else "Upgrade complete"},
            "chart": {"metadata": {"name": release, "version": f"5.0.{revision}", "apiVersion": "v2"}},
            "config": {"keycloak": {"masterPassword": "chart-values-are-not-plan-material"}},
            "manifest": text}
    helm_value = base64.b64encode(gzip.compress(json.dumps(body).encode(), compresslevel=9))
    uid = f"4e1a{revision:04d}-0000-4000-8000-{hashlib.sha256(release.encode()).hexdigest()[:12]}"
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{revision}", "namespace": NS,
                         "uid": uid,
                         "resourceVersion": f"4900{revision:04d}", "creationTimestamp": stamp,
                         "labels": {"name": release, "owner": "helm", "status": status, "version": str(revision)}},
            "data": {"release": base64.b64encode(helm_value).decode()}}


def cluster_gone(world: dict) -> dict:
    """The world without the cluster's resource and credential secrets, with the release Secrets."""
    out = copy.deepcopy(world)
    doc = rendered(world)
    older = copy.deepcopy(doc)
    older["spec"]["volume"] = {"size": "5Gi"}  # the chart before the upgrade grew it
    out["objects"] = [o for o in world["objects"] if not _of_cluster(o)] + [
        release_secret(RELEASE, 1, "superseded", manifest(older), "2023-11-02T14:21:05Z"),
        release_secret(RELEASE, 2, "deployed", manifest(doc), "2024-03-05T09:12:38Z"),
        release_secret("cray-keycloak-gatekeeper-ingress", 2, "deployed",
                       manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gatekeeper"}}),
                       "2024-03-05T09:13:00Z"),
    ]
    out["databases"] = {}
    return out


def _of_cluster(o: dict) -> bool:
    if o["kind"] == "postgresql":
        return o["metadata"]["name"] == CLUSTER
    return (o["kind"] == "Secret" and o["metadata"]["name"].endswith(f".{CLUSTER}.credentials")
            and (o["metadata"].get("labels") or {}).get("cluster-name") == CLUSTER)
