"""The `postgresql` resource is gone (`sandbox break keycloak --how delete-cluster`: the operator takes
its pods, data and credential secrets): plan takes the spec from the Helm release Secret the sandbox
seeded as `helm install` + `helm upgrade` leave it, and apply restores the backup into a new cluster."""

from __future__ import annotations

import json

from pgrestore_sandbox import cronjobs
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.services import get_service
from tests.helpers import pods, wait_until

from .conftest import (
    CLUSTER,
    NS,
    client_ready,
    cluster_uid,
    fingerprint,
    make_backup,
    secrets_open_database,
    settings,
    wait_healthy,
)

RELEASE_SECRET = "sh.helm.release.v1.cray-keycloak.v2"


def delete_cluster(sandbox, cli) -> None:
    """The drill, then wait until the operator's Delete is over (pods and secrets gone)."""
    res = cli("sandbox", "break", "keycloak", "--how", "delete-cluster")
    assert res.returncode == 0, res.stderr
    def gone() -> bool:
        core, of_cluster = sandbox.api.core, f"cluster-name={CLUSTER}"
        return (not pods(core, NS, f"application=spilo,{of_cluster}")
                and not core.list_namespaced_secret(NS, label_selector=of_cluster).items)
    wait_until("keycloak-postgres deleted with its pods and secrets", gone, timeout=120)


def test_plan_takes_the_spec_from_the_helm_release_and_apply_restores_the_backup(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    make_backup(sandbox, "psql")
    backed_up, settings_before = fingerprint(sandbox), settings(sandbox)
    delete_cluster(sandbox, cli)

    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "-o", str(plan))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    assert doc["postgresql_source"] == {"kind": "helm", "ref": RELEASE_SECRET}
    create = next(s for s in doc["steps"] if s["kind"] == "create-cluster")
    assert create["params"]["resource"]["spec"]["volume"] == {"size": "10Gi"}  # v2 deployed, not v1's 5Gi
    shown = cli("show", str(plan))
    assert f"postgresql resource is gone: spec from Helm release {RELEASE_SECRET}" in shown.stdout
    assert f"postgresql resource is gone: spec from Helm release `{RELEASE_SECRET}`" in cli(
        "show", str(plan), "--format", "markdown").stdout

    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox) == backed_up
    wait_until("the client Ready with the backup's secrets", lambda: client_ready(sandbox), timeout=90)
    assert secrets_open_database(sandbox)
    assert settings(sandbox) == settings_before
    pg = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER)
    assert pg["metadata"]["annotations"]["meta.helm.sh/release-name"] == "cray-keycloak"


def _world(sandbox) -> dict:
    svc = get_service("keycloak")
    assert svc.backup is not None
    return {"uid": cluster_uid(sandbox), "settings": settings(sandbox),
            "cronjob suspended": bool(cronjobs.get(sandbox.api, NS, svc.backup.name)["spec"].get("suspend")),
            "client pods": sorted(p.metadata.uid for p in pods(sandbox.api.core, NS, "app.kubernetes.io/instance="
                                                                                    "cray-keycloak,app.kubernetes.io/"
                                                                                    "name=cray-keycloak"))}


def test_a_resource_re_created_between_plan_and_apply_makes_it_stale_and_nothing_changes(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    make_backup(sandbox, "psql")
    backed_up = fingerprint(sandbox)
    delete_cluster(sandbox, cli)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak", "-o", str(plan)).returncode == 0

    # Somebody re-creates it (e.g. `helm upgrade` of the chart) before the apply.
    sandbox.api.custom.create_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL,
                                                       get_service("keycloak").postgresql_resource())
    wait_until("the re-created cluster Running", lambda: (sandbox.api.custom.get_namespaced_custom_object(
        CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, CLUSTER).get("status") or {}).get("PostgresClusterStatus") == "Running",
        timeout=120)
    before = _world(sandbox)
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 3, res.stderr
    assert f"postgresql/{NS}/{CLUSTER}: exists now (uid {before['uid']}), it was absent when planned" in res.stderr
    assert _world(sandbox) == before

    # Leave Keycloak as the other tests expect it: a plan of the live (empty) cluster restores the backup.
    again = tmp_path / "again.json"
    assert cli("plan", "keycloak", "-o", str(again)).returncode == 0
    res = cli("apply", str(again), "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox) == backed_up
    wait_healthy(sandbox)
