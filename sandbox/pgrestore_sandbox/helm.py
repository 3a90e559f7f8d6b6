"""Helm v3 release Secrets for each seeded service, as `helm install` then `helm upgrade` leave them.

Helm v3's default storage driver (helm/helm v3 pkg/storage/driver/secrets.go, util.go; see
core/helm.py) keeps one Secret per revision in the release's namespace. An install Creates
revision 1 (labels createdAt, name, owner, status=deployed, version=1); an upgrade Creates
revision 2 (createdAt …, status=deployed) and Updates revision 1 to status=superseded, with
fresh labels (modifiedAt instead of createdAt: Update starts from an empty label set).

Each release holds what the chart rendered: the cluster's `postgresql` resource (revision 1 from
an older chart with a smaller volume, revision 2 as the sandbox seeds it) and the backup CronJob.
Charts render objects without a namespace; Helm applies them to the release's. The release's
chart carries only its metadata here: nothing reads the templates or files back.
"""

from __future__ import annotations

import base64
import gzip
import json

import yaml
from kubernetes import client

from .cronjobs import chart_cronjob
from .kube import Api, is_conflict
from .services import SandboxService

RELEASE_TYPE = "helm.sh/release.v1"
INSTALLED = "2023-11-02T14:21:05.118211Z"
UPGRADED = "2024-03-05T09:12:38.402917Z"
INSTALLED_EPOCH, UPGRADED_EPOCH = 1698934865, 1709629958


def _encode(release: dict) -> str:
    """Helm's encodeRelease: JSON, gzip at best compression, base64 (Kubernetes adds its own on top)."""
    return base64.b64encode(gzip.compress(json.dumps(release).encode(), compresslevel=9)).decode()


def _chart_version(svc: SandboxService, revision: int) -> tuple[str, str]:
    assert svc.backup is not None
    name, _, version = svc.backup.chart.rpartition("-")
    if revision == 1:  # the chart the system was installed with: one minor version older
        major, minor, _patch = version.split(".")
        version = f"{major}.{max(int(minor) - 1, 0)}.0"
    return name, version


def _rendered_postgresql(svc: SandboxService, revision: int) -> dict:
    doc = svc.postgresql_resource()
    doc["metadata"].pop("namespace", None)
    if revision == 1:
        doc["spec"]["volume"] = {"size": "5Gi"}  # the older chart's default; the upgrade grew it
    return doc


def _rendered_cronjob(svc: SandboxService) -> dict:
    return chart_cronjob(svc)


def manifest(svc: SandboxService, revision: int) -> str:
    """The rendered manifest as Helm stores it: `---` and a `# Source:` comment before each document."""
    name, _ = _chart_version(svc, revision)
    docs = [("postgresql.yaml", _rendered_postgresql(svc, revision)),
            ("postgresql-backup.yaml", _rendered_cronjob(svc))]
    return "".join(f"---\n# Source: {name}/templates/{source}\n{yaml.safe_dump(doc, sort_keys=False)}"
                   for source, doc in docs)


def release(svc: SandboxService, revision: int, status: str) -> dict:
    assert svc.backup is not None
    chart, version = _chart_version(svc, revision)
    return {
        "name": svc.backup.release,
        "info": {"first_deployed": INSTALLED, "last_deployed": INSTALLED if revision == 1 else UPGRADED,
                 "deleted": "", "description": "Install complete" if revision == 1 else "Upgrade complete",
                 "status": status},
        "chart": {"metadata": {"name": chart, "version": version, "apiVersion": "v2", "appVersion": version},
                  "lock": None, "templates": [], "values": {}, "schema": None, "files": []},
        "config": {},
        "manifest": manifest(svc, revision),
        "version": revision,
        "namespace": svc.namespace,
    }


def release_secret(svc: SandboxService, revision: int, status: str, when: str) -> client.V1Secret:
    assert svc.backup is not None
    name = svc.backup.release
    labels = {when: str(INSTALLED_EPOCH if revision == 1 else UPGRADED_EPOCH),
              "name": name, "owner": "helm", "status": status, "version": str(revision)}
    return client.V1Secret(
        metadata=client.V1ObjectMeta(name=f"sh.helm.release.v1.{name}.v{revision}", labels=labels),
        type=RELEASE_TYPE, string_data={"release": _encode(release(svc, revision, status))})


def ensure_releases(api: Api, svc: SandboxService) -> None:
    """Revision 1 superseded, revision 2 deployed: an install followed by one upgrade."""
    if svc.backup is None:
        return
    for secret in (release_secret(svc, 1, "superseded", "modifiedAt"), release_secret(svc, 2, "deployed", "createdAt")):
        try:
            api.core.create_namespaced_secret(svc.namespace, secret)
        except client.ApiException as e:
            if not is_conflict(e):
                raise
