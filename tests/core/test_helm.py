"""core/helm.py reads Helm v3 release Secrets made the way Helm makes them (helm/helm v3
pkg/storage/driver/secrets.go newSecretsObject, util.go encodeRelease): built here by hand, with
gzip and base64 in the test, not with the module's own encoder."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from pgrestore.core import helm
from pgrestore.errors import PgRestoreError
from tests.fakes.fake_kube import FakeKube

NS, CLUSTER = "services", "keycloak-postgres"

POSTGRESQL = """apiVersion: acid.zalan.do/v1
kind: postgresql
metadata:
  name: keycloak-postgres
  labels:
    app.kubernetes.io/name: cray-keycloak
spec:
  teamId: keycloak
  numberOfInstances: 3
  volume: {size: %s}
  users: {service_account: []}
  databases: {service_db: service_account}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: cray-keycloak
spec:
  ports: [{port: 8080}]
"""


def manifest(size: str = "10Gi", cluster_doc: str = POSTGRESQL) -> str:
    return (f"---\n# Source: cray-keycloak/templates/service.yaml\n{SERVICE}"
            f"---\n# Source: cray-keycloak/templates/postgresql.yaml\n{cluster_doc % size}")


def helm_secret(release: str, revision: int, status: str, text: str, gzipped: bool = True,
                ns: str = NS, kind: str = helm.RELEASE_TYPE) -> dict:
    body = json.dumps({"name": release, "namespace": ns, "version": revision,
                       "info": {"status": status, "description": "Upgrade complete"},
                       "chart": {"metadata": {"name": release, "version": f"3.{revision}.0"}},
                       "config": {"keycloak": {"adminPassword": "not-for-the-plan"}},
                       "manifest": text}).encode()
    helm_value = base64.b64encode(gzip.compress(body) if gzipped else body)
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": f"sh.helm.release.v1.{release}.v{revision}", "namespace": ns,
                         "labels": {"owner": "helm", "name": release, "status": status, "version": str(revision)}},
            # Kubernetes' own base64 of the Secret's bytes, as the API returns data.
            "data": {"release": base64.b64encode(helm_value).decode()}}


def world(*secrets: dict) -> FakeKube:
    kube = FakeKube()
    for s in secrets:
        kube.add(s)
    return kube


def test_the_deployed_revision_is_read_not_the_superseded_one():
    kube = world(helm_secret("cray-keycloak", 1, "superseded", manifest("5Gi")),
                 helm_secret("cray-keycloak", 2, "deployed", manifest("10Gi")))
    search = helm.find_postgresql(kube, NS, CLUSTER)
    assert search.found is not None
    assert search.found.release.secret == "sh.helm.release.v1.cray-keycloak.v2"
    assert search.found.release.revision == 2 and search.found.release.chart == "cray-keycloak-3.2.0"
    assert search.found.resource["spec"]["volume"] == {"size": "10Gi"}


def test_the_resource_is_placed_and_marked_as_helm_applies_it():
    kube = world(helm_secret("cray-keycloak", 2, "deployed", manifest()))
    found = helm.find_postgresql(kube, NS, CLUSTER).found
    assert found is not None
    meta = found.resource["metadata"]
    assert meta["namespace"] == NS
    assert meta["annotations"] == {"meta.helm.sh/release-name": "cray-keycloak",
                                   "meta.helm.sh/release-namespace": NS}
    assert meta["labels"] == {"app.kubernetes.io/name": "cray-keycloak", "app.kubernetes.io/managed-by": "Helm"}
    assert "adminPassword" not in json.dumps(found.resource)  # chart values stay behind


def test_a_failed_upgrade_leaves_the_previous_revision_as_the_one_deployed():
    kube = world(helm_secret("cray-keycloak", 2, "deployed", manifest("10Gi")),
                 helm_secret("cray-keycloak", 3, "failed", manifest("20Gi")))
    found = helm.find_postgresql(kube, NS, CLUSTER).found
    assert found is not None and found.release.revision == 2


def test_a_release_stored_before_compression_is_read_too():
    kube = world(helm_secret("cray-keycloak", 1, "deployed", manifest(), gzipped=False))
    assert helm.find_postgresql(kube, NS, CLUSTER).found is not None


def test_other_releases_and_undecodable_ones_are_passed_over():
    broken = helm_secret("cray-broken", 1, "deployed", manifest())
    broken["data"]["release"] = base64.b64encode(b"H4sI-not-gzip").decode()
    kube = world(helm_secret("cray-keycloak-gatekeeper", 4, "deployed", f"---\n{SERVICE}"), broken,
                 helm_secret("cray-keycloak", 2, "deployed", manifest()))
    search = helm.find_postgresql(kube, NS, CLUSTER)
    assert search.found is not None and search.found.release.name == "cray-keycloak"
    assert search.skipped == 1


def test_no_release_renders_the_cluster():
    kube = world(helm_secret("cray-keycloak-gatekeeper", 4, "deployed", f"---\n{SERVICE}"),
                 helm_secret("cray-keycloak", 2, "deployed", manifest(cluster_doc=POSTGRESQL.replace(CLUSTER, "x"))))
    search = helm.find_postgresql(kube, NS, CLUSTER)
    assert search.found is None and search.releases == 2


def test_releases_of_another_namespace_are_not_read():
    kube = world(helm_secret("cray-keycloak", 2, "deployed", manifest(), ns="other"))
    assert helm.find_postgresql(kube, NS, CLUSTER).found is None


def test_a_preferred_release_is_read_first_and_wins():
    other = helm_secret("cray-keycloak-copy", 1, "deployed", manifest("1Gi"))
    kube = world(other, helm_secret("cray-keycloak", 2, "deployed", manifest()))
    found = helm.find_postgresql(kube, NS, CLUSTER, prefer=["cray-keycloak"]).found
    assert found is not None and found.release.name == "cray-keycloak"


def test_two_releases_rendering_the_cluster_are_refused_by_name():
    kube = world(helm_secret("cray-keycloak-copy", 1, "deployed", manifest("1Gi")),
                 helm_secret("cray-keycloak", 2, "deployed", manifest()))
    with pytest.raises(PgRestoreError) as e:
        helm.find_postgresql(kube, NS, CLUSTER)
    message = str(e.value)
    assert "sh.helm.release.v1.cray-keycloak.v2" in message and "sh.helm.release.v1.cray-keycloak-copy.v1" in message
    assert "--postgresql-spec" in message and "\n" not in message


@pytest.mark.parametrize("stored, why", [
    ("not base64!", "not base64"),
    (base64.b64encode(b"also not base64!").decode(), "Helm's layer not base64"),
    (base64.b64encode(base64.b64encode(b"\x1f\x8b\x08truncated")).decode(), "a cut gzip stream"),
    (base64.b64encode(base64.b64encode(b"[1, 2]")).decode(), "JSON, but not a release"),
])
def test_a_secret_that_is_not_a_release_is_named_in_one_line(stored, why):
    with pytest.raises(helm.HelmError) as e:
        helm.decode_release(stored, "services/sh.helm.release.v1.x.v1")
    assert "services/sh.helm.release.v1.x.v1" in str(e.value) and "\n" not in str(e.value), why


def test_the_module_encodes_as_it_decodes():
    release = {"name": "r", "version": 1, "manifest": "---\nkind: X\n"}
    stored = base64.b64encode(helm.encode_release(release).encode()).decode()
    assert helm.decode_release(stored, "x") == release


def test_a_manifest_that_is_not_yaml_says_where():
    with pytest.raises(helm.HelmError) as e:
        list(helm.documents("a: [unclosed\n", "spec.yaml"))
    assert str(e.value).startswith("spec.yaml is not valid YAML")
